#pragma once
// The per-query arithmetic of the class_margin_loss kernel (args/losses.hpp), shared by backend::Reference (a loop
// over queries) and backend::Cuda (one device thread per query): constexpr functions over doubles, which nvcc
// compiles for the device (--expt-relaxed-constexpr, as similarity_rows.hpp). A query's loss depends on its row of
// cosines alone; the batch mean is the caller's sum of rows over their number.
#include <cstddef>

#include "args/losses.hpp"

namespace siamese::backend::class_margin_rows {

/// The target class's logit before scaling, and its derivative with respect to the cosine c_y.
struct Target {
  double value, slope;
};
constexpr Target target(ClassMarginKind kind, double c, double margin) {
  if (kind == ClassMarginKind::CosFace) return {c - margin, 1.0};
  constexpr double pi = 3.14159265358979323846;
  const bool clamped = c > 1.0 || c < -1.0;  // clamp's gradient is 0 outside [-1, 1], as torch.clamp's
  const double cc = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
  const double theta = ::acos(cc);
  if (theta <= pi - margin) {
    // d cos(theta + m) / dc = sin(theta + m) / sin(theta); sin(theta) is floored at 1e-4, which in float
    // only c = +-1 exactly reaches (acos has no finite slope there).
    const double s = ::sqrt(1.0 - cc * cc);
    return {::cos(theta + margin), clamped ? 0.0 : ::sin(theta + margin) / (s > 1e-4 ? s : 1e-4)};
  }
  return {cc - margin * ::sin(margin), clamped ? 0.0 : 1.0};
}

/// The scaled logit of class j for query i (y: its class).
constexpr double logit(const ClassMarginLossArgs& a, std::size_t i, std::size_t j, std::size_t y) {
  const double c = a.c[i * a.classes + j];
  return double(a.scale) * (j == y ? target(a.kind, c, a.margin).value : c);
}

/// The row's log-sum-exp pieces: m = max logit, z = sum e^{logit - m}.
struct Lse {
  double m, z;
};
constexpr Lse lse(const ClassMarginLossArgs& a, std::size_t i) {
  const std::size_t y = std::size_t(a.labels[i]);
  Lse r{-1e300, 0.0};
  for (std::size_t j = 0; j < a.classes; ++j) {
    const double v = logit(a, i, j, y);
    if (v > r.m) r.m = v;
  }
  for (std::size_t j = 0; j < a.classes; ++j) r.z += ::exp(logit(a, i, j, y) - r.m);
  return r;
}

/// -log softmax of query i's own class.
constexpr double row_loss(const ClassMarginLossArgs& a, std::size_t i) {
  const std::size_t y = std::size_t(a.labels[i]);
  const Lse l = lse(a, i);
  return l.m + ::log(l.z) - logit(a, i, y, y);
}

/// Writes row i of dc: the gradient of w * row_loss(i).
constexpr void row_grad(const ClassMarginLossArgs& a, std::size_t i, double w) {
  const std::size_t y = std::size_t(a.labels[i]);
  const Lse l = lse(a, i);
  float* g = a.dc + i * a.classes;
  for (std::size_t j = 0; j < a.classes; ++j) {
    const double p = ::exp(logit(a, i, j, y) - l.m) / l.z;
    const double slope = j == y ? target(a.kind, a.c[i * a.classes + j], a.margin).slope : 1.0;
    g[j] = float(w * a.scale * (p - (j == y ? 1.0 : 0.0)) * slope);
  }
}

}  // namespace siamese::backend::class_margin_rows
