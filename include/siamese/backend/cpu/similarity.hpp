#pragma once
// similarity_loss of backend::Cpu: NTXent, SupCon and MultiSimilarity (with its miner) from a similarity matrix
// (args/losses.hpp). Queries (rows) run in parallel (oneTBB), each row's columns in SIMD lanes (xsimd) in float;
// per-row results are summed in double in row order, so the loss does not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../args/losses.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {

inline float lane_max(const Vec& v) {
  alignas(64) float t[vw];
  v.store_aligned(t);
  return *std::max_element(t, t + vw);
}
inline float lane_min(const Vec& v) {
  alignas(64) float t[vw];
  v.store_aligned(t);
  return *std::min_element(t, t + vw);
}

/// One query's row: its lanes' relation to the query (+1 a kept positive, -1 a kept negative, 0 neither).
struct SimilarityRow {
  const backend::SimilarityLossArgs& a;
  std::size_t i;
  float max_neg = -3.0e38f, min_pos = 3.0e38f;  // the miner's bounds (unused without it)

  bool mined() const { return a.kind == backend::SimilarityLossKind::MultiSimilarity && a.epsilon >= 0.0f; }

  /// Calls f(s, rel) for each block of vw columns; lanes past the end have rel = 0 and s = 0.
  template <class F>
  void blocks(bool apply_miner, F&& f) const {
    const float* srow = a.s + i * a.cols;
    const Vec li = Vec(a.row_labels[i]), self = Vec(float(i)), cols = Vec(float(a.cols));
    Vec iota;
    {
      alignas(64) float t[vw];
      for (std::size_t k = 0; k < vw; ++k) t[k] = float(k);
      iota = Vec::load_aligned(t);
    }
    for (std::size_t j = 0; j < a.cols; j += vw) {
      Vec s, lab;
      if (j + vw <= a.cols) {
        s = Vec::load_unaligned(srow + j);
        lab = Vec::load_unaligned(a.col_labels + j);
      } else {
        alignas(64) float ts[vw] = {}, tl[vw] = {};
        for (std::size_t k = 0; j + k < a.cols; ++k) ts[k] = srow[j + k], tl[k] = a.col_labels[j + k];
        s = Vec::load_aligned(ts);
        lab = Vec::load_aligned(tl);
      }
      const Vec jv = Vec(float(j)) + iota;
      auto out = jv >= cols;
      if (a.self_column) out = out || (jv == self);
      Vec rel = xsimd::select(out, Vec(0.0f), xsimd::select(lab == li, Vec(1.0f), Vec(-1.0f)));
      if (apply_miner && mined()) {
        rel = xsimd::select((rel > Vec(0.0f)) && !(s - Vec(a.epsilon) < Vec(max_neg)), Vec(0.0f), rel);
        rel = xsimd::select((rel < Vec(0.0f)) && !(s + Vec(a.epsilon) > Vec(min_pos)), Vec(0.0f), rel);
      }
      f(j, s, rel);
    }
  }
  void find_bounds() {
    if (!mined()) return;
    Vec mn(-3.0e38f), mp(3.0e38f);
    blocks(false, [&](std::size_t, Vec s, Vec rel) {
      mn = xsimd::max(mn, xsimd::select(rel < Vec(0.0f), s, Vec(-3.0e38f)));
      mp = xsimd::min(mp, xsimd::select(rel > Vec(0.0f), s, Vec(3.0e38f)));
    });
    max_neg = lane_max(mn);
    min_pos = lane_min(mp);
  }
  /// Kept positives and negatives.
  std::pair<double, double> counts() const {
    Vec p(0.0f), n(0.0f);
    blocks(true, [&](std::size_t, Vec, Vec rel) {
      p += xsimd::select(rel > Vec(0.0f), Vec(1.0f), Vec(0.0f));
      n += xsimd::select(rel < Vec(0.0f), Vec(1.0f), Vec(0.0f));
    });
    return {double(xsimd::hadd(p)), double(xsimd::hadd(n))};
  }
  /// max over the lanes with rel of `sign` (0: both kinds) of scale * (s - shift); `floor` when none.
  float max_of(int sign, float scale, float shift, float floor) const {
    Vec m(floor);
    blocks(true, [&](std::size_t, Vec s, Vec rel) {
      const auto on = sign > 0 ? rel > Vec(0.0f) : sign < 0 ? rel < Vec(0.0f) : rel != Vec(0.0f);
      m = xsimd::max(m, xsimd::select(on, Vec(scale) * (s - Vec(shift)), Vec(floor)));
    });
    return lane_max(m);
  }
  /// sum over the lanes with rel of `sign` (0: both) of e^{scale (s - shift) - m}.
  double exp_sum(int sign, float scale, float shift, float m) const {
    Vec z(0.0f);
    blocks(true, [&](std::size_t, Vec s, Vec rel) {
      const auto on = sign > 0 ? rel > Vec(0.0f) : sign < 0 ? rel < Vec(0.0f) : rel != Vec(0.0f);
      z += xsimd::select(on, xsimd::exp(Vec(scale) * (s - Vec(shift)) - Vec(m)), Vec(0.0f));
    });
    return double(xsimd::hadd(z));
  }

  /// The row's loss terms, summed.
  double loss() const {
    using K = backend::SimilarityLossKind;
    if (a.kind == K::MultiSimilarity) {
      const float al = a.alpha, be = a.beta;
      const float mp = max_of(1, -al, a.base, 0.0f), mn = max_of(-1, be, a.base, 0.0f);
      const double zp = std::exp(-double(mp)) + exp_sum(1, -al, a.base, mp);
      const double zn = std::exp(-double(mn)) + exp_sum(-1, be, a.base, mn);
      return (mp + std::log(zp)) / al + (mn + std::log(zn)) / be;
    }
    const float it = 1.0f / a.temperature;
    const float m = max_of(0, it, 0.0f, -3.0e38f);
    if (a.kind == K::NTXent) {
      const Vec neg(float(exp_sum(-1, it, 0.0f, m)));
      Vec l(0.0f);
      blocks(true, [&](std::size_t, Vec s, Vec rel) {
        const Vec x = s * Vec(it) - Vec(m);
        l += xsimd::select(rel > Vec(0.0f), xsimd::log(xsimd::exp(x) + neg) - x, Vec(0.0f));
      });
      return double(xsimd::hadd(l));
    }
    const double all = exp_sum(0, it, 0.0f, m), pos = counts().first;
    if (pos == 0) return 0.0;
    Vec sx(0.0f);
    blocks(true, [&](std::size_t, Vec s, Vec rel) {
      sx += xsimd::select(rel > Vec(0.0f), s * Vec(it) - Vec(m), Vec(0.0f));
    });
    return std::log(all) - double(xsimd::hadd(sx)) / pos;
  }

  /// Writes the row's gradient, scaled by w.
  void grad(float w) const {
    using K = backend::SimilarityLossKind;
    float* g = a.ds + i * a.cols;
    auto store = [&](std::size_t j, Vec v) {
      if (j + vw <= a.cols) {
        v.store_unaligned(g + j);
      } else {
        alignas(64) float t[vw];
        v.store_aligned(t);
        for (std::size_t k = 0; j + k < a.cols; ++k) g[j + k] = t[k];
      }
    };
    if (w == 0.0f) {
      std::fill(g, g + a.cols, 0.0f);
      return;
    }
    if (a.kind == K::MultiSimilarity) {
      const float al = a.alpha, be = a.beta;
      const float mp = max_of(1, -al, a.base, 0.0f), mn = max_of(-1, be, a.base, 0.0f);
      const float zp = float(std::exp(-double(mp)) + exp_sum(1, -al, a.base, mp));
      const float zn = float(std::exp(-double(mn)) + exp_sum(-1, be, a.base, mn));
      blocks(true, [&](std::size_t j, Vec s, Vec rel) {
        const Vec d = s - Vec(a.base);
        const Vec gp = Vec(-w / zp) * xsimd::exp(Vec(-al) * d - Vec(mp));
        const Vec gn = Vec(w / zn) * xsimd::exp(Vec(be) * d - Vec(mn));
        store(j, xsimd::select(rel > Vec(0.0f), gp, xsimd::select(rel < Vec(0.0f), gn, Vec(0.0f))));
      });
      return;
    }
    const float it = 1.0f / a.temperature;
    const float m = max_of(0, it, 0.0f, -3.0e38f);
    if (a.kind == K::NTXent) {
      const Vec neg(float(exp_sum(-1, it, 0.0f, m)));
      Vec inv(0.0f);
      blocks(true, [&](std::size_t, Vec s, Vec rel) {
        inv += xsimd::select(rel > Vec(0.0f), Vec(1.0f) / (xsimd::exp(s * Vec(it) - Vec(m)) + neg), Vec(0.0f));
      });
      const Vec c(xsimd::hadd(inv) * w * it), wt(w * it);
      blocks(true, [&](std::size_t j, Vec s, Vec rel) {
        const Vec e = xsimd::exp(s * Vec(it) - Vec(m));
        const Vec gp = wt * (e / (e + neg) - Vec(1.0f)), gn = c * e;
        store(j, xsimd::select(rel > Vec(0.0f), gp, xsimd::select(rel < Vec(0.0f), gn, Vec(0.0f))));
      });
      return;
    }
    const float all = float(exp_sum(0, it, 0.0f, m)), pos = float(counts().first);
    const Vec wt(w * it), inv_pos(pos > 0 ? 1.0f / pos : 0.0f), inv_all(1.0f / all);
    blocks(true, [&](std::size_t j, Vec s, Vec rel) {
      const Vec q = xsimd::exp(s * Vec(it) - Vec(m)) * inv_all;
      const Vec t = q - xsimd::select(rel > Vec(0.0f), inv_pos, Vec(0.0f));
      store(j, xsimd::select(rel != Vec(0.0f), wt * t, Vec(0.0f)));
    });
  }
};

}  // namespace detail

/// backend::Cpu's similarity_loss over the kernels of Base.
template <class Base>
struct SimilarityKernels : Base {
  static float similarity_loss(const backend::SimilarityLossArgs& a) {
    using K = backend::SimilarityLossKind;
    const std::size_t rows = a.rows;
    if (rows == 0) return 0.0f;
    // Per row: kept positives, kept negatives, loss; then the gradient's weight.
    static thread_local detail::Workspace ws;
    float* part = ws.reserve(4 * rows);
    const std::size_t work = rows * a.cols * 8;
    detail::for_ranges(rows, 4, work, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t i = r0; i < r1; ++i) {
        detail::SimilarityRow row{a, i};
        row.find_bounds();
        const auto [p, n] = row.counts();
        part[4 * i] = float(p);
        part[4 * i + 1] = float(n);
        part[4 * i + 2] = float(row.loss());
      }
    });
    double pos = 0, neg = 0, loss = 0, counted = 0;
    for (std::size_t i = 0; i < rows; ++i) pos += part[4 * i], neg += part[4 * i + 1];
    const bool inactive = a.kind == K::MultiSimilarity ? pos <= 1 && neg <= 1 : pos == 0 || neg == 0;
    for (std::size_t i = 0; i < rows; ++i) {
      loss += part[4 * i + 2];
      counted += part[4 * i + 2] > 0 ? 1.0 : 0.0;
    }
    const double norm = a.kind == K::NTXent ? pos : a.kind == K::SupCon ? counted : double(rows);
    const bool zero = inactive || norm == 0;
    if (a.ds)
      detail::for_ranges(rows, 4, work, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t i = r0; i < r1; ++i) {
          detail::SimilarityRow row{a, i};
          row.find_bounds();
          const bool skip = zero || (a.kind == K::SupCon && !(part[4 * i + 2] > 0));
          row.grad(skip ? 0.0f : float(1.0 / norm));
        }
      });
    return zero ? 0.0f : float(loss / norm);
  }
};

}  // namespace siamese::cpu
