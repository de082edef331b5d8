#pragma once
// erf, the normal CDF and GELU on SIMD batches for backend::Cpu, branch-free: every lane computes both
// ranges of the approximation and selects, so a batch costs the same whatever its values.
//   |z| < 2/3:  erf(z) = z P(z^2)                       (6 terms)
//   |z| >= 2/3: erfc(|z|) = exp(-z^2) Q(|z|/(1+|z|) - 0.4)  (11 terms)
// The coefficients are Boost.SIMD's single-precision erf kernel (as in xsimd's erf). The exponent z^2 is
// carried as a float pair (hi + lo, split by fma), so that exp(-z^2) keeps its relative accuracy where z^2 is
// large: Phi(x) for x < 0 is computed from erfc, never as 1 + erf (which cancels), and GELU's tail keeps a
// small relative error too. Tested against std::erf / std::erfc in double over [-10, 10].
#include <cstddef>
#include <cstring>

#include "parallel.hpp"

namespace siamese::cpu::detail {

// g++ 12 flags the deliberately undefined operands inside its AVX-512 intrinsics (used by xsimd's exp)
// as uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

/// erf(z) / z for |z| < 2/3, from w = z^2.
[[gnu::always_inline]] inline Vec erf_small(const Vec& w) {
  Vec p(-6.095205117313012e-04f);
  p = xsimd::fma(p, w, Vec(5.013293006147870e-03f));
  p = xsimd::fma(p, w, Vec(-2.678010670585737e-02f));
  p = xsimd::fma(p, w, Vec(1.128218315189123e-01f));
  p = xsimd::fma(p, w, Vec(-3.761252839094832e-01f));
  return xsimd::fma(p, w, Vec(1.128379154774254e+00f));
}
/// erfc(t) exp(t^2) for t >= 2/3, from q = t / (1 + t) - 0.4.
[[gnu::always_inline]] inline Vec erfc_scaled(const Vec& q) {
  Vec p(-2.628299919293280e+00f);
  p = xsimd::fma(p, q, Vec(6.702908785399893e+00f));
  p = xsimd::fma(p, q, Vec(-6.409487379234005e+00f));
  p = xsimd::fma(p, q, Vec(3.260765682222576e+00f));
  p = xsimd::fma(p, q, Vec(-1.364514006347145e+00f));
  p = xsimd::fma(p, q, Vec(1.562764709849380e-01f));
  p = xsimd::fma(p, q, Vec(1.420508523645926e-01f));
  p = xsimd::fma(p, q, Vec(3.843569094305250e-01f));
  p = xsimd::fma(p, q, Vec(1.603704761054187e-01f));
  p = xsimd::fma(p, q, Vec(-1.137035586823118e+00f));
  return xsimd::fma(p, q, Vec(5.392844046572836e-01f));
}
/// exp(-(hi + lo)) for a float pair hi + lo, |lo| <= ulp(hi) / 2.
[[gnu::always_inline]] inline Vec exp_neg_pair(const Vec& hi, const Vec& lo) {
  return xsimd::exp(-hi) * (Vec(1.0f) - lo);
}
/// t / (1 + t) - 0.4 for the erfc range, t clamped so that an infinite input gives erfc = 0, not NaN.
[[gnu::always_inline]] inline Vec erfc_arg(const Vec& t) {
  const Vec tc = xsimd::min(t, Vec(12.0f));
  return tc / (Vec(1.0f) + tc) - Vec(0.4f);
}

/// erf(z), about 2e-7 relative (tested against std::erf).
inline Vec erf(const Vec& z) {
  const Vec t = xsimd::abs(z), tc = xsimd::min(t, Vec(12.0f)), hi = tc * tc, lo = xsimd::fms(tc, tc, hi);
  const Vec small = z * erf_small(hi);
  const Vec large = Vec(1.0f) - exp_neg_pair(hi, lo) * erfc_scaled(erfc_arg(t));
  return xsimd::select(t < Vec(2.0f / 3.0f), small, xsimd::select(z < Vec(0.0f), -large, large));
}

/// GELU's pieces at x: Phi(x) (the normal CDF) and phi(x) (its density).
struct NormalCdf {
  Vec cdf, pdf;
};
[[gnu::always_inline]] inline NormalCdf normal_cdf(const Vec& x) {
  const Vec z = x * Vec(0.70710678118654752f), t = xsimd::abs(z);
  // x^2 / 2 as an exact pair: the product split by fma, then halved (exact); |x| clamped to 16, where
  // exp(-x^2 / 2) is already 0 in float, so that an infinite x gives 0 instead of inf - inf
  const Vec xc = xsimd::min(xsimd::abs(x), Vec(16.0f));
  const Vec x2 = xc * xc, hi = x2 * Vec(0.5f), lo = xsimd::fms(xc, xc, x2) * Vec(0.5f);
  const Vec e = exp_neg_pair(hi, lo);                         // exp(-x^2 / 2) = exp(-z^2)
  const Vec half_erfc = Vec(0.5f) * e * erfc_scaled(erfc_arg(t));  // erfc(|z|) / 2
  const Vec central = xsimd::fma(Vec(0.5f) * z, erf_small(z * z), Vec(0.5f));
  const Vec tail = xsimd::select(x < Vec(0.0f), half_erfc, Vec(1.0f) - half_erfc);
  return {xsimd::select(t < Vec(2.0f / 3.0f), central, tail), e * Vec(0.39894228040143268f)};
}
/// gelu(x) = x Phi(x).
[[gnu::always_inline]] inline Vec gelu(const Vec& x) { return x * normal_cdf(x).cdf; }
/// gelu'(x) = Phi(x) + x phi(x); x clamped in the product, where phi is already 0, so that infinities give 1 or 0.
[[gnu::always_inline]] inline Vec gelu_grad(const Vec& x) {
  const NormalCdf p = normal_cdf(x);
  return xsimd::fma(xsimd::max(xsimd::min(x, Vec(16.0f)), Vec(-16.0f)), p.pdf, p.cdf);
}

#pragma GCC diagnostic pop

/// The first m < vw floats at p as a batch, the other lanes zero: row tails run through the SIMD code.
inline Vec load_part(const float* p, std::size_t m) {
  alignas(64) float b[vw] = {};
  std::memcpy(b, p, m * sizeof(float));
  return Vec::load_aligned(b);
}
/// Stores the first m < vw lanes of v at p.
inline void store_part(float* p, const Vec& v, std::size_t m) {
  alignas(64) float b[vw];
  v.store_aligned(b);
  std::memcpy(p, b, m * sizeof(float));
}
/// Lanes below m true.
inline auto lanes_below(std::size_t m) {
  alignas(64) float idx[vw];
  for (std::size_t i = 0; i < vw; ++i) idx[i] = float(i);
  return Vec::load_aligned(idx) < Vec(float(m));
}

/// y[i] = f(x[i]) for i < n through SIMD batches only (the tail as a zero-padded batch), in parallel when large.
template <class F>
void map_vec(const float* x, float* y, std::size_t n, F f) {
  for_ranges((n + vw - 1) / vw, 1024, n, [&](std::size_t b0, std::size_t b1) {
    const std::size_t i1 = std::min(n, b1 * vw);
    std::size_t i = b0 * vw;
    for (; i + vw <= i1; i += vw) f(Vec::load_unaligned(x + i)).store_unaligned(y + i);
    if (i < i1) store_part(y + i, f(load_part(x + i, i1 - i)), i1 - i);
  });
}
template <class F>
void map_vec2(const float* x, const float* z, float* y, std::size_t n, F f) {
  for_ranges((n + vw - 1) / vw, 1024, n, [&](std::size_t b0, std::size_t b1) {
    const std::size_t i1 = std::min(n, b1 * vw);
    std::size_t i = b0 * vw;
    for (; i + vw <= i1; i += vw) f(Vec::load_unaligned(x + i), Vec::load_unaligned(z + i)).store_unaligned(y + i);
    if (i < i1) store_part(y + i, f(load_part(x + i, i1 - i), load_part(z + i, i1 - i)), i1 - i);
  });
}

}  // namespace siamese::cpu::detail
