#pragma once
// Pair features of backend::Cpu: the columns a Head builds from two embeddings a, b (n rows of width
// d), and their gradients; each feature type's own arithmetic run on SIMD lanes along the embedding,
// threaded across pairs for large batches. RowDots serves the losses.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../args/features.hpp"
#include "../kinds.hpp"
#include "../pair_feature.hpp"
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

/// s[k] = the sum over the row of F's k-th term: float lanes, summed in double with the tail.
template <class F>
void feature_sums(const float* x, const float* z, std::size_t d, double* s) {
  Vec acc[F::sums], t[F::sums];
  for (std::size_t k = 0; k < F::sums; ++k) acc[k] = Vec(0.0f);
  std::size_t j = 0;
  for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw) {
    F::terms(Vec::load_unaligned(x + j), Vec::load_unaligned(z + j), static_cast<Vec*>(t));
    for (std::size_t k = 0; k < F::sums; ++k) acc[k] += t[k];
  }
  for (std::size_t k = 0; k < F::sums; ++k) s[k] = xsimd::hadd(acc[k]);
  double r[F::sums];
  for (; j < d; ++j) {
    F::terms(double(x[j]), double(z[j]), static_cast<double*>(r));
    for (std::size_t k = 0; k < F::sums; ++k) s[k] += r[k];
  }
}

/// gx[j] += grad(x[j], z[j], ...).a and gz[j] += ... .b over a row, where grad takes (Vec, Vec, j) and
/// (float, float, j).
template <class G>
void row_grad(const float* x, const float* z, float* gx, float* gz, std::size_t d, G grad) {
  std::size_t j = 0;
  for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw) {
    const PairGrad<Vec> t = grad(Vec::load_unaligned(x + j), Vec::load_unaligned(z + j), j);
    (Vec::load_unaligned(gx + j) + t.a).store_unaligned(gx + j);
    (Vec::load_unaligned(gz + j) + t.b).store_unaligned(gz + j);
  }
  for (; j < d; ++j) {
    const PairGrad<float> t = grad(x[j], z[j], j);
    gx[j] += t.a;
    gz[j] += t.b;
  }
}
}  // namespace detail

/// The pair feature kernels of backend::Cpu over the kernels of Base: one template per feature type,
/// the element-wise form on SIMD lanes, row features from lane sums.
template <class Base>
struct FeatureKernels : Base {
  template <PairFeatureType F>
  static void pair_feature_forward(const backend::PairFeatureArgs& a) {
    using detail::Vec, detail::vw;
    const std::size_t d = a.d;
    detail::for_ranges(a.n, 16, 3 * a.n * d, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        const float* x = a.a + i * d;
        const float* z = a.b + i * d;
        float* o = a.out + i * a.ld;
        if constexpr (RowPairFeature<F>) {
          double s[F::sums];
          detail::feature_sums<F>(x, z, d, s);
          o[0] = float(F::value(s));
        } else {
          std::size_t j = 0;
          for (const std::size_t body = j + (d - j) / vw * vw; j < body; j += vw)
            F::forward(Vec::load_unaligned(x + j), Vec::load_unaligned(z + j)).store_unaligned(o + j);
          for (; j < d; ++j) o[j] = F::forward(x[j], z[j]);
        }
      }
    });
  }

  template <PairFeatureType F>
  static void pair_feature_backward(const backend::PairFeatureGradArgs& a) {
    using detail::Vec;
    const std::size_t d = a.d;
    detail::for_ranges(a.n, 16, 6 * a.n * d, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        const float* x = a.a + i * d;
        const float* z = a.b + i * d;
        const float* g = a.dout + i * a.ld;
        if constexpr (RowPairFeature<F>) {
          double s[F::sums], c[F::coefs];
          detail::feature_sums<F>(x, z, d, s);
          F::coefficients(s, double(g[0]), c);
          float cf[F::coefs];
          Vec cv[F::coefs];
          for (std::size_t k = 0; k < F::coefs; ++k) {
            cf[k] = float(c[k]);
            cv[k] = Vec(cf[k]);
          }
          detail::row_grad(x, z, a.da + i * d, a.db + i * d, d, [&](auto p, auto q, std::size_t) {
            if constexpr (std::is_same_v<decltype(p), float>) return F::backward(p, q, static_cast<const float*>(cf));
            else return F::backward(p, q, static_cast<const Vec*>(cv));
          });
        } else {
          detail::row_grad(x, z, a.da + i * d, a.db + i * d, d, [&](auto p, auto q, std::size_t j) {
            if constexpr (std::is_same_v<decltype(p), float>) return F::backward(p, q, g[j]);
            else return F::backward(p, q, Vec::load_unaligned(g + j));
          });
        }
      }
    });
  }
};

}  // namespace siamese::cpu
