#pragma once
// What a pair feature type is (the features of a Head: SqDiff, Cosine, ... in model/features.hpp, or a
// user's own). A feature is a struct with its name and its arithmetic, written once over a lane type V
// (float, double, or an xsimd batch of floats) and marked SIAMESE_HD, so that every backend (Reference,
// Cpu's SIMD lanes, Cuda's device threads) runs the same definition. Two kinds:
//
//   struct MyFeature : ElementwiseFeature {        // width D: column j from a[j], b[j] alone
//     static constexpr const char* name = "MyFeature";        // in model signatures: keep it stable
//     template <class V> SIAMESE_HD static V forward(V p, V q);
//     template <class V> SIAMESE_HD static PairGrad<V> backward(V p, V q, V g);  // {dL/dp, dL/dq}
//   };
//   struct MyDistance : RowFeature {               // width 1: a function of sums over the row
//     static constexpr const char* name = "MyDistance";
//     static constexpr std::size_t sums = K, coefs = C;
//     template <class V> SIAMESE_HD static void terms(V p, V q, V* t);    // t[0..K): the row sums' terms
//     SIAMESE_HD static double value(const double* s);                   // the feature from the K sums
//     SIAMESE_HD static void coefficients(const double* s, double g, double* c);  // C per-row factors
//     template <class V> SIAMESE_HD static PairGrad<V> backward(V p, V q, const V* c);  // at element j
//   };
//
// Row sums are accumulated in double (Reference, Cuda) or in float lanes summed in double (Cpu).
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <type_traits>

/// Marks a function callable from host and device code: __host__ __device__ under nvcc, nothing
/// elsewhere. Pair features need it so that one definition serves every backend.
#if defined(__CUDACC__)
#define SIAMESE_HD __host__ __device__
#else
#define SIAMESE_HD
#endif

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
/// the xsimd batches of backend::Cpu.
namespace lanes {
SIAMESE_HD inline float abs(float v) { return ::fabsf(v); }
SIAMESE_HD inline double abs(double v) { return ::fabs(v); }
SIAMESE_HD inline float sqrt(float v) { return ::sqrtf(v); }
SIAMESE_HD inline double sqrt(double v) { return ::sqrt(v); }
/// -1, 0 or 1 (0 for NaN).
SIAMESE_HD inline float sign(float v) { return v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : 0.0f; }
SIAMESE_HD inline double sign(double v) { return v > 0.0 ? 1.0 : v < 0.0 ? -1.0 : 0.0; }
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
