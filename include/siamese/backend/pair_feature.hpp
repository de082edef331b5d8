#pragma once
// What a pair feature type is (the features of a Head: SqDiff, Cosine, ... in model/features.hpp, or a
// user's own). A feature is a struct with its name and its arithmetic, written once as constexpr
// function templates over a lane type V (float, double, or an xsimd batch of floats), so that every
// backend runs the same definition: Reference on floats and doubles, Cpu on SIMD lanes, Cuda in device
// threads (nvcc, with the --expt-relaxed-constexpr that backend::Cuda requires, compiles constexpr
// functions for the device, and only the instantiations that device code uses). Two kinds:
//
//   struct MyFeature : ElementwiseFeature {        // width D: column j from a[j], b[j] alone
//     static constexpr const char* name = "MyFeature";        // in model signatures: keep it stable
//     template <class V> static constexpr V forward(V p, V q);
//     template <class V> static constexpr PairGrad<V> backward(V p, V q, V g);  // {dL/dp, dL/dq}
//   };
//   struct MyDistance : RowFeature {               // width 1: a function of sums over the row
//     static constexpr const char* name = "MyDistance";
//     static constexpr std::size_t sums = K, coefs = C;
//     template <class V> static constexpr void terms(V p, V q, V* t);            // the K terms of element j
//     template <class T> static constexpr T value(const T* s);                    // the feature from the K sums
//     template <class T> static constexpr void coefficients(const T* s, T g, T* c);  // C per-row factors
//     template <class V> static constexpr PairGrad<V> backward(V p, V q, const V* c);  // at element j
//   };
//
// Beside + - * /, the arithmetic may use siamese::lanes::abs, sqrt and sign. Row sums are accumulated in
// double (Reference, Cuda) or in float lanes summed in double (Cpu); T is double.
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <type_traits>

namespace siamese {

/// The gradient of one element of a feature with respect to a[j] (a) and b[j] (b).
template <class V>
struct PairGrad {
  V a, b;
};

/// Base of a feature computed element by element: D columns for embeddings of width D.
struct ElementwiseFeature {
  template <std::size_t D>
  static constexpr std::size_t width = D;
};
/// Base of a feature computed from sums over the whole row (a distance, a cosine): one column.
struct RowFeature {
  template <std::size_t D>
  static constexpr std::size_t width = 1;
};

/// Lane functions the features use beside + - * /: for float and double (host and device) and for
/// the xsimd batches of backend::Cpu (host).
namespace lanes {
template <std::floating_point T>
constexpr T abs(T v) {
  if constexpr (std::is_same_v<T, float>) return ::fabsf(v);
  else return ::fabs(v);
}
template <std::floating_point T>
constexpr T sqrt(T v) {
  if constexpr (std::is_same_v<T, float>) return ::sqrtf(v);
  else return ::sqrt(v);
}
/// -1, 0 or 1 (0 for NaN).
template <std::floating_point T>
constexpr T sign(T v) {
  return v > T(0) ? T(1) : v < T(0) ? T(-1) : T(0);
}
template <class A>
xsimd::batch<float, A> abs(const xsimd::batch<float, A>& v) {
  return xsimd::abs(v);
}
template <class A>
xsimd::batch<float, A> sqrt(const xsimd::batch<float, A>& v) {
  return xsimd::sqrt(v);
}
template <class A>
xsimd::batch<float, A> sign(const xsimd::batch<float, A>& v) {
  using B = xsimd::batch<float, A>;
  return xsimd::select(v > B(0.0f), B(1.0f), xsimd::select(v < B(0.0f), B(-1.0f), B(0.0f)));
}
}  // namespace lanes

namespace detail {
template <class F>
concept NamedFeature = requires {
  { F::name } -> std::convertible_to<const char*>;
};
}  // namespace detail

/// An element-wise pair feature (see the top of this header).
template <class F>
concept ElementwisePairFeature = std::is_base_of_v<ElementwiseFeature, F> && detail::NamedFeature<F> &&
                                 requires(float p, double r) {
                                   { F::forward(p, p) } -> std::same_as<float>;
                                   { F::backward(p, p, p) } -> std::same_as<PairGrad<float>>;
                                   { F::backward(r, r, r) } -> std::same_as<PairGrad<double>>;
                                 };
/// A pair feature reduced over the row (see the top of this header).
template <class F>
concept RowPairFeature = std::is_base_of_v<RowFeature, F> && detail::NamedFeature<F> &&
                         requires(double p, double* s, const double* cs, float f, float* t, const float* cf) {
                           { F::sums } -> std::convertible_to<std::size_t>;
                           { F::coefs } -> std::convertible_to<std::size_t>;
                           F::terms(p, p, s);
                           F::terms(f, f, t);
                           { F::value(cs) } -> std::convertible_to<double>;
                           F::coefficients(cs, p, s);
                           { F::backward(p, p, cs) } -> std::same_as<PairGrad<double>>;
                           { F::backward(f, f, cf) } -> std::same_as<PairGrad<float>>;
                         };
/// Any pair feature a Head accepts.
template <class F>
concept PairFeatureType = ElementwisePairFeature<F> || RowPairFeature<F>;

}  // namespace siamese
