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
  std::vector<double> norm(2 * n), cos(n * n);
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
  std::vector<char> query(n);
  std::size_t queries = 0;
  for (std::size_t i = 0; i < n; ++i) queries += (query[i] = labels ? labels[i] != 0.0f : 1);
  if (g)
    for (std::size_t k = 0; k < 2 * n * d; ++k) g[k] = 0.0f;
  if (queries == 0) return 0.0;
  // dL/dcos, accumulated from the row (anchor -> candidates) and column (candidate -> anchors) softmaxes.
  std::vector<double> dcos(n * n, 0.0);
  double loss = 0;
  const double w = (symmetric ? 0.5 : 1.0) / double(queries);
  std::vector<double> p(n);
  auto softmax_ce = [&](std::size_t target, auto score, auto at) {
    double m = -INFINITY;
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, score(j));
    double z = 0;
    for (std::size_t j = 0; j < n; ++j) z += (p[j] = std::exp(score(j) - m));
    loss += w * (std::log(z) + m - score(target));
    for (std::size_t j = 0; j < n; ++j) at(j) += w * scale * (p[j] / z - (j == target ? 1.0 : 0.0));
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (!query[i]) continue;
    softmax_ce(i, [&](std::size_t j) { return scale * cos[i * n + j]; },
               [&](std::size_t j) -> double& { return dcos[i * n + j]; });
    // The column form (candidate b_i against every anchor that is a query) when symmetric.
    if (symmetric) {
      double m = -INFINITY;
      for (std::size_t a = 0; a < n; ++a)
        if (query[a]) m = std::max(m, scale * cos[a * n + i]);
      double z = 0;
      for (std::size_t a = 0; a < n; ++a) z += (p[a] = query[a] ? std::exp(scale * cos[a * n + i] - m) : 0.0);
      loss += w * (std::log(z) + m - scale * cos[i * n + i]);
      for (std::size_t a = 0; a < n; ++a)
        if (query[a]) dcos[a * n + i] += w * scale * (p[a] / z - (a == i ? 1.0 : 0.0));
    }
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
