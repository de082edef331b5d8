#pragma once
// backend::Cuda's pair features of a Siamese head, one kernel template per feature type (its own
// arithmetic, host-device): element-wise features one thread per element, row features (cosine,
// distances) one thread per pair, their sums in double as in backend::Reference.
#include <cstddef>

#include "../args/features.hpp"
#include "../kinds.hpp"
#include "../pair_feature.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

/// Reference's floor for squared norms (the losses' distances).
inline constexpr double feature_eps = 1e-12;

/// s[k] = the sum over the row of F's k-th term, in double.
template <class F>
__host__ __device__ void feature_sums(const float* x, const float* z, std::size_t d, double* s) {
  for (std::size_t k = 0; k < F::sums; ++k) s[k] = 0;
  double t[F::sums];
  for (std::size_t j = 0; j < d; ++j) {
    F::terms(double(x[j]), double(z[j]), t);
    for (std::size_t k = 0; k < F::sums; ++k) s[k] += t[k];
  }
}

template <class X>
struct FeatureOps {
  /// F of rows a[i], b[i] (width d) into out[i * ld ...].
  template <PairFeatureType F>
  static void pair_feature_forward(const PairFeatureArgs& args) {
    const float *a = args.a, *b = args.b;
    float* out = args.out;
    const std::size_t ld = args.ld, d = args.d;
    if constexpr (RowPairFeature<F>) {
      X::launch("pair_feature_forward", args.n, [=] __host__ __device__(std::size_t i) {
        double s[F::sums];
        feature_sums<F>(a + i * d, b + i * d, d, s);
        out[i * ld] = float(F::value(s));
      });
    } else {
      if (d == 0) return;
      X::launch("pair_feature_forward", args.n * d, [=] __host__ __device__(std::size_t e) {
        out[(e / d) * ld + e % d] = F::forward(a[e], b[e]);
      });
    }
  }

  /// Adds F's gradient with respect to a and b into da and db.
  template <PairFeatureType F>
  static void pair_feature_backward(const PairFeatureGradArgs& args) {
    const float *a = args.a, *b = args.b, *dout = args.dout;
    float *da = args.da, *db = args.db;
    const std::size_t ld = args.ld, d = args.d;
    if constexpr (RowPairFeature<F>) {
      X::launch("pair_feature_backward", args.n, [=] __host__ __device__(std::size_t i) {
        const float *x = a + i * d, *z = b + i * d;
        double s[F::sums], c[F::coefs];
        feature_sums<F>(x, z, d, s);
        F::coefficients(s, double(dout[i * ld]), c);
        for (std::size_t j = 0; j < d; ++j) {
          const PairGrad<double> t = F::backward(double(x[j]), double(z[j]), static_cast<const double*>(c));
          da[i * d + j] += float(t.a);
          db[i * d + j] += float(t.b);
        }
      });
    } else {
      if (d == 0) return;
      X::launch("pair_feature_backward", args.n * d, [=] __host__ __device__(std::size_t e) {
        const PairGrad<float> t = F::backward(a[e], b[e], dout[(e / d) * ld + e % d]);
        da[e] += t.a;
        db[e] += t.b;
      });
    }
  }
};

}  // namespace siamese::backend::detail_cuda
