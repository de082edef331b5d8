#pragma once
// Arguments of the pair feature kernels, pair_feature_forward<F> and pair_feature_backward<F>, where F
// is a pair feature type (backend/pair_feature.hpp): n pairs of rows a[i], b[i] of width d.
#include <cstddef>

namespace siamese::backend {

/// Writes F of rows a[i], b[i] into out[i * ld ...] (F::width<d> columns).
struct PairFeatureArgs {
  const float* a;
  const float* b;
  float* out;
  std::size_t ld;
  std::size_t n, d;
};

/// Adds F's gradient with respect to a and b, given dout (the gradient at out, stride ld), into da, db.
struct PairFeatureGradArgs {
  const float* a;
  const float* b;
  const float* dout;
  std::size_t ld;
  float* da;
  float* db;
  std::size_t n, d;
};

}  // namespace siamese::backend
