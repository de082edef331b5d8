#pragma once
// Optimizer steps of backend::Cpu over a run of parameters: SGD (momentum, Nesterov) and Adam
// (L2 or decoupled weight decay), vectorised and threaded over blocks of the run.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {
/// The SGD update of w[i0, i1) (see sgd_step).
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

/// The Adam update of w[i0, i1) (see adam_step).
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

/// True when g[0, width) holds a value other than zero (a NaN counts).
inline bool any_nonzero(const float* g, std::size_t width) {
  std::size_t k = 0;
  for (; k + vw <= width; k += vw)
    if (xsimd::any(Vec::load_unaligned(g + k) != Vec(0.0f))) return true;
  for (; k < width; ++k)
    if (g[k] != 0.0f) return true;
  return false;
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

/// SGD as Keras defines it: v = mom*v - lr*g; w += v, or w += mom*v - lr*g (Nesterov); g includes wd*w.
inline void sgd_step(float* w, const float* g, float* v, std::size_t n, float lr, float momentum, bool nesterov,
                     float wd) {
  detail::for_ranges(n, 8192, 3 * n, [&](std::size_t i0, std::size_t i1) {
    detail::sgd_range(w, g, v, i0, i1, lr, momentum, nesterov, wd);
  });
}

/// Adam with bias correction at step t >= 1: `wd` adds wd*w to the gradient, or, `decoupled`,
/// subtracts lr*wd*w from the weights (AdamW).
inline void adam_step(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2,
                      float eps, std::size_t t, float wd, bool decoupled) {
  const detail::AdamConstants k(lr, b1, b2, eps, t, wd, decoupled);
  detail::for_ranges(n, 8192, 4 * n, [&](std::size_t i0, std::size_t i1) { detail::adam_range(w, g, m, v, i0, i1, k); });
}

/// sgd_step on the rows (`rows` x `width`) whose gradient is not all zero; the others stay as they are.
inline void sgd_step_rows(float* w, const float* g, float* v, std::size_t rows, std::size_t width, float lr,
                          float momentum, bool nesterov, float wd) {
  detail::for_nonzero_rows(g, rows, width, [&](std::size_t i0, std::size_t i1) {
    detail::sgd_range(w, g, v, i0, i1, lr, momentum, nesterov, wd);
  });
}

/// adam_step on the rows (`rows` x `width`) whose gradient is not all zero; the others stay as they are.
inline void adam_step_rows(float* w, const float* g, float* m, float* v, std::size_t rows, std::size_t width,
                           float lr, float b1, float b2, float eps, std::size_t t, float wd, bool decoupled) {
  const detail::AdamConstants k(lr, b1, b2, eps, t, wd, decoupled);
  detail::for_nonzero_rows(g, rows, width, [&](std::size_t i0, std::size_t i1) {
    detail::adam_range(w, g, m, v, i0, i1, k);
  });
}

}  // namespace siamese::cpu
