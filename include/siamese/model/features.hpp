#pragma once
// The pair features a Head combines two embeddings a, b with. Each is a type: its name (part of a
// model's signature, so saved weight files keep loading), its width and its arithmetic, defined once
// for every backend (backend/pair_feature.hpp says what a feature must provide; a user's own feature
// follows the same form).
#include <cstddef>

#include "../backend/pair_feature.hpp"

namespace siamese {

/// (a - b)^2, element-wise.
struct SqDiff : ElementwiseFeature {
  static constexpr const char* name = "SqDiff";
  template <class V>
  static constexpr V forward(V p, V q) {
    return (p - q) * (p - q);
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, V g) {
    const V t = 2.0f * (p - q) * g;
    return {t, -t};
  }
};

/// a^2 - b^2, element-wise; not symmetric in a and b (AbsDiffSq is). Computed as (a - b)(a + b),
/// exactly 0 when a == b.
struct DiffSq : ElementwiseFeature {
  static constexpr const char* name = "DiffSq";
  template <class V>
  static constexpr V forward(V p, V q) {
    return (p - q) * (p + q);
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, V g) {
    return {2.0f * p * g, -(2.0f * q * g)};
  }
};

/// |a - b|, element-wise.
struct AbsDiff : ElementwiseFeature {
  static constexpr const char* name = "AbsDiff";
  template <class V>
  static constexpr V forward(V p, V q) {
    return lanes::abs(p - q);
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, V g) {
    const V t = lanes::sign(p - q) * g;
    return {t, -t};
  }
};

/// |a^2 - b^2|, element-wise: the symmetric form of DiffSq.
struct AbsDiffSq : ElementwiseFeature {
  static constexpr const char* name = "AbsDiffSq";
  template <class V>
  static constexpr V forward(V p, V q) {
    return lanes::abs((p - q) * (p + q));
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, V g) {
    const V s = lanes::sign((p - q) * (p + q));
    return {2.0f * p * s * g, -(2.0f * q * s * g)};
  }
};

/// a * b, element-wise.
struct Product : ElementwiseFeature {
  static constexpr const char* name = "Product";
  template <class V>
  static constexpr V forward(V p, V q) {
    return p * q;
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, V g) {
    return {q * g, p * g};
  }
};

/// cos(a, b), one column; squared norms are floored at 1e-12.
struct Cosine : RowFeature {
  static constexpr const char* name = "Cosine";
  static constexpr double eps = 1e-12;
  static constexpr std::size_t sums = 3, coefs = 3;  // a.a, b.b, a.b
  template <class V>
  static constexpr void terms(V p, V q, V* t) {
    t[0] = p * p;
    t[1] = q * q;
    t[2] = p * q;
  }
  template <class T>
  static constexpr T value(const T* s) { return s[2] / (norm(s[0]) * norm(s[1])); }
  /// d cos / da = b / (|a||b|) - cos a / |a|^2 (and symmetrically), times the incoming gradient g.
  template <class T>
  static constexpr void coefficients(const T* s, T g, T* c) {
    const T na = norm(s[0]), nb = norm(s[1]), cs = s[2] / (na * nb);
    c[0] = g / (na * nb);
    c[1] = g * cs / (na * na);
    c[2] = g * cs / (nb * nb);
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, const V* c) {
    return {c[0] * q - c[1] * p, c[0] * p - c[2] * q};
  }

 private:
  template <class T>
  static constexpr T norm(T ss) {
    return lanes::sqrt(ss < T(eps) ? T(eps) : ss);
  }
};

/// ||a - b||, one column (sqrt(|a - b|^2 + 1e-12), differentiable at a == b).
struct Euclidean : RowFeature {
  static constexpr const char* name = "Euclidean";
  static constexpr double eps = 1e-12;
  static constexpr std::size_t sums = 1, coefs = 1;
  template <class V>
  static constexpr void terms(V p, V q, V* t) {
    t[0] = (p - q) * (p - q);
  }
  template <class T>
  static constexpr T value(const T* s) { return lanes::sqrt(s[0] + eps); }
  template <class T>
  static constexpr void coefficients(const T* s, T g, T* c) { c[0] = g / lanes::sqrt(s[0] + eps); }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, const V* c) {
    const V t = c[0] * (p - q);
    return {t, -t};
  }
};

}  // namespace siamese
