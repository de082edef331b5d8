#pragma once
// MultipleNegativesRanking: the in-batch softmax (InfoNCE) loss that sentence-transformers trains text encoders
// with. For a batch of pairs (a_i, b_i) that match, every other b_j of the batch is a negative of a_i.
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "losses.hpp"

namespace siamese {

namespace detail {
/// Host form: e holds the n anchors' rows, then the n candidates' rows (d wide). labels[i] != 0 marks pair i as a
/// match: only those rows are queries (a batch of matches only is the usual case); every candidate of the batch
/// takes part as a negative. Returns the mean loss; g (2n x d, or null) receives its gradient.
inline double multiple_negatives_ranking(const float* e, const float* labels, std::size_t n, std::size_t d,
                                         float scale, bool symmetric, float* g) {
  // Per-thread workspaces: a training step allocates only when the batch grows.
  thread_local std::vector<double> norm, cos, dcos, p;
  thread_local std::vector<char> query;
  norm.resize(2 * n);
  cos.resize(n * n);
  for (std::size_t r = 0; r < 2 * n; ++r) {
    double s = 0;
    for (std::size_t k = 0; k < d; ++k) s += double(e[r * d + k]) * e[r * d + k];
    norm[r] = std::max(std::sqrt(s), 1e-12);
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < d; ++k) s += double(e[i * d + k]) * e[(n + j) * d + k];
      const double c = s / (norm[i] * norm[n + j]);
      if (!std::isfinite(c))
        throw NumericError("MultipleNegativesRanking: the embeddings of pair " + std::to_string(i) + " or " +
                           std::to_string(j) + " are not finite");
      cos[i * n + j] = c;
    }
  query.resize(n);
  std::size_t queries = 0;
  for (std::size_t i = 0; i < n; ++i) queries += (query[i] = labels ? labels[i] != 0.0f : 1);
  if (g)
    for (std::size_t k = 0; k < 2 * n * d; ++k) g[k] = 0.0f;
  if (queries == 0) return 0.0;
  // dL/dcos, accumulated from the row (anchor -> candidates) and column (candidate -> anchors) softmaxes.
  dcos.assign(n * n, 0.0);
  double loss = 0;
  const double w = (symmetric ? 0.5 : 1.0) / double(queries);
  p.resize(n);
  // Cross-entropy at `target` of the softmax over the scale * cos entries at(k), k in [0, n) where in(k): its loss,
  // and its gradient added to the matching dcos entries.
  auto softmax_ce = [&](std::size_t target, auto at, auto in) {
    double m = -INFINITY;
    for (std::size_t k = 0; k < n; ++k)
      if (in(k)) m = std::max(m, scale * cos[at(k)]);
    double z = 0;
    for (std::size_t k = 0; k < n; ++k) z += (p[k] = in(k) ? std::exp(scale * cos[at(k)] - m) : 0.0);
    loss += w * (std::log(z) + m - scale * cos[at(target)]);
    for (std::size_t k = 0; k < n; ++k)
      if (in(k)) dcos[at(k)] += w * scale * (p[k] / z - (k == target ? 1.0 : 0.0));
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (!query[i]) continue;
    // Anchor a_i against every candidate b_j.
    softmax_ce(i, [&](std::size_t j) { return i * n + j; }, [](std::size_t) { return true; });
    // Symmetric: candidate b_i against every anchor that is a query.
    if (symmetric) softmax_ce(i, [&](std::size_t a) { return a * n + i; }, [&](std::size_t a) { return query[a] != 0; });
  }
  if (g)
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        const double dc = dcos[i * n + j];
        if (dc == 0.0) continue;
        const float* a = e + i * d;
        const float* b = e + (n + j) * d;
        const double c = cos[i * n + j], na = norm[i], nb = norm[n + j];
        // d cos / d a = b / (|a||b|) - cos a / |a|^2, and symmetrically for b.
        for (std::size_t k = 0; k < d; ++k) {
          g[i * d + k] += float(dc * (b[k] / (na * nb) - c * a[k] / (na * na)));
          g[(n + j) * d + k] += float(dc * (a[k] / (na * nb) - c * b[k] / (nb * nb)));
        }
      }
  return loss;
}
}  // namespace detail

/// Multiple negatives ranking loss (Henderson et al. 2017; sentence-transformers' MultipleNegativesRankingLoss):
/// for pairs (a_i, b_i) that match, cross-entropy of softmax_j(scale * cos(a_i, b_j)) at j = i, so every other
/// b_j of the batch serves as a negative of a_i. `symmetric` adds the same over the anchors for each b_i
/// (MultipleNegativesSymmetricRankingLoss), averaging the two. Trains a Siamese model on the embeddings (arity 2);
/// a pair labelled 0 is not a query but its b still serves as a negative. Larger batches give more negatives.
struct MultipleNegativesRanking {
  float scale = 20.0f;
  bool symmetric = false;
  static constexpr std::size_t arity = 2;
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    thread_local std::vector<float> e, y, g;
    e.resize(2 * n * d);
    y.resize(n);
    B::to_host(e.data(), emb, 2 * n * d);
    B::to_host(y.data(), labels, n);
    if (demb) g.resize(2 * n * d);
    const double l = detail::multiple_negatives_ranking(e.data(), y.data(), n, d, scale, symmetric,
                                                        demb ? g.data() : nullptr);
    if (demb) B::to_device(demb, g.data(), 2 * n * d);
    return float(l);
  }
};

}  // namespace siamese
