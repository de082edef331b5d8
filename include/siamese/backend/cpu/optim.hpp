#pragma once
// Optimizer steps of backend::Cpu over a run of parameters: SGD (momentum, Nesterov) and Adam
// (L2 or decoupled weight decay), vectorised and threaded over blocks of the run.
#include <cmath>
#include <cstddef>
#include <utility>

#include "parallel.hpp"

namespace siamese::cpu {

/// SGD as Keras defines it: v = mom*v - lr*g; w += v, or w += mom*v - lr*g (Nesterov); g includes wd*w.
inline void sgd_step(float* w, const float* g, float* v, std::size_t n, float lr, float momentum, bool nesterov,
                     float wd) {
  using detail::Vec, detail::vw;
  detail::for_ranges(n, 8192, 3 * n, [&](std::size_t i0, std::size_t i1) {
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
  });
}

/// Adam with bias correction at step t >= 1: `wd` adds wd*w to the gradient, or, `decoupled`,
/// subtracts lr*wd*w from the weights (AdamW).
inline void adam_step(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2,
                      float eps, std::size_t t, float wd, bool decoupled) {
  using detail::Vec, detail::vw;
  const float ic1 = float(1.0 / (1.0 - std::pow(double(b1), double(t))));
  const float ic2 = float(1.0 / (1.0 - std::pow(double(b2), double(t))));
  const float gwd = decoupled ? 0.0f : wd, keep = decoupled ? 1.0f - lr * wd : 1.0f;
  detail::for_ranges(n, 8192, 4 * n, [&](std::size_t i0, std::size_t i1) {
    std::size_t i = i0;
    for (const std::size_t body = i + (i1 - i) / vw * vw; i < body; i += vw) {
      const Vec wi = Vec::load_unaligned(w + i), gi = Vec::load_unaligned(g + i) + gwd * wi;
      const Vec mi = b1 * Vec::load_unaligned(m + i) + (1 - b1) * gi;
      const Vec vi = b2 * Vec::load_unaligned(v + i) + (1 - b2) * gi * gi;
      mi.store_unaligned(m + i);
      vi.store_unaligned(v + i);
      (keep * wi - lr * (mi * ic1) / (xsimd::sqrt(vi * ic2) + eps)).store_unaligned(w + i);
    }
    for (; i < i1; ++i) {
      const float gi = g[i] + gwd * w[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      w[i] = keep * w[i] - lr * (m[i] * ic1) / (std::sqrt(v[i] * ic2) + eps);
    }
  });
}

}  // namespace siamese::cpu
