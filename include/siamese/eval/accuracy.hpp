#pragma once
// accuracy_report: the retrieval and clustering metrics of pytorch-metric-learning's AccuracyCalculator in one
// call, over a query set and a reference set: precision@1, recall@k, R-precision, MAP@R and NMI (k-means over the
// queries with as many clusters as query labels). Also normalized_mutual_info (scikit-learn's, arithmetic mean) and
// kmeans (k-means++ then Lloyd, deterministic from a seed).

#include <siamese/eval/index.hpp>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/random.hpp"

namespace siamese {

// What accuracy_report computes and how.
//   ks                  the k of each recall@k
//   ref_includes_query  the first nq references are the queries themselves (AccuracyCalculator's
//                       ref_includes_query): query i never retrieves reference i, nor counts it as relevant
//   metric              the distance neighbours are ranked by (AccuracyCalculator's default: L2)
//   nmi                 cluster the queries and report NMI (k-means: kmeans_restarts runs from kmeans_seed, the
//                       one of least inertia kept)
struct AccuracyOptions {
  std::vector<std::size_t> ks{1, 2, 4, 8};
  bool ref_includes_query = false;
  Distance metric = Distance::Euclidean;
  bool nmi = true;
  std::uint64_t kmeans_seed = 0;
  std::size_t kmeans_restarts = 4;
  std::size_t kmeans_iterations = 100;
};

// Means over the queries whose label some reference (other than the query itself) has; the others are lone
// queries, counted in `lone` and left out, as AccuracyCalculator does.
//   precision_at_1  the nearest reference has the query's label
//   recall_at[j]    one of the ks[j] nearest references has it (the metric-learning Recall@K)
//   r_precision     share of relevant references among the R nearest, R = number of relevant references
//   map_at_r        (1/R) sum_{i<=R} P(i) rel(i) (Musgrave et al. 2020)
//   nmi             normalized mutual information of the query labels and k-means clusters of the queries
//                   (over every query, lone ones included, as AccuracyCalculator); NaN when not computed
struct AccuracyReport {
  std::size_t queries = 0, references = 0, evaluated = 0, lone = 0;
  double precision_at_1 = 0;
  std::vector<std::pair<std::size_t, double>> recall_at;  // (k, recall@k)
  double r_precision = 0;
  double map_at_r = 0;
  double nmi = std::numeric_limits<double>::quiet_NaN();
  double recall(std::size_t k) const {
    for (const auto& [kk, v] : recall_at)
      if (kk == k) return v;
    throw std::out_of_range("siamese::AccuracyReport::recall: no recall@" + std::to_string(k) + " in the report");
  }
};

// Normalized mutual information of two assignments of the same items (scikit-learn's
// normalized_mutual_info_score, arithmetic mean of the entropies, natural logarithms): 1 for the same partition
// up to renaming, and for two single-cluster assignments.
inline double normalized_mutual_info(std::span<const int> a, std::span<const int> b) {
  if (a.size() != b.size())
    throw ShapeError("siamese::normalized_mutual_info: " + std::to_string(a.size()) + " items in the first "
                     "assignment but " + std::to_string(b.size()) + " in the second");
  const std::size_t n = a.size();
  std::map<int, std::size_t> ca, cb;
  std::map<std::pair<int, int>, std::size_t> joint;
  for (std::size_t i = 0; i < n; ++i) ++ca[a[i]], ++cb[b[i]], ++joint[{a[i], b[i]}];
  if (ca.size() == cb.size() && (ca.size() <= 1)) return 1.0;
  const double N = double(n);
  auto entropy = [&](const std::map<int, std::size_t>& c) {
    double h = 0;
    for (const auto& [k, v] : c) h -= double(v) / N * std::log(double(v) / N);
    return h;
  };
  double mi = 0;
  for (const auto& [k, v] : joint) {
    const double p = double(v) / N;
    mi += p * (std::log(double(v)) + std::log(N) - std::log(double(ca[k.first])) - std::log(double(cb[k.second])));
  }
  if (mi <= 0) return 0.0;
  const double norm = std::max(0.5 * (entropy(ca) + entropy(cb)), std::numeric_limits<double>::epsilon());
  return std::min(mi / norm, 1.0);
}

// k-means over n = points.size() / dim points: k-means++ seeding, then Lloyd's iterations until no point moves
// (at most `iterations`); `restarts` runs from `seed`, the one of least inertia kept. Returns the cluster of each
// point, in [0, min(k, n)).
inline std::vector<int> kmeans(std::span<const float> points, std::size_t dim, std::size_t k, std::uint64_t seed = 0,
                               std::size_t restarts = 4, std::size_t iterations = 100) {
  if (dim == 0 || points.size() % dim != 0)
    throw ShapeError("siamese::kmeans: " + std::to_string(points.size()) + " floats is not a whole number of points "
                     "of width " + std::to_string(dim));
  const std::size_t n = points.size() / dim;
  for (std::size_t i = 0; i < points.size(); ++i)
    if (!std::isfinite(points[i]))
      throw NumericError("siamese::kmeans: coordinate " + std::to_string(i % dim) + " of point " +
                         std::to_string(i / dim) + " is not finite");
  k = std::min(k, n);
  std::vector<int> best(n, 0);
  if (k <= 1 || n == 0) return best;
  double best_inertia = std::numeric_limits<double>::infinity();
  std::vector<double> centres(k * dim), sums(k * dim), d2(n);
  std::vector<std::size_t> counts(k);
  std::vector<int> assign(n);
  auto sq = [&](std::size_t i, const double* c) {
    double s = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      const double t = double(points[i * dim + j]) - c[j];
      s += t * t;
    }
    return s;
  };
  for (std::size_t run = 0; run < std::max<std::size_t>(restarts, 1); ++run) {
    detail::Rng rng(detail::hash2(seed, run));
    // k-means++: each next centre drawn with probability proportional to the squared distance to the nearest one.
    const std::size_t first = rng.below(n);
    for (std::size_t j = 0; j < dim; ++j) centres[j] = points[first * dim + j];
    for (std::size_t i = 0; i < n; ++i) d2[i] = sq(i, centres.data());
    for (std::size_t c = 1; c < k; ++c) {
      double total = 0;
      for (double v : d2) total += v;
      std::size_t pick = 0;
      if (total > 0) {
        double u = double(rng.uniform()) * total;
        for (pick = 0; pick + 1 < n && (u -= d2[pick]) >= 0;) ++pick;
      } else {
        pick = rng.below(n);
      }
      for (std::size_t j = 0; j < dim; ++j) centres[c * dim + j] = points[pick * dim + j];
      for (std::size_t i = 0; i < n; ++i) d2[i] = std::min(d2[i], sq(i, centres.data() + c * dim));
    }
    std::fill(assign.begin(), assign.end(), -1);
    double inertia = 0;
    for (std::size_t it = 0; it < std::max<std::size_t>(iterations, 1); ++it) {
      // Assignment (parallel over points), then the means; an emptied cluster keeps its centre.
      bool moved = false;
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 256), [&](const auto& r) {
        for (std::size_t i = r.begin(); i < r.end(); ++i) {
          double bd = std::numeric_limits<double>::infinity();
          int bc = 0;
          for (std::size_t c = 0; c < k; ++c) {
            const double v = sq(i, centres.data() + c * dim);
            if (v < bd) bd = v, bc = int(c);
          }
          d2[i] = bd;
          assign[i] = bc;
        }
      });
      // The means of the clusters; the run has converged when no centre changes.
      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(counts.begin(), counts.end(), 0);
      inertia = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = std::size_t(assign[i]);
        ++counts[c];
        inertia += d2[i];
        for (std::size_t j = 0; j < dim; ++j) sums[c * dim + j] += points[i * dim + j];
      }
      for (std::size_t c = 0; c < k; ++c) {
        if (counts[c] == 0) continue;
        for (std::size_t j = 0; j < dim; ++j) {
          const double m = sums[c * dim + j] / double(counts[c]);
          moved = moved || m != centres[c * dim + j];
          centres[c * dim + j] = m;
        }
      }
      if (!moved) break;
    }
    if (inertia < best_inertia) best_inertia = inertia, best = assign;
  }
  return best;
}

// The metrics of AccuracyCalculator for nq = query_labels.size() queries (rows of dim floats) against the
// labelled references. With ref_includes_query, references[0 .. nq) must be the queries (checked).
inline AccuracyReport accuracy_report(std::span<const float> queries, std::span<const int> query_labels,
                                      std::span<const float> references, std::span<const int> reference_labels,
                                      std::size_t dim, const AccuracyOptions& opt = {}) {
  const char* who = "siamese::accuracy_report";
  const std::size_t nq = query_labels.size(), nr = reference_labels.size();
  if (dim == 0) throw ShapeError(std::string(who) + ": the embedding width is 0");
  if (queries.size() != nq * dim)
    throw ShapeError(std::string(who) + ": " + std::to_string(queries.size()) + " query floats for " +
                     std::to_string(nq) + " query labels of width " + std::to_string(dim));
  if (references.size() != nr * dim)
    throw ShapeError(std::string(who) + ": " + std::to_string(references.size()) + " reference floats for " +
                     std::to_string(nr) + " reference labels of width " + std::to_string(dim));
  if (opt.ks.empty() || std::count(opt.ks.begin(), opt.ks.end(), std::size_t{0}) > 0)
    throw ShapeError(std::string(who) + ": ks must be non-empty and positive");
  if (opt.ref_includes_query) {
    if (nr < nq)
      throw ShapeError(std::string(who) + ": ref_includes_query needs the " + std::to_string(nq) +
                       " queries as the first references, but there are only " + std::to_string(nr) + " references");
    for (std::size_t i = 0; i < nq; ++i) {
      if (query_labels[i] != reference_labels[i])
        throw ShapeError(std::string(who) + ": ref_includes_query, but query " + std::to_string(i) + " has label " +
                         std::to_string(query_labels[i]) + " and reference " + std::to_string(i) + " label " +
                         std::to_string(reference_labels[i]));
      for (std::size_t j = 0; j < dim; ++j)
        if (queries[i * dim + j] != references[i * dim + j])
          throw ShapeError(std::string(who) + ": ref_includes_query, but query " + std::to_string(i) +
                           " differs from reference " + std::to_string(i) + " in column " + std::to_string(j));
    }
  }
  for (std::size_t i = 0; i < queries.size(); ++i)
    if (!std::isfinite(queries[i]))
      throw NumericError(std::string(who) + ": query " + std::to_string(i / dim) + " is not finite (column " +
                         std::to_string(i % dim) + ")");
  EmbeddingIndex db(dim, opt.metric);
  db.add(references, reference_labels);  // checks that the references are finite

  AccuracyReport out;
  out.queries = nq;
  out.references = nr;
  std::unordered_map<int, std::size_t> label_count;
  for (int l : reference_labels) ++label_count[l];
  const std::size_t self = opt.ref_includes_query ? 1 : 0;
  const auto relevant_of = [&](int l) {
    const auto it = label_count.find(l);
    return it == label_count.end() ? std::size_t{0} : it->second - self;
  };
  std::size_t depth = *std::max_element(opt.ks.begin(), opt.ks.end());
  for (int l : query_labels) depth = std::max(depth, relevant_of(l));
  depth += self;

  std::vector<double> recall(opt.ks.size(), 0.0);
  std::vector<char> hits;
  // Queries go in chunks so that a deep search's result stays small (2^20 entries).
  const std::size_t chunk = std::max<std::size_t>(1, (std::size_t{1} << 20) / std::max<std::size_t>(depth, 1));
  for (std::size_t c0 = 0; c0 < nq; c0 += chunk) {
    const std::size_t c1 = std::min(nq, c0 + chunk);
    const auto res = db.search(queries.subspan(c0 * dim, (c1 - c0) * dim), depth);
    for (std::size_t q = c0; q < c1; ++q) {
      const std::size_t relevant = relevant_of(query_labels[q]);
      if (relevant == 0) {
        ++out.lone;
        continue;
      }
      hits.clear();  // the ranked references' relevance, the query itself left out
      for (std::size_t j : res.neighbours(q - c0))
        if (!(opt.ref_includes_query && j == q)) hits.push_back(reference_labels[j] == query_labels[q]);
      ++out.evaluated;
      out.precision_at_1 += !hits.empty() && hits[0];
      for (std::size_t t = 0; t < opt.ks.size(); ++t) {
        const std::size_t k = std::min(opt.ks[t], hits.size());
        recall[t] += std::find(hits.begin(), hits.begin() + std::ptrdiff_t(k), 1) != hits.begin() + std::ptrdiff_t(k);
      }
      double ap = 0;
      std::size_t found = 0;
      for (std::size_t i = 0; i < std::min(relevant, hits.size()); ++i)
        if (hits[i]) ap += double(++found) / double(i + 1);
      out.map_at_r += ap / double(relevant);
      out.r_precision += double(found) / double(relevant);
    }
  }
  const double e = out.evaluated > 0 ? double(out.evaluated) : std::numeric_limits<double>::quiet_NaN();
  out.precision_at_1 /= e;
  out.map_at_r /= e;
  out.r_precision /= e;
  for (std::size_t t = 0; t < opt.ks.size(); ++t) out.recall_at.emplace_back(opt.ks[t], recall[t] / e);
  if (opt.nmi && nq > 0) {
    std::vector<int> distinct(query_labels.begin(), query_labels.end());
    std::sort(distinct.begin(), distinct.end());
    const std::size_t classes = std::size_t(std::unique(distinct.begin(), distinct.end()) - distinct.begin());
    const auto clusters = kmeans(queries, dim, classes, opt.kmeans_seed, opt.kmeans_restarts, opt.kmeans_iterations);
    out.nmi = normalized_mutual_info(query_labels, clusters);
  }
  return out;
}

// Every sample against all the others (AccuracyCalculator's get_accuracy(x, labels) with no reference set).
inline AccuracyReport accuracy_report(std::span<const float> embeddings, std::span<const int> labels, std::size_t dim,
                                      AccuracyOptions opt = {}) {
  opt.ref_includes_query = true;
  return accuracy_report(embeddings, labels, embeddings, labels, dim, opt);
}

}  // namespace siamese
