#pragma once
// backend::Cuda's memory, element-wise, dropout, reduction and optimizer kernels.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "../../core/random.hpp"
#include "../args/elementwise.hpp"
#include "../args/optim.hpp"
#include "../kinds.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct ElementwiseOps {
  // ---- memory ------------------------------------------------------------------------------------
  static void to_device(float* dst, const float* host, std::size_t n) {
    if (n) X::upload(dst, host, n * sizeof(float));
  }
  /// Waits for the queued kernels: the host reads their results.
  static void to_host(float* host, const float* src, std::size_t n) {
    if (n) X::download(host, src, n * sizeof(float));
  }
  /// Overlapping ranges are allowed (as with memmove).
  static void copy(float* dst, const float* src, std::size_t n) {
    if (dst == src || n == 0) return;
    const std::size_t bytes = n * sizeof(float);
    if (dst < src + n && src < dst + n) {
      void* tmp = X::scratch(Slot::Temp, bytes);
      X::copy(tmp, src, bytes);
      X::copy(dst, tmp, bytes);
    } else {
      X::copy(dst, src, bytes);
    }
  }
  static void fill(float* dst, float v, std::size_t n) {
    if (n == 0) return;
    if (v == 0.0f && !std::signbit(v)) X::zero(dst, n * sizeof(float));
    else X::launch("fill", n, [=] __host__ __device__(std::size_t i) { dst[i] = v; });
  }
  /// y += x
  static void add(float* y, const float* x, std::size_t n) {
    X::launch("add", n, [=] __host__ __device__(std::size_t i) { y[i] += x[i]; });
  }
  static void mul(const float* a, const float* b, float* y, std::size_t n) {
    X::launch("mul", n, [=] __host__ __device__(std::size_t i) { y[i] = a[i] * b[i]; });
  }
  /// A rows x cols block between row-major matrices of leading dimensions ld_dst and ld_src.
  static void copy_cols(const CopyColsArgs& a) {
    float* dst = a.dst;
    const float* src = a.src;
    const std::size_t ld_dst = a.ld_dst, ld_src = a.ld_src, rows = a.rows, cols = a.cols;
    if (cols == 0) return;
    X::launch("copy_cols", rows * cols, [=] __host__ __device__(std::size_t i) {
      const std::size_t r = i / cols, c = i % cols;
      dst[r * ld_dst + c] = src[r * ld_src + c];
    });
  }

  // ---- activations -------------------------------------------------------------------------------
  static void activation(const ActivationArgs& args) {
    const Act a = args.act;
    const float* x = args.x;
    float* y = args.y;
    X::launch("activation", args.n, [=] __host__ __device__(std::size_t i) { y[i] = act1(a, x[i]); });
  }
  /// dx = dy * act'(x), from the output y = act(x); dx may alias dy. Not for GELU (gelu_backward).
  static void activation_backward(const ActivationGradArgs& args) {
    const Act a = args.act;
    if (a == Act::GELU)
      throw std::invalid_argument("activation_backward: GELU's derivative needs its input; use gelu_backward");
    const float *y = args.y, *dy = args.dy;
    float* dx = args.dx;
    X::launch("activation_backward", args.n, [=] __host__ __device__(std::size_t i) {
      float d = 1.0f;
      if (a == Act::ReLU) d = y[i] > 0 ? 1.0f : 0.0f;
      else if (a == Act::Sigmoid) d = y[i] * (1.0f - y[i]);
      else if (a == Act::Tanh) d = 1.0f - y[i] * y[i];
      dx[i] = dy[i] * d;
    });
  }

  /// Inverted dropout with Reference's counter-based mask: bit for bit the same mask.
  static void dropout_forward(const DropoutArgs& a) {
    const float* x = a.x;
    float *y = a.y, *mask = a.mask;
    const float rate = a.rate;
    const std::uint64_t seed = a.seed;
    const float keep = 1.0f / (1.0f - rate);
    X::launch("dropout_forward", a.n, [=] __host__ __device__(std::size_t i) {
      const float m = siamese::detail::to_unit(siamese::detail::hash2(seed, i)) < rate ? 0.0f : keep;
      mask[i] = m;
      y[i] = x[i] * m;
    });
  }

  // ---- gradient utilities and optimizers -----------------------------------------------------------
  static double sum_squares(const float* x, std::size_t n) {
    return reduce_sum<X>("sum_squares", n, [=] __host__ __device__(std::size_t i) { return double(x[i]) * x[i]; });
  }
  static void scale(float* x, float s, std::size_t n) {
    X::launch("scale", n, [=] __host__ __device__(std::size_t i) { x[i] *= s; });
  }
  /// std::clamp(x, -lim, lim); NaN stays NaN.
  static void clip(float* x, float lim, std::size_t n) {
    X::launch("clip", n, [=] __host__ __device__(std::size_t i) {
      const float v = x[i];
      x[i] = v < -lim ? -lim : lim < v ? lim : v;
    });
  }
  static bool all_finite(const float* x, std::size_t n) {
    return reduce_sum<X>("all_finite", n, [=] __host__ __device__(std::size_t i) {
             return finite(x[i]) ? 0.0 : 1.0;
           }) == 0.0;
  }
  /// The SGD and Adam updates of element i, shared by the dense and the row-sparse kernels.
  struct SgdUpdate {
    float lr, momentum, wd;
    bool nesterov;
    __host__ __device__ void operator()(float* w, const float* g, float* v, std::size_t i) const {
      const float gi = g[i] + wd * w[i];
      if (momentum == 0.0f) {
        w[i] -= lr * gi;
        return;
      }
      v[i] = momentum * v[i] - lr * gi;
      w[i] += nesterov ? momentum * v[i] - lr * gi : v[i];
    }
  };
  struct AdamUpdate {
    float lr, b1, b2, eps, wd;
    bool decoupled;
    double c1, c2;  // bias corrections 1 - b^t
    AdamUpdate(float lr_, float b1_, float b2_, float eps_, std::size_t t, float wd_, bool decoupled_)
        : lr(lr_), b1(b1_), b2(b2_), eps(eps_), wd(wd_), decoupled(decoupled_),
          c1(1.0 - std::pow(double(b1_), double(t))), c2(1.0 - std::pow(double(b2_), double(t))) {}
    __host__ __device__ void operator()(float* w, const float* g, float* m, float* v, std::size_t i) const {
      const float gi = decoupled ? g[i] : g[i] + wd * w[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const double mh = m[i] / c1, vh = v[i] / c2;
      if (decoupled) w[i] -= lr * wd * w[i];
      w[i] -= float(lr * mh / (::sqrt(vh) + eps));
    }
  };
  /// True when row [o, o + width) of g holds a value other than zero.
  static __host__ __device__ bool row_touched(const float* g, std::size_t o, std::size_t width) {
    for (std::size_t k = o; k < o + width; ++k)
      if (g[k] != 0.0f) return true;
    return false;
  }

  /// SGD with Keras' momentum (and Nesterov); g includes the L2 term wd * w. Row-sparse (a.row > 0):
  /// one thread per row, rows whose gradient is all zero stay as they are.
  static void sgd_step(const SgdArgs& a) {
    const SgdUpdate up{a.lr, a.momentum, a.weight_decay, a.nesterov};
    float *w = a.w, *v = a.v;
    const float* g = a.g;
    if (a.row == 0) {
      X::launch("sgd_step", a.n, [=] __host__ __device__(std::size_t i) { up(w, g, v, i); });
      return;
    }
    const std::size_t width = a.row;
    X::launch("sgd_step (rows)", a.n / width, [=] __host__ __device__(std::size_t r) {
      if (!row_touched(g, r * width, width)) return;
      for (std::size_t i = r * width; i < (r + 1) * width; ++i) up(w, g, v, i);
    });
  }
  /// Adam with bias correction at step >= 1; `decoupled` is AdamW. Row-sparse as sgd_step.
  static void adam_step(const AdamArgs& a) {
    const AdamUpdate up(a.lr, a.beta1, a.beta2, a.eps, a.step, a.weight_decay, a.decoupled);
    float *w = a.w, *m = a.m, *v = a.v;
    const float* g = a.g;
    if (a.row == 0) {
      X::launch("adam_step", a.n, [=] __host__ __device__(std::size_t i) { up(w, g, m, v, i); });
      return;
    }
    const std::size_t width = a.row;
    X::launch("adam_step (rows)", a.n / width, [=] __host__ __device__(std::size_t r) {
      if (!row_touched(g, r * width, width)) return;
      for (std::size_t i = r * width; i < (r + 1) * width; ++i) up(w, g, m, v, i);
    });
  }
};

}  // namespace siamese::backend::detail_cuda
