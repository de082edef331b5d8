#pragma once
// class_margin_loss of backend::Cpu: ArcFace and CosFace from the cosines of queries with class weights
// (args/losses.hpp). Queries (rows) run in parallel (oneTBB), each row's classes in SIMD lanes (xsimd) in float; the
// own class's margin is scalar (class_margin_rows.hpp, Reference's arithmetic); per-row losses are summed in double
// in row order, so the loss does not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../args/losses.hpp"
#include "../class_margin_rows.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

namespace detail {

/// One query's row of cosines: its own class y and the log-sum-exp of its scaled logits.
struct ClassMarginRow {
  const backend::ClassMarginLossArgs& a;
  std::size_t i, y;
  float t = 0, slope = 0, m = 0, z = 0, others = 0;  // the own class's logit before scaling and its slope; the
  // max logit; the sum of e^{logit - m} over all classes and over the other classes

  ClassMarginRow(const backend::ClassMarginLossArgs& args, std::size_t row)
      : a(args), i(row), y(std::size_t(args.labels[row])) {
    const auto tg = backend::class_margin_rows::target(a.kind, a.c[i * a.classes + y], a.margin);
    t = float(tg.value);
    slope = float(tg.slope);
    const float sc = a.scale;
    Vec mx(-3.0e38f);
    blocks([&](std::size_t, Vec c, auto other) { mx = xsimd::max(mx, xsimd::select(other, c, Vec(-3.0e38f))); });
    m = std::max(sc * lane_max_of(mx), sc * t);
    Vec s(0.0f);
    blocks([&](std::size_t, Vec c, auto other) {
      s += xsimd::select(other, xsimd::exp(Vec(sc) * c - Vec(m)), Vec(0.0f));
    });
    others = xsimd::hadd(s);
    z = others + std::exp(sc * t - m);
  }
  static float lane_max_of(const Vec& v) {
    alignas(64) float tmp[vw];
    v.store_aligned(tmp);
    return *std::max_element(tmp, tmp + vw);
  }
  /// Calls f(j, c, other) for each block of vw classes; `other` masks the lanes of classes other than y that exist.
  template <class F>
  void blocks(F&& f) const {
    const float* row = a.c + i * a.classes;
    Vec iota;
    {
      alignas(64) float tmp[vw];
      for (std::size_t k = 0; k < vw; ++k) tmp[k] = float(k);
      iota = Vec::load_aligned(tmp);
    }
    const Vec own = Vec(float(y)), end = Vec(float(a.classes));
    for (std::size_t j = 0; j < a.classes; j += vw) {
      Vec c;
      if (j + vw <= a.classes) {
        c = Vec::load_unaligned(row + j);
      } else {
        alignas(64) float tmp[vw] = {};
        for (std::size_t k = 0; j + k < a.classes; ++k) tmp[k] = row[j + k];
        c = Vec::load_aligned(tmp);
      }
      const Vec jv = Vec(float(j)) + iota;
      f(j, c, (jv < end) && (jv != own));
    }
  }
  /// -log p_y = log(1 + others / e_y), without the cancellation of m + log z - logit_y when p_y is near 1.
  double loss() const {
    const double ly = double(a.scale) * t - double(m);  // the own logit less the max, <= 0
    return ly > -30.0 ? std::log1p(double(others) / std::exp(ly)) : std::log(double(z)) - ly;
  }
  void grad(float w) const {
    float* g = a.dc + i * a.classes;
    const float sc = a.scale;
    const Vec k(w * sc / z);
    blocks([&](std::size_t j, Vec c, auto other) {
      const Vec v = xsimd::select(other, k * xsimd::exp(Vec(sc) * c - Vec(m)), Vec(0.0f));
      if (j + vw <= a.classes) {
        v.store_unaligned(g + j);
      } else {
        alignas(64) float tmp[vw];
        v.store_aligned(tmp);
        for (std::size_t q = 0; j + q < a.classes; ++q) g[j + q] = tmp[q];
      }
    });
    g[y] = -w * sc * (others / z) * slope;  // p_y - 1 without the cancellation when p_y is near 1
  }
};

}  // namespace detail

/// backend::Cpu's class_margin_loss over the kernels of Base.
template <class Base>
struct ClassMarginKernels : Base {
  static float class_margin_loss(const backend::ClassMarginLossArgs& a) {
    const std::size_t rows = a.rows;
    if (rows == 0) return 0.0f;
    static thread_local detail::Workspace ws;
    float* part = ws.reserve(rows);
    const float w = float(1.0 / double(rows));
    detail::for_ranges(rows, 4, rows * a.classes * 8, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t i = r0; i < r1; ++i) {
        const detail::ClassMarginRow row(a, i);
        part[i] = float(row.loss());
        if (a.dc) row.grad(w);
      }
    });
    double loss = 0;
    for (std::size_t i = 0; i < rows; ++i) loss += part[i];
    return float(loss / double(rows));
  }
};

}  // namespace siamese::cpu
