#pragma once
// Optimizer steps of backend::Cpu over a run of parameters: SGD (momentum, Nesterov) and Adam
// (L2 or decoupled weight decay), vectorised and threaded over blocks of the run.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "../args/optim.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {
/// The SGD update of w[i0, i1) (see OptimKernels::sgd_step).
inline void sgd_range(float* w, const float* g, float* v, std::size_t i0, std::size_t i1, float lr, float momentum,
                      bool nesterov, float wd) {
  auto one = [&](auto wi, auto gi, auto vi) {
    gi = gi + wd * wi;
    if (momentum == 0.0f) return std::pair{wi - lr * gi, vi};
    vi = momentum * vi - lr * gi;
    return std::pair{wi + (nesterov ? momentum * vi - lr * gi : vi), vi};
  };
  std::size_t i = i0;
  for (const std::size_t body = i + (i1 - i) / vw * vw; i < body; i += vw) {
    const auto [wn, vn] = one(Vec::load_unaligned(w + i), Vec::load_unaligned(g + i),
                              momentum == 0.0f ? Vec(0.0f) : Vec::load_unaligned(v + i));
    wn.store_unaligned(w + i);
    if (momentum != 0.0f) vn.store_unaligned(v + i);
  }
  for (; i < i1; ++i) {
    const auto [wn, vn] = one(w[i], g[i], momentum == 0.0f ? 0.0f : v[i]);
    w[i] = wn;
    if (momentum != 0.0f) v[i] = vn;
  }
}

/// Adam's step constants at step t: inverse bias corrections, the L2 term and the decoupled decay.
struct AdamConstants {
  float lr, b1, b2, eps, ic1, ic2, gwd, keep;
  AdamConstants(float lr_, float b1_, float b2_, float eps_, std::size_t t, float wd, bool decoupled)
      : lr(lr_), b1(b1_), b2(b2_), eps(eps_),
        ic1(float(1.0 / (1.0 - std::pow(double(b1_), double(t))))),
        ic2(float(1.0 / (1.0 - std::pow(double(b2_), double(t))))),
        gwd(decoupled ? 0.0f : wd), keep(decoupled ? 1.0f - lr_ * wd : 1.0f) {}
};

/// The Adam update of w[i0, i1) (see OptimKernels::adam_step).
inline void adam_range(float* w, const float* g, float* m, float* v, std::size_t i0, std::size_t i1,
                       const AdamConstants& k) {
  std::size_t i = i0;
  for (const std::size_t body = i + (i1 - i) / vw * vw; i < body; i += vw) {
    const Vec wi = Vec::load_unaligned(w + i), gi = Vec::load_unaligned(g + i) + k.gwd * wi;
    const Vec mi = k.b1 * Vec::load_unaligned(m + i) + (1 - k.b1) * gi;
    const Vec vi = k.b2 * Vec::load_unaligned(v + i) + (1 - k.b2) * gi * gi;
    mi.store_unaligned(m + i);
    vi.store_unaligned(v + i);
    (k.keep * wi - k.lr * (mi * k.ic1) / (xsimd::sqrt(vi * k.ic2) + k.eps)).store_unaligned(w + i);
  }
  for (; i < i1; ++i) {
    const float gi = g[i] + k.gwd * w[i];
    m[i] = k.b1 * m[i] + (1 - k.b1) * gi;
    v[i] = k.b2 * v[i] + (1 - k.b2) * gi * gi;
    w[i] = k.keep * w[i] - k.lr * (m[i] * k.ic1) / (std::sqrt(v[i] * k.ic2) + k.eps);
  }
}

/// Runs update(i0, i1) on each row of `rows` x `width` whose gradient g is not all zero, threaded
/// over blocks of rows.
template <class F>
void for_nonzero_rows(const float* g, std::size_t rows, std::size_t width, F&& update) {
  for_ranges(rows, std::max<std::size_t>(1, 8192 / (width + 1)), rows * width, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r)
      if (any_nonzero(g + r * width, width)) update(r * width, (r + 1) * width);
  });
}
}  // namespace detail

/// The optimizer kernels of backend::Cpu over the kernels of Base.
template <class Base>
struct OptimKernels : Base {
  /// SGD as Keras defines it: v = mom*v - lr*g; w += v, or w += mom*v - lr*g (Nesterov); g includes wd*w.
  static void sgd_step(const backend::SgdArgs& a) {
    auto run = [&](std::size_t i0, std::size_t i1) {
      detail::sgd_range(a.w, a.g, a.v, i0, i1, a.lr, a.momentum, a.nesterov, a.weight_decay);
    };
    if (a.row) detail::for_nonzero_rows(a.g, a.n / a.row, a.row, run);
    else detail::for_ranges(a.n, 8192, 3 * a.n, run);
  }

  /// Adam with bias correction at step >= 1: weight_decay adds wd*w to the gradient, or, decoupled,
  /// subtracts lr*wd*w from the weights (AdamW).
  static void adam_step(const backend::AdamArgs& a) {
    const detail::AdamConstants k(a.lr, a.beta1, a.beta2, a.eps, a.step, a.weight_decay, a.decoupled);
    auto run = [&](std::size_t i0, std::size_t i1) { detail::adam_range(a.w, a.g, a.m, a.v, i0, i1, k); };
    if (a.row) detail::for_nonzero_rows(a.g, a.n / a.row, a.row, run);
    else detail::for_ranges(a.n, 8192, 4 * a.n, run);
  }
};

}  // namespace siamese::cpu
