#pragma once
// The per-query arithmetic of the similarity_loss kernel (args/losses.hpp), shared by backend::Reference (a loop
// over queries) and backend::Cuda (one device thread per query): constexpr functions over doubles, which nvcc
// compiles for the device (--expt-relaxed-constexpr, as the pair features). A query's terms depend on its row of
// similarities alone, so rows are independent; the batch-level parts (pair counts, the normaliser) are sums of
// per-row values that the caller reduces.
#include <cmath>
#include <cstddef>

#include "args/losses.hpp"

namespace siamese::backend::similarity_rows {

/// 1: reference j is a positive of query i; -1: a negative; 0: neither (query i itself).
constexpr int relation(const SimilarityLossArgs& a, std::size_t i, std::size_t j) {
  if (a.self_column && i == j) return 0;
  return a.col_labels[j] == a.row_labels[i] ? 1 : -1;
}

/// The relation after MultiSimilarity's miner (when it has one): a pair it drops is 0.
constexpr int kept(const SimilarityLossArgs& a, std::size_t i, std::size_t j, double max_neg, double min_pos) {
  const int r = relation(a, i, j);
  if (a.kind != SimilarityLossKind::MultiSimilarity || !(a.epsilon >= 0.0f) || r == 0) return r;
  const double v = a.s[i * a.cols + j];
  if (r > 0) return v - a.epsilon < max_neg ? 1 : 0;
  return v + a.epsilon > min_pos ? -1 : 0;
}

/// The miner's thresholds of query i: its most similar negative and least similar positive (+-huge when none).
struct Bounds {
  double max_neg, min_pos;
};
constexpr Bounds bounds(const SimilarityLossArgs& a, std::size_t i) {
  Bounds b{-1e300, 1e300};
  if (a.kind != SimilarityLossKind::MultiSimilarity || !(a.epsilon >= 0.0f)) return b;
  for (std::size_t j = 0; j < a.cols; ++j) {
    const int r = relation(a, i, j);
    const double v = a.s[i * a.cols + j];
    if (r > 0 && v < b.min_pos) b.min_pos = v;
    if (r < 0 && v > b.max_neg) b.max_neg = v;
  }
  return b;
}

/// Pairs of query i that take part: positives (sign > 0) or negatives (sign < 0).
constexpr double count(const SimilarityLossArgs& a, std::size_t i, int sign) {
  const Bounds b = bounds(a, i);
  double c = 0;
  for (std::size_t j = 0; j < a.cols; ++j) c += kept(a, i, j, b.max_neg, b.min_pos) == sign ? 1.0 : 0.0;
  return c;
}

/// log(1 + sum_j e^{x_j}) over the kept pairs of one sign, x_j = scale (s_ij - shift); its softmax weights w_j =
/// e^{x_j} / (1 + sum) come from weight(). None kept: 0.
struct LogOnePlus {
  double m = 0, z = 0;  // max(0, max x_j) and e^{-m} + sum e^{x_j - m}
  constexpr double value() const { return m + ::log(z); }
  constexpr double weight(double x) const { return ::exp(x - m) / z; }
};
constexpr LogOnePlus log_one_plus(const SimilarityLossArgs& a, std::size_t i, int sign, double scale, double shift,
                                  Bounds b) {
  LogOnePlus r;
  for (std::size_t j = 0; j < a.cols; ++j)
    if (kept(a, i, j, b.max_neg, b.min_pos) == sign) {
      const double x = scale * (a.s[i * a.cols + j] - shift);
      if (x > r.m) r.m = x;
    }
  r.z = ::exp(-r.m);
  for (std::size_t j = 0; j < a.cols; ++j)
    if (kept(a, i, j, b.max_neg, b.min_pos) == sign) r.z += ::exp(scale * (a.s[i * a.cols + j] - shift) - r.m);
  return r;
}

/// The row's softmax pieces for NTXent and SupCon: m = max over positives and negatives of s/T, and the sums of
/// e^{s/T - m} over the negatives (neg) and over both (all).
struct Softmax {
  double m = -1e300, neg = 0, all = 0;
};
constexpr Softmax softmax(const SimilarityLossArgs& a, std::size_t i) {
  Softmax r;
  const double t = a.temperature;
  for (std::size_t j = 0; j < a.cols; ++j)
    if (relation(a, i, j) != 0 && a.s[i * a.cols + j] / t > r.m) r.m = a.s[i * a.cols + j] / t;
  for (std::size_t j = 0; j < a.cols; ++j) {
    const int rel = relation(a, i, j);
    if (rel == 0) continue;
    const double e = ::exp(a.s[i * a.cols + j] / t - r.m);
    r.all += e;
    if (rel < 0) r.neg += e;
  }
  return r;
}

/// The loss terms of query i, summed (the caller divides by the normaliser).
constexpr double row_loss(const SimilarityLossArgs& a, std::size_t i) {
  const double t = a.temperature;
  if (a.kind == SimilarityLossKind::MultiSimilarity) {
    const Bounds b = bounds(a, i);
    const LogOnePlus p = log_one_plus(a, i, 1, -double(a.alpha), a.base, b);
    const LogOnePlus n = log_one_plus(a, i, -1, double(a.beta), a.base, b);
    return p.value() / a.alpha + n.value() / a.beta;
  }
  const Softmax sm = softmax(a, i);
  double l = 0, pos = 0;
  for (std::size_t j = 0; j < a.cols; ++j) {
    if (relation(a, i, j) <= 0) continue;
    const double x = a.s[i * a.cols + j] / t - sm.m;  // log e_p
    if (a.kind == SimilarityLossKind::NTXent) l += ::log(::exp(x) + sm.neg) - x;
    else l -= x - ::log(sm.all), pos += 1;
  }
  return a.kind == SimilarityLossKind::SupCon && pos > 0 ? l / pos : l;
}

/// Writes row i of ds: the gradient of w * (the row's loss terms); w = 0 writes zeros.
constexpr void row_grad(const SimilarityLossArgs& a, std::size_t i, double w) {
  float* g = a.ds + i * a.cols;
  const double t = a.temperature;
  if (w == 0.0) {
    for (std::size_t j = 0; j < a.cols; ++j) g[j] = 0.0f;
    return;
  }
  if (a.kind == SimilarityLossKind::MultiSimilarity) {
    const Bounds b = bounds(a, i);
    const double al = a.alpha, be = a.beta;
    const LogOnePlus p = log_one_plus(a, i, 1, -al, a.base, b);
    const LogOnePlus n = log_one_plus(a, i, -1, be, a.base, b);
    for (std::size_t j = 0; j < a.cols; ++j) {
      const int k = kept(a, i, j, b.max_neg, b.min_pos);
      const double v = a.s[i * a.cols + j];
      g[j] = k > 0 ? float(-w * p.weight(-al * (v - a.base))) : k < 0 ? float(w * n.weight(be * (v - a.base))) : 0.0f;
    }
    return;
  }
  const Softmax sm = softmax(a, i);
  if (a.kind == SimilarityLossKind::NTXent) {
    // Each positive p: d/ds_ip = (q_p - 1)/T, q_p = e_p / (e_p + neg); each negative: e_n sum_p 1/(e_p + neg) / T.
    double inv = 0;
    for (std::size_t j = 0; j < a.cols; ++j)
      if (relation(a, i, j) > 0) inv += 1.0 / (::exp(a.s[i * a.cols + j] / t - sm.m) + sm.neg);
    for (std::size_t j = 0; j < a.cols; ++j) {
      const int rel = relation(a, i, j);
      const double e = rel != 0 ? ::exp(a.s[i * a.cols + j] / t - sm.m) : 0.0;
      g[j] = rel > 0 ? float(w * (e / (e + sm.neg) - 1.0) / t) : rel < 0 ? float(w * e * inv / t) : 0.0f;
    }
    return;
  }
  // SupCon: d/ds_ij = (softmax_j - [j positive] / P_i) / T over the positives and negatives.
  double pos = 0;
  for (std::size_t j = 0; j < a.cols; ++j) pos += relation(a, i, j) > 0 ? 1.0 : 0.0;
  for (std::size_t j = 0; j < a.cols; ++j) {
    const int rel = relation(a, i, j);
    const double q = rel != 0 ? ::exp(a.s[i * a.cols + j] / t - sm.m) / sm.all : 0.0;
    g[j] = rel != 0 ? float(w * (q - (rel > 0 ? 1.0 / pos : 0.0)) / t) : 0.0f;
  }
}

/// From the batch's pair counts (after mining): whether the loss is zero by the frameworks' rule.
constexpr bool inactive(SimilarityLossKind kind, double positives, double negatives) {
  if (kind == SimilarityLossKind::MultiSimilarity) return positives <= 1 && negatives <= 1;
  return positives == 0 || negatives == 0;
}

}  // namespace siamese::backend::similarity_rows
