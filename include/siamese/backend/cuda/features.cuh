#pragma once
// backend::Cuda's pair features of a Siamese head: element-wise ones one thread per element, the
// scalar ones (cosine, Euclidean distance) one thread per pair.
#include <cstddef>

#include "../kinds.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

/// Reference's floor for squared norms.
inline constexpr double feature_eps = 1e-12;

template <class X>
struct FeatureOps {
  static bool scalar(PairFeature f) { return f == PairFeature::Cosine || f == PairFeature::Euclidean; }

  /// The feature of rows a[i], b[i] (width d) into out[i * ld ...] (d columns, or 1 for scalars).
  static void pair_feature_forward(PairFeature f, const float* a, const float* b, float* out, std::size_t ld,
                                   std::size_t n, std::size_t d) {
    if (scalar(f)) {
      X::launch("pair_feature_forward", n, [=] __host__ __device__(std::size_t i) {
        const float *x = a + i * d, *z = b + i * d;
        double xx = 0, zz = 0, xz = 0, dd = 0;
        for (std::size_t j = 0; j < d; ++j) {
          xx += double(x[j]) * x[j];
          zz += double(z[j]) * z[j];
          xz += double(x[j]) * z[j];
          dd += double(x[j] - z[j]) * (x[j] - z[j]);
        }
        out[i * ld] = f == PairFeature::Cosine
                          ? float(xz / (::sqrt(max_of(xx, feature_eps)) * ::sqrt(max_of(zz, feature_eps))))
                          : float(::sqrt(dd + feature_eps));
      });
      return;
    }
    if (d == 0) return;
    X::launch("pair_feature_forward", n * d, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / d, j = e % d;
      const float p = a[e], q = b[e];
      float v;
      switch (f) {
        case PairFeature::SqDiff: v = (p - q) * (p - q); break;
        case PairFeature::DiffSq: v = p * p - q * q; break;
        case PairFeature::AbsDiff: v = ::fabsf(p - q); break;
        case PairFeature::AbsDiffSq: v = ::fabsf((p - q) * (p + q)); break;
        default: v = p * q; break;
      }
      out[i * ld + j] = v;
    });
  }

  /// Adds the feature's gradient with respect to a and b into da and db.
  static void pair_feature_backward(PairFeature f, const float* a, const float* b, const float* dout,
                                    std::size_t ld, float* da, float* db, std::size_t n, std::size_t d) {
    if (scalar(f)) {
      X::launch("pair_feature_backward", n, [=] __host__ __device__(std::size_t i) {
        const float *x = a + i * d, *z = b + i * d;
        const float g = dout[i * ld];
        float *gx = da + i * d, *gz = db + i * d;
        if (f == PairFeature::Cosine) {
          double xx = 0, zz = 0, xz = 0;
          for (std::size_t j = 0; j < d; ++j) {
            xx += double(x[j]) * x[j];
            zz += double(z[j]) * z[j];
            xz += double(x[j]) * z[j];
          }
          const double nx = ::sqrt(max_of(xx, feature_eps)), nz = ::sqrt(max_of(zz, feature_eps));
          const double cs = xz / (nx * nz);
          for (std::size_t j = 0; j < d; ++j) {
            gx[j] += float(g * (z[j] / (nx * nz) - cs * x[j] / (nx * nx)));
            gz[j] += float(g * (x[j] / (nx * nz) - cs * z[j] / (nz * nz)));
          }
          return;
        }
        double dd = 0;
        for (std::size_t j = 0; j < d; ++j) dd += double(x[j] - z[j]) * (x[j] - z[j]);
        const double dist = ::sqrt(dd + feature_eps);
        for (std::size_t j = 0; j < d; ++j) {
          const float t = float(g * (x[j] - z[j]) / dist);
          gx[j] += t;
          gz[j] -= t;
        }
      });
      return;
    }
    if (d == 0) return;
    X::launch("pair_feature_backward", n * d, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / d, j = e % d;
      const float p = a[e], q = b[e], o = dout[i * ld + j];
      switch (f) {
        case PairFeature::SqDiff:
          da[e] += 2 * (p - q) * o;
          db[e] -= 2 * (p - q) * o;
          break;
        case PairFeature::DiffSq:
          da[e] += 2 * p * o;
          db[e] -= 2 * q * o;
          break;
        case PairFeature::AbsDiff: {
          const float s = p > q ? 1.0f : p < q ? -1.0f : 0.0f;
          da[e] += s * o;
          db[e] -= s * o;
          break;
        }
        case PairFeature::AbsDiffSq: {
          const float v = (p - q) * (p + q), s = v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f;
          da[e] += 2 * p * s * o;
          db[e] -= 2 * q * s * o;
          break;
        }
        default:
          da[e] += q * o;
          db[e] += p * o;
          break;
      }
    });
  }
};

}  // namespace siamese::backend::detail_cuda
