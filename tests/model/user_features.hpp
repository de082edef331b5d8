#pragma once
// Pair features a user might define: the form of backend/pair_feature.hpp, outside the library.
#include <siamese/model/features.hpp>

namespace user {

/// (a + b)^2, element-wise: a symmetric "how large together" feature.
struct SqSum : siamese::ElementwiseFeature {
  static constexpr const char* name = "SqSum";
  template <class V>
  SIAMESE_HD static V forward(V p, V q) {
    return (p + q) * (p + q);
  }
  template <class V>
  SIAMESE_HD static siamese::PairGrad<V> backward(V p, V q, V g) {
    const V t = 2.0f * (p + q) * g;
    return {t, t};
  }
};

/// sum_j |a_j - b_j|, the Manhattan distance: one column from one row sum.
struct Manhattan : siamese::RowFeature {
  static constexpr const char* name = "Manhattan";
  static constexpr std::size_t sums = 1, coefs = 1;
  template <class V>
  SIAMESE_HD static void terms(V p, V q, V* t) {
    t[0] = siamese::lanes::abs(p - q);
  }
  SIAMESE_HD static double value(const double* s) { return s[0]; }
  SIAMESE_HD static void coefficients(const double*, double g, double* c) { c[0] = g; }
  template <class V>
  SIAMESE_HD static siamese::PairGrad<V> backward(V p, V q, const V* c) {
    const V t = c[0] * siamese::lanes::sign(p - q);
    return {t, -t};
  }
};

static_assert(siamese::ElementwisePairFeature<SqSum> && siamese::RowPairFeature<Manhattan>);

}  // namespace user
