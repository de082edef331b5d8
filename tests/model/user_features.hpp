#pragma once
// Pair features a user might define: the form of backend/pair_feature.hpp, outside the library.
#include <siamese/model/features.hpp>

namespace user {

/// (a + b)^2, element-wise: a symmetric "how large together" feature.
struct SqSum : siamese::ElementwiseFeature {
  static constexpr const char* name = "SqSum";
  template <class V>
  static constexpr V forward(V p, V q) {
    return (p + q) * (p + q);
  }
  template <class V>
  static constexpr siamese::PairGrad<V> backward(V p, V q, V g) {
    const V t = 2.0f * (p + q) * g;
    return {t, t};
  }
};

/// sum_j |a_j - b_j|, the Manhattan distance: one column from one row sum.
struct Manhattan : siamese::RowFeature {
  static constexpr const char* name = "Manhattan";
  static constexpr std::size_t sums = 1, coefs = 1;
  template <class V>
  static constexpr void terms(V p, V q, V* t) {
    t[0] = siamese::lanes::abs(p - q);
  }
  template <class T>
  static constexpr T value(const T* s) { return s[0]; }
  template <class T>
  static constexpr void coefficients(const T*, T g, T* c) { c[0] = g; }
  template <class V>
  static constexpr siamese::PairGrad<V> backward(V p, V q, const V* c) {
    const V t = c[0] * siamese::lanes::sign(p - q);
    return {t, -t};
  }
};

static_assert(siamese::ElementwisePairFeature<SqSum> && siamese::RowPairFeature<Manhattan>);

}  // namespace user
