#pragma once
// Retrieval metrics over an embedding database: precision@1, recall@k and MAP@R (Musgrave et al. 2020).

#include <siamese/eval/index.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace siamese {

// How to evaluate: the k of each recall@k, and whether query i is database row i (then it is left out of its
// own results and of its own count of relevant items).
struct RetrievalOptions {
  std::vector<std::size_t> ks{1, 2, 4, 8};
  bool queries_in_database = false;
};

// Means over the evaluated queries, those with at least one relevant (same-label) database item; the others
// are counted in `skipped`.
//   precision_at_1  the nearest item is relevant
//   recall_at[j]    at least one relevant item among the ks[j] nearest (the metric-learning Recall@K)
//   map_at_r        (1/R) sum_{i<=R} P(i) rel(i), R = number of relevant items
struct RetrievalMetrics {
  std::size_t evaluated = 0, skipped = 0;
  double precision_at_1 = 0;
  std::vector<std::pair<std::size_t, double>> recall_at;  // (k, recall@k)
  double map_at_r = 0;
};

// Metrics for queries (query_labels.size() rows of db.dim() floats) against the labelled database `db`.
inline RetrievalMetrics retrieval_metrics(const EmbeddingIndex& db, std::span<const float> queries,
                                          std::span<const int> query_labels, const RetrievalOptions& opt = {}) {
  const std::size_t nq = query_labels.size();
  if (queries.size() != nq * db.dim())
    throw std::invalid_argument("siamese::retrieval_metrics: " + std::to_string(queries.size()) + " floats for " +
                                std::to_string(nq) + " queries of width " + std::to_string(db.dim()));
  if (opt.queries_in_database && nq != db.size())
    throw std::invalid_argument("siamese::retrieval_metrics: queries_in_database needs as many queries (" +
                                std::to_string(nq) + ") as database rows (" + std::to_string(db.size()) + ")");
  if (opt.ks.empty() || std::count(opt.ks.begin(), opt.ks.end(), std::size_t{0}) > 0)
    throw std::invalid_argument("siamese::retrieval_metrics: ks must be non-empty and positive");
  std::unordered_map<int, std::size_t> label_count;
  for (int l : db.labels()) ++label_count[l];
  const std::size_t self = opt.queries_in_database ? 1 : 0;
  std::size_t depth = *std::max_element(opt.ks.begin(), opt.ks.end());
  for (int l : query_labels) {
    const auto it = label_count.find(l);
    if (it != label_count.end()) depth = std::max(depth, it->second - self);
  }
  depth += self;

  RetrievalMetrics out;
  std::vector<double> recall(opt.ks.size(), 0.0);
  std::vector<std::size_t> hits;
  const auto db_labels = db.labels();
  // Queries go in chunks so that the result of a deep search stays small (2^20 entries, 12 MB).
  const std::size_t chunk = std::max<std::size_t>(1, (std::size_t{1} << 20) / std::max<std::size_t>(depth, 1));
  for (std::size_t c0 = 0; c0 < nq; c0 += chunk) {
    const std::size_t c1 = std::min(nq, c0 + chunk);
    const auto res = db.search(queries.subspan(c0 * db.dim(), (c1 - c0) * db.dim()), depth);
    for (std::size_t q = c0; q < c1; ++q) {
      const auto it = label_count.find(query_labels[q]);
      const std::size_t relevant = it == label_count.end() ? 0 : it->second - self;
      if (relevant == 0) {
        ++out.skipped;
        continue;
      }
      hits.clear();  // relevance of the ranked list, the query itself left out
      for (std::size_t j : res.neighbours(q - c0))
        if (!(opt.queries_in_database && j == q)) hits.push_back(db_labels[j] == query_labels[q]);
      ++out.evaluated;
      out.precision_at_1 += !hits.empty() && hits[0];
      for (std::size_t t = 0; t < opt.ks.size(); ++t) {
        const std::size_t k = std::min(opt.ks[t], hits.size());
        recall[t] += std::find(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), 1) !=
                     hits.begin() + static_cast<std::ptrdiff_t>(k);
      }
      double ap = 0;
      std::size_t found = 0;
      for (std::size_t i = 0; i < std::min(relevant, hits.size()); ++i)
        if (hits[i]) ap += static_cast<double>(++found) / static_cast<double>(i + 1);
      out.map_at_r += ap / static_cast<double>(relevant);
    }
  }
  const double e = out.evaluated > 0 ? static_cast<double>(out.evaluated) : 1.0;
  out.precision_at_1 /= e;
  out.map_at_r /= e;
  for (std::size_t t = 0; t < opt.ks.size(); ++t) out.recall_at.emplace_back(opt.ks[t], recall[t] / e);
  return out;
}

}  // namespace siamese
