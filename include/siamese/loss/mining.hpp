#pragma once
// Online triplet mining over a batch of embeddings: batch-all, batch-hard and semi-hard triplet losses.
//
// All three take E (n x dim, row-major) with one integer class label per row, return the loss and, when `grad`
// is not null, write dL/dE (n x dim). Distances and sums are accumulated in double. Ties in the mining
// decisions go to the lowest index. Which triplets the mean runs over differs, as in the usual definitions:
//   batch-all   mean over the *active* triplets (positive loss) among all valid ones (Hermans et al. 2017, BA+)
//   batch-hard  mean over the anchors that have at least one positive and one negative (Hermans et al. 2017)
//   semi-hard   mean over the (anchor, positive) pairs whose anchor has a negative (FaceNet; TF-Addons)
// A batch with nothing to average gives loss 0 and a zero gradient. A NaN or infinite embedding throws
// NumericError naming the function and the sample; a negative or non-finite margin, std::invalid_argument.

#include <siamese/backend/kinds.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/errors.hpp"

namespace siamese {

// What a mining loss averaged over: `valid` triplets (or anchors, or pairs) considered, `active` ones with
// positive loss.
struct MiningStats {
  std::size_t valid = 0;
  std::size_t active = 0;
};

// A triplet chosen by a mining rule, with its hinge loss max(0, d(a,p) - d(a,n) + margin).
struct MinedTriplet {
  std::size_t anchor, positive, negative;
  double loss;
};

namespace detail {

// Pairwise distances of a batch, kept for the backward pass.
struct BatchDistances {
  std::size_t n = 0;
  std::vector<double> d;      // n x n
  std::vector<double> norms;  // per row, for the cosine distance
  double operator()(std::size_t i, std::size_t j) const { return d[i * n + j]; }
};

template <class T>
void check_mining_input(const T* emb, const int* labels, std::size_t n, std::size_t dim, double margin,
                        const char* who) {
  if (n > 0 && (emb == nullptr || labels == nullptr || dim == 0))
    throw std::invalid_argument(std::string("siamese::") + who + ": null embeddings/labels or dim = 0");
  if (!(margin >= 0.0) || !std::isfinite(margin))
    throw std::invalid_argument(std::string("siamese::") + who + ": margin must be finite and >= 0, got " +
                                std::to_string(margin));
  for (std::size_t i = 0; i < n * dim; ++i)
    if (!std::isfinite(emb[i]))
      throw NumericError(std::string("siamese::") + who + ": the embedding of sample " + std::to_string(i / dim) +
                         " (row " + std::to_string(i / dim) + ", column " + std::to_string(i % dim) + ") is " +
                         (std::isnan(emb[i]) ? "NaN" : "infinite"));
}

template <class T>
BatchDistances pairwise_distances(const T* e, std::size_t n, std::size_t dim, Distance kind) {
  BatchDistances out;
  out.n = n;
  out.d.assign(n * n, 0.0);
  out.norms.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::size_t k = 0; k < dim; ++k) s += double{e[i * dim + k]} * e[i * dim + k];
    out.norms[i] = std::sqrt(s);
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const T* a = e + i * dim;
      const T* b = e + j * dim;
      double v = 0;
      if (kind == Distance::Cosine) {
        double dot = 0;
        for (std::size_t k = 0; k < dim; ++k) dot += double{a[k]} * b[k];
        const double nn = out.norms[i] * out.norms[j];
        v = nn > 0 ? 1.0 - dot / nn : 1.0;  // a zero vector is at distance 1 from everything
      } else {
        for (std::size_t k = 0; k < dim; ++k) {
          const double t = double{a[k]} - b[k];
          v += t * t;
        }
        if (kind == Distance::Euclidean) v = std::sqrt(v);
      }
      out.d[i * n + j] = out.d[j * n + i] = v;
    }
  return out;
}

// grad = sum over (i, j) of g[i*n+j] * d D(i,j) / dE; at D = 0 (Euclidean) or a zero vector (cosine) the
// subgradient 0 is used.
template <class T>
void distance_backward(const T* e, std::size_t n, std::size_t dim, Distance kind, const BatchDistances& dist,
                       const std::vector<double>& g, T* grad) {
  std::vector<double> acc(n * dim, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const double w = g[i * n + j];
      if (w == 0.0 || i == j) continue;
      const T* a = e + i * dim;
      const T* b = e + j * dim;
      double* ga = acc.data() + i * dim;
      double* gb = acc.data() + j * dim;
      if (kind == Distance::Cosine) {
        const double ni = dist.norms[i], nj = dist.norms[j];
        if (ni == 0 || nj == 0) continue;
        const double c = 1.0 - dist(i, j);
        // d(1 - cos)/da = -(b / (|a||b|) - cos * a / |a|^2), and symmetrically for b.
        for (std::size_t k = 0; k < dim; ++k) {
          ga[k] -= w * (b[k] / (ni * nj) - c * a[k] / (ni * ni));
          gb[k] -= w * (a[k] / (ni * nj) - c * b[k] / (nj * nj));
        }
      } else {
        double scale = 2.0;
        if (kind == Distance::Euclidean) {
          if (dist(i, j) == 0) continue;
          scale = 1.0 / dist(i, j);
        }
        for (std::size_t k = 0; k < dim; ++k) {
          const double t = w * scale * (double{a[k]} - b[k]);
          ga[k] += t;
          gb[k] -= t;
        }
      }
    }
  for (std::size_t i = 0; i < n * dim; ++i) grad[i] = static_cast<T>(acc[i]);
}

inline constexpr std::size_t no_index = std::numeric_limits<std::size_t>::max();

// Hardest positive (largest distance) and hardest negative (smallest) for each anchor; no_index where absent.
inline std::vector<MinedTriplet> hardest(const BatchDistances& d, const int* labels, double margin) {
  std::vector<MinedTriplet> out;
  for (std::size_t a = 0; a < d.n; ++a) {
    std::size_t p = no_index, q = no_index;
    for (std::size_t j = 0; j < d.n; ++j) {
      if (j == a) continue;
      if (labels[j] == labels[a]) {
        if (p == no_index || d(a, j) > d(a, p)) p = j;
      } else if (q == no_index || d(a, j) < d(a, q)) {
        q = j;
      }
    }
    if (p != no_index && q != no_index) out.push_back({a, p, q, std::max(0.0, d(a, p) - d(a, q) + margin)});
  }
  return out;
}

// For each (anchor, positive): the nearest negative with d(a,p) < d(a,n) < d(a,p) + margin, else the nearest.
inline std::vector<MinedTriplet> semi_hard(const BatchDistances& d, const int* labels, double margin) {
  std::vector<MinedTriplet> out;
  for (std::size_t a = 0; a < d.n; ++a)
    for (std::size_t p = 0; p < d.n; ++p) {
      if (p == a || labels[p] != labels[a]) continue;
      const double dap = d(a, p);
      std::size_t semi = no_index, hard = no_index;
      for (std::size_t q = 0; q < d.n; ++q) {
        if (labels[q] == labels[a]) continue;
        if (hard == no_index || d(a, q) < d(a, hard)) hard = q;
        if (d(a, q) > dap && d(a, q) < dap + margin && (semi == no_index || d(a, q) < d(a, semi))) semi = q;
      }
      if (hard == no_index) continue;
      const std::size_t q = semi != no_index ? semi : hard;
      out.push_back({a, p, q, std::max(0.0, dap - d(a, q) + margin)});
    }
  return out;
}

// Mean loss over `chosen`, gradient through the distances.
template <class T>
T mean_over(const std::vector<MinedTriplet>& chosen, const T* emb, std::size_t n, std::size_t dim, Distance kind,
            const BatchDistances& d, T* grad, MiningStats* stats) {
  double sum = 0;
  std::size_t active = 0;
  for (const auto& t : chosen)
    if (t.loss > 0) sum += t.loss, ++active;
  if (stats != nullptr) *stats = {chosen.size(), active};
  if (grad != nullptr) {
    std::vector<double> g(n * n, 0.0);
    const double w = chosen.empty() ? 0.0 : 1.0 / static_cast<double>(chosen.size());
    for (const auto& t : chosen)
      if (t.loss > 0) {
        g[t.anchor * n + t.positive] += w;
        g[t.anchor * n + t.negative] -= w;
      }
    distance_backward(emb, n, dim, kind, d, g, grad);
  }
  return chosen.empty() ? T{0} : static_cast<T>(sum / static_cast<double>(chosen.size()));
}

}  // namespace detail

// The batch-hard triplets: for each anchor with a positive and a negative, its farthest positive and nearest
// negative.
template <std::floating_point T>
std::vector<MinedTriplet> mine_batch_hard(const T* emb, const int* labels, std::size_t n, std::size_t dim,
                                          std::type_identity_t<T> margin, Distance d) {
  detail::check_mining_input(emb, labels, n, dim, margin, "mine_batch_hard");
  return detail::hardest(detail::pairwise_distances(emb, n, dim, d), labels, margin);
}

// The semi-hard triplets: every (anchor, positive) pair with the nearest negative farther than the positive
// but within the margin, or the nearest negative when there is no such one.
template <std::floating_point T>
std::vector<MinedTriplet> mine_semi_hard(const T* emb, const int* labels, std::size_t n, std::size_t dim,
                                         std::type_identity_t<T> margin, Distance d) {
  detail::check_mining_input(emb, labels, n, dim, margin, "mine_semi_hard");
  return detail::semi_hard(detail::pairwise_distances(emb, n, dim, d), labels, margin);
}

// Batch-hard triplet loss: mean over valid anchors of max(0, max_p d(a,p) - min_n d(a,n) + margin).
template <std::floating_point T>
T batch_hard_triplet_loss(const T* emb, const int* labels, std::size_t n, std::size_t dim,
                          std::type_identity_t<T> margin, Distance d, std::type_identity_t<T>* grad,
                          MiningStats* stats = nullptr) {
  detail::check_mining_input(emb, labels, n, dim, margin, "batch_hard_triplet_loss");
  const auto dist = detail::pairwise_distances(emb, n, dim, d);
  return detail::mean_over(detail::hardest(dist, labels, margin), emb, n, dim, d, dist, grad, stats);
}

// Semi-hard triplet loss: mean over valid (anchor, positive) pairs of the hinge with the semi-hard negative.
template <std::floating_point T>
T semi_hard_triplet_loss(const T* emb, const int* labels, std::size_t n, std::size_t dim,
                         std::type_identity_t<T> margin, Distance d, std::type_identity_t<T>* grad,
                         MiningStats* stats = nullptr) {
  detail::check_mining_input(emb, labels, n, dim, margin, "semi_hard_triplet_loss");
  const auto dist = detail::pairwise_distances(emb, n, dim, d);
  return detail::mean_over(detail::semi_hard(dist, labels, margin), emb, n, dim, d, dist, grad, stats);
}

// Batch-all triplet loss: over all valid (a, p, n), the mean of max(0, d(a,p) - d(a,n) + margin) taken over
// the triplets where it is positive. O(n^3) time, O(n^2) memory.
template <std::floating_point T>
T batch_all_triplet_loss(const T* emb, const int* labels, std::size_t n, std::size_t dim,
                         std::type_identity_t<T> margin, Distance d, std::type_identity_t<T>* grad,
                         MiningStats* stats = nullptr) {
  detail::check_mining_input(emb, labels, n, dim, margin, "batch_all_triplet_loss");
  const auto dist = detail::pairwise_distances(emb, n, dim, d);
  std::vector<double> g(grad != nullptr ? n * n : 0, 0.0);  // counts, scaled once the active total is known
  double sum = 0;
  std::size_t valid = 0, active = 0;
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t p = 0; p < n; ++p) {
      if (p == a || labels[p] != labels[a]) continue;
      for (std::size_t q = 0; q < n; ++q) {
        if (labels[q] == labels[a]) continue;
        ++valid;
        const double l = dist(a, p) - dist(a, q) + margin;
        if (l <= 0) continue;
        sum += l;
        ++active;
        if (grad != nullptr) {
          g[a * n + p] += 1.0;
          g[a * n + q] -= 1.0;
        }
      }
    }
  if (stats != nullptr) *stats = {valid, active};
  if (grad != nullptr) {
    const double w = active > 0 ? 1.0 / static_cast<double>(active) : 0.0;
    for (auto& v : g) v *= w;
    detail::distance_backward(emb, n, dim, d, dist, g, grad);
  }
  return active > 0 ? static_cast<T>(sum / static_cast<double>(active)) : T{0};
}

}  // namespace siamese
