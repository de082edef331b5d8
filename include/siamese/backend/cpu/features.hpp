#pragma once
// Pair features of backend::Cpu: the columns a Head builds from two embeddings a, b (n rows of width
// d), and their gradients; vectorised along the embedding, threaded across pairs for large batches.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../kinds.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {
inline constexpr double feature_eps = 1e-12;

/// Dot products of two rows: x.x, z.z, x.z and |x - z|^2, in float lanes summed in double.
struct RowDots {
  double xx, zz, xz, dd;
};
inline RowDots row_dots(const float* x, const float* z, std::size_t d) {
  Vec xx(0.0f), zz(0.0f), xz(0.0f), dd(0.0f);
  std::size_t j = 0;
  for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw) {
    const Vec p = Vec::load_unaligned(x + j), q = Vec::load_unaligned(z + j), e = p - q;
    xx = xsimd::fma(p, p, xx);
    zz = xsimd::fma(q, q, zz);
    xz = xsimd::fma(p, q, xz);
    dd = xsimd::fma(e, e, dd);
  }
  RowDots r{xsimd::hadd(xx), xsimd::hadd(zz), xsimd::hadd(xz), xsimd::hadd(dd)};
  for (; j < d; ++j) {
    r.xx += double(x[j]) * x[j];
    r.zz += double(z[j]) * z[j];
    r.xz += double(x[j]) * z[j];
    r.dd += double(x[j] - z[j]) * (x[j] - z[j]);
  }
  return r;
}

/// o[j] = f(x[j], z[j]) for an element-wise feature; f takes (Vec, Vec) and (float, float).
template <class F>
void row_map(const float* x, const float* z, float* o, std::size_t d, F f) {
  std::size_t j = 0;
  for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw)
    f(Vec::load_unaligned(x + j), Vec::load_unaligned(z + j)).store_unaligned(o + j);
  for (; j < d; ++j) o[j] = f(x[j], z[j]);
}

/// gx[j] += fx(x[j], z[j], g[j]) and gz[j] += fz(...), both over (Vec, Vec, Vec) and floats.
template <class FX, class FZ>
void row_grad(const float* x, const float* z, const float* g, float* gx, float* gz, std::size_t d, FX fx, FZ fz) {
  std::size_t j = 0;
  for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw) {
    const Vec p = Vec::load_unaligned(x + j), q = Vec::load_unaligned(z + j), o = Vec::load_unaligned(g + j);
    (Vec::load_unaligned(gx + j) + fx(p, q, o)).store_unaligned(gx + j);
    (Vec::load_unaligned(gz + j) + fz(p, q, o)).store_unaligned(gz + j);
  }
  for (; j < d; ++j) {
    gx[j] += fx(x[j], z[j], g[j]);
    gz[j] += fz(x[j], z[j], g[j]);
  }
}

inline Vec sign(const Vec& v) {
  return xsimd::select(v > Vec(0.0f), Vec(1.0f), xsimd::select(v < Vec(0.0f), Vec(-1.0f), Vec(0.0f)));
}
inline float sign(float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f; }
}  // namespace detail

/// Writes the feature of rows a[i], b[i] (width d) into out[i*ld ...] (d columns, or 1 for scalars).
inline void pair_feature_forward(PairFeature f, const float* a, const float* b, float* out, std::size_t ld,
                                 std::size_t n, std::size_t d) {
  using detail::Vec;
  detail::for_ranges(n, 16, 3 * n * d, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const float* x = a + i * d;
      const float* z = b + i * d;
      float* o = out + i * ld;
      switch (f) {
        case PairFeature::Cosine:
        case PairFeature::Euclidean: {
          const detail::RowDots r = detail::row_dots(x, z, d);
          constexpr double e = detail::feature_eps;
          o[0] = f == PairFeature::Cosine ? float(r.xz / (std::sqrt(std::max(r.xx, e)) * std::sqrt(std::max(r.zz, e))))
                                          : float(std::sqrt(r.dd + e));
          break;
        }
        case PairFeature::SqDiff: detail::row_map(x, z, o, d, [](auto p, auto q) { return (p - q) * (p - q); }); break;
        // (p - q)(p + q) rather than p*p - q*q: exactly 0 when p == q, even when the compiler fuses
        // a product into an FMA.
        case PairFeature::DiffSq: detail::row_map(x, z, o, d, [](auto p, auto q) { return (p - q) * (p + q); }); break;
        case PairFeature::AbsDiff:
          detail::row_map(x, z, o, d, [](auto p, auto q) {
            if constexpr (std::is_same_v<decltype(p), float>) return std::fabs(p - q);
            else return xsimd::abs(p - q);
          });
          break;
        case PairFeature::AbsDiffSq:
          detail::row_map(x, z, o, d, [](auto p, auto q) {
            if constexpr (std::is_same_v<decltype(p), float>) return std::fabs((p - q) * (p + q));
            else return xsimd::abs((p - q) * (p + q));
          });
          break;
        default: detail::row_map(x, z, o, d, [](auto p, auto q) { return p * q; }); break;
      }
    }
  });
}

/// Adds the feature's gradient with respect to a and b into da and db.
inline void pair_feature_backward(PairFeature f, const float* a, const float* b, const float* dout, std::size_t ld,
                                  float* da, float* db, std::size_t n, std::size_t d) {
  detail::for_ranges(n, 16, 6 * n * d, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const float* x = a + i * d;
      const float* z = b + i * d;
      const float* g = dout + i * ld;
      float* gx = da + i * d;
      float* gz = db + i * d;
      switch (f) {
        case PairFeature::Cosine: {
          const detail::RowDots r = detail::row_dots(x, z, d);
          const double nx = std::sqrt(std::max(r.xx, detail::feature_eps));
          const double nz = std::sqrt(std::max(r.zz, detail::feature_eps));
          const double cs = r.xz / (nx * nz);
          // gx = g (z / (nx nz) - cs x / nx^2), gz = g (x / (nx nz) - cs z / nz^2)
          const float s = float(g[0] / (nx * nz)), tx = float(g[0] * cs / (nx * nx)), tz = float(g[0] * cs / (nz * nz));
          detail::row_grad(x, z, g, gx, gz, d, [&](auto p, auto q, auto) { return s * q - tx * p; },
                           [&](auto p, auto q, auto) { return s * p - tz * q; });
          break;
        }
        case PairFeature::Euclidean: {
          const float s = float(g[0] / std::sqrt(detail::row_dots(x, z, d).dd + detail::feature_eps));
          detail::row_grad(x, z, g, gx, gz, d, [&](auto p, auto q, auto) { return s * (p - q); },
                           [&](auto p, auto q, auto) { return s * (q - p); });
          break;
        }
        case PairFeature::SqDiff:
          detail::row_grad(x, z, g, gx, gz, d, [](auto p, auto q, auto o) { return 2.0f * (p - q) * o; },
                           [](auto p, auto q, auto o) { return 2.0f * (q - p) * o; });
          break;
        case PairFeature::DiffSq:
          detail::row_grad(x, z, g, gx, gz, d, [](auto p, auto, auto o) { return 2.0f * p * o; },
                           [](auto, auto q, auto o) { return -2.0f * q * o; });
          break;
        case PairFeature::AbsDiff:
          detail::row_grad(x, z, g, gx, gz, d, [](auto p, auto q, auto o) { return detail::sign(p - q) * o; },
                           [](auto p, auto q, auto o) { return -(detail::sign(p - q) * o); });
          break;
        case PairFeature::AbsDiffSq:
          detail::row_grad(
              x, z, g, gx, gz, d, [](auto p, auto q, auto o) { return 2.0f * p * detail::sign((p - q) * (p + q)) * o; },
              [](auto p, auto q, auto o) { return -(2.0f * q * detail::sign((p - q) * (p + q)) * o); });
          break;
        default:
          detail::row_grad(x, z, g, gx, gz, d, [](auto, auto q, auto o) { return q * o; },
                           [](auto p, auto, auto o) { return p * o; });
          break;
      }
    }
  });
}

}  // namespace siamese::cpu
