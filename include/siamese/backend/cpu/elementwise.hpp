#pragma once
// Element-wise kernels of backend::Cpu: copies, arithmetic, biases, activations, dropout and the
// gradient utilities of the optimizers. Vectorised with xsimd, threaded with oneTBB above
// detail::parallel_min floats; every result matches backend::Reference to float rounding. The free
// functions are shared with the other Cpu kernels (convolution, pooling); ElementwiseKernels, at the
// end, makes them Cpu's kernels.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "../../core/random.hpp"
#include "../args/dense.hpp"
#include "../args/elementwise.hpp"
#include "../kinds.hpp"
#include "gelu.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

/// dst = src (n floats); the ranges may overlap.
inline void copy(float* dst, const float* src, std::size_t n) {
  if (dst == src || n == 0) return;
  const bool apart = dst + n <= src || src + n <= dst;
  if (!apart) {
    std::memmove(dst, src, n * sizeof(float));
    return;
  }
  detail::for_ranges(n, 16384, n, [&](std::size_t i0, std::size_t i1) {
    std::memcpy(dst + i0, src + i0, (i1 - i0) * sizeof(float));
  });
}

/// dst[i] = v.
inline void fill(float* dst, float v, std::size_t n) {
  detail::for_ranges(n, 16384, n, [&](std::size_t i0, std::size_t i1) { std::fill(dst + i0, dst + i1, v); });
}

/// y += x
inline void add(float* y, const float* x, std::size_t n) {
  detail::map_binary(y, x, y, n, [](auto a, auto b) { return a + b; });
}

/// y = a * b (element-wise); y may alias a or b.
inline void mul(const float* a, const float* b, float* y, std::size_t n) {
  detail::map_binary(a, b, y, n, [](auto p, auto q) { return p * q; });
}

/// x *= s
inline void scale(float* x, float s, std::size_t n) {
  detail::map_unary(x, x, n, [s](auto v) { return v * s; });
}

/// x = clamp(x, -lim, lim)
inline void clip(float* x, float lim, std::size_t n) {
  detail::map_unary(x, x, n, [lim](auto v) {
    if constexpr (std::is_same_v<decltype(v), float>) return std::clamp(v, -lim, lim);
    else return xsimd::min(detail::Vec(lim), xsimd::max(detail::Vec(-lim), v));  // keeps NaN, as std::clamp
  });
}

/// sum of x[i]^2, in double across blocks.
inline double sum_squares(const float* x, std::size_t n) {
  return detail::sum_reduce(x, x, n, [](auto a, auto) { return a * a; });
}

/// True when every element is finite: x * 0 is 0 for finite x and NaN for an infinity or a NaN.
inline bool all_finite(const float* x, std::size_t n) {
  using detail::Vec, detail::vw;
  constexpr std::size_t block = 4096;
  for (std::size_t i0 = 0; i0 < n; i0 += block) {
    const std::size_t i1 = std::min(n, i0 + block);
    Vec acc(0.0f);
    std::size_t i = i0;
    for (const std::size_t body = i + (i1 - i) / vw * vw; i < body; i += vw)
      acc += Vec::load_unaligned(x + i) * Vec(0.0f);
    float s = xsimd::hadd(acc);
    for (; i < i1; ++i) s += x[i] * 0.0f;
    if (s != 0.0f) return false;
  }
  return true;
}

/// db[c] = sum_r dy[r, c]
inline void bias_grad(const backend::BiasGradArgs& a) {
  detail::column_reduce(a.dy, a.dy, a.cols, a.rows, a.cols, a.db, [](auto v, auto) { return v; });
}

namespace detail {
// g++ 12 flags the deliberately undefined operands inside its AVX-512 intrinsics (used by xsimd's
// exp) as uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
/// sigmoid(x) from e = exp(-|x|), which never overflows: 1/(1+e) for x >= 0, e/(1+e) below.
inline Vec sigmoid(const Vec& x) {
  const Vec e = xsimd::exp(-xsimd::abs(x)), r = Vec(1.0f) / (Vec(1.0f) + e);
  return xsimd::select(x >= Vec(0.0f), r, e * r);
}
#pragma GCC diagnostic pop
inline float sigmoid(float x) {
  return x >= 0 ? 1.0f / (1.0f + std::exp(-x)) : std::exp(x) / (1.0f + std::exp(x));
}
/// act(v) for a Vec or a float.
template <class V>
[[gnu::always_inline]] inline V apply_act(Act a, V v) {
  constexpr bool scalar = std::is_same_v<V, float>;
  switch (a) {
    case Act::ReLU:
      if constexpr (scalar) return v > 0 ? v : 0.0f;
      else return xsimd::max(v, Vec(0.0f));
    case Act::Sigmoid: return sigmoid(v);
    case Act::Tanh:
      if constexpr (scalar) return std::tanh(v);
      else return xsimd::tanh(v);
    case Act::GELU:
      if constexpr (scalar) return gelu(Vec(v)).get(0);
      else return gelu(v);
    default: return v;
  }
}
/// dy * act'(x), written through the output y = act(x), for a Vec or a float. GELU is not among them: its
/// derivative needs x (gelu_grad), and the layers that could fuse it through y (Conv2D) refuse it.
template <class V>
[[gnu::always_inline]] inline V act_grad(Act a, V y, V dy) {
  switch (a) {
    case Act::ReLU:
      if constexpr (std::is_same_v<V, float>) return y > 0 ? dy : 0.0f;
      else return xsimd::select(y > Vec(0.0f), dy, Vec(0.0f));
    case Act::Sigmoid: return dy * (y * (1.0f - y));
    case Act::Tanh: return dy * (1.0f - y * y);
    default: return dy;
  }
}
/// act_grad as a function object over Vec and float, for the column reductions.
struct ActGrad {
  Act act;
  template <class V>
  V operator()(V y, V dy) const {
    return act_grad(act, y, dy);
  }
};
}  // namespace detail

/// y = act(x); x and y may alias.
inline void activation(const backend::ActivationArgs& a) {
  if (a.act == Act::Linear) return copy(a.y, a.x, a.n);
  if (a.act == Act::GELU) return detail::map_vec(a.x, a.y, a.n, [](const detail::Vec& v) { return detail::gelu(v); });
  detail::map_unary(a.x, a.y, a.n, [act = a.act](auto v) { return detail::apply_act(act, v); });
}

/// dx = dy * act'(x), written through the output y = act(x); dx may alias dy. Not for GELU (gelu_backward).
inline void activation_backward(const backend::ActivationGradArgs& a) {
  if (a.act == Act::Linear) return copy(a.dx, a.dy, a.n);
  if (a.act == Act::GELU)
    throw std::invalid_argument("activation_backward: GELU's derivative needs its input; use gelu_backward");
  detail::map_binary(a.y, a.dy, a.dx, a.n, [act = a.act](auto o, auto g) { return detail::act_grad(act, o, g); });
}

/// The element-wise kernels of backend::Cpu over the kernels of Base.
template <class Base>
struct ElementwiseKernels : Base {
  static void copy(float* dst, const float* src, std::size_t n) { cpu::copy(dst, src, n); }
  static void fill(float* dst, float v, std::size_t n) { cpu::fill(dst, v, n); }
  static void add(float* y, const float* x, std::size_t n) { cpu::add(y, x, n); }
  static void mul(const float* a, const float* b, float* y, std::size_t n) { cpu::mul(a, b, y, n); }
  static void scale(float* x, float s, std::size_t n) { cpu::scale(x, s, n); }
  static void clip(float* x, float lim, std::size_t n) { cpu::clip(x, lim, n); }
  static double sum_squares(const float* x, std::size_t n) { return cpu::sum_squares(x, n); }
  static bool all_finite(const float* x, std::size_t n) { return cpu::all_finite(x, n); }
  static void activation(const backend::ActivationArgs& a) { cpu::activation(a); }
  static void activation_backward(const backend::ActivationGradArgs& a) { cpu::activation_backward(a); }
  static void bias_grad(const backend::BiasGradArgs& a) { cpu::bias_grad(a); }

  static void copy_cols(const backend::CopyColsArgs& a) {
    detail::for_ranges(a.rows, 64, a.rows * a.cols, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r)
        std::memcpy(a.dst + r * a.ld_dst, a.src + r * a.ld_src, a.cols * sizeof(float));
    });
  }

  /// y[r, c] += bias[c]
  static void add_bias(const backend::BiasArgs& a) {
    using detail::Vec, detail::vw;
    const std::size_t cols = a.cols;
    detail::for_ranges(a.rows, 64, a.rows * cols, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        float* row = a.y + r * cols;
        std::size_t c = 0;
        for (const std::size_t body = c + (cols - c) / vw * vw; c < body; c += vw)
          (Vec::load_unaligned(row + c) + Vec::load_unaligned(a.bias + c)).store_unaligned(row + c);
        for (; c < cols; ++c) row[c] += a.bias[c];
      }
    });
  }

  /// Inverted dropout: the same mask as the reference, a pure function of (seed, i).
  static void dropout_forward(const backend::DropoutArgs& a) {
    const float keep = 1.0f / (1.0f - a.rate);
    detail::for_ranges(a.n, 8192, 4 * a.n, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        a.mask[i] = siamese::detail::to_unit(siamese::detail::hash2(a.seed, i)) < a.rate ? 0.0f : keep;
        a.y[i] = a.x[i] * a.mask[i];
      }
    });
  }
};

}  // namespace siamese::cpu
