#include <siamese/eval/retrieval.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using siamese::Distance;

namespace {

struct Expected {
  double p1 = 0, map = 0;
  std::vector<double> recall;
  std::size_t evaluated = 0;
};

// Full rankings in double precision and the metrics straight from their definitions.
Expected brute(const std::vector<float>& db, const std::vector<int>& db_l, const std::vector<float>& q,
               const std::vector<int>& q_l, std::size_t dim, const std::vector<std::size_t>& ks, bool self) {
  Expected e;
  e.recall.assign(ks.size(), 0);
  for (std::size_t i = 0; i < q_l.size(); ++i) {
    std::vector<std::pair<double, std::size_t>> rank;
    for (std::size_t j = 0; j < db_l.size(); ++j) {
      if (self && j == i) continue;
      double s = 0;
      for (std::size_t k = 0; k < dim; ++k) s += std::pow(double{q[i * dim + k]} - db[j * dim + k], 2);
      rank.emplace_back(s, j);
    }
    std::sort(rank.begin(), rank.end());
    std::size_t r = 0;
    for (const auto& x : rank) r += db_l[x.second] == q_l[i];
    if (r == 0) continue;
    ++e.evaluated;
    e.p1 += db_l[rank[0].second] == q_l[i];
    for (std::size_t t = 0; t < ks.size(); ++t) {
      bool any = false;
      for (std::size_t j = 0; j < std::min(ks[t], rank.size()); ++j) any |= db_l[rank[j].second] == q_l[i];
      e.recall[t] += any;
    }
    double ap = 0;
    for (std::size_t m = 1; m <= r; ++m) {
      if (db_l[rank[m - 1].second] != q_l[i]) continue;
      std::size_t rel_in_top_m = 0;
      for (std::size_t j = 0; j < m; ++j) rel_in_top_m += db_l[rank[j].second] == q_l[i];
      ap += static_cast<double>(rel_in_top_m) / static_cast<double>(m);
    }
    e.map += ap / static_cast<double>(r);
  }
  e.p1 /= static_cast<double>(e.evaluated);
  e.map /= static_cast<double>(e.evaluated);
  for (auto& x : e.recall) x /= static_cast<double>(e.evaluated);
  return e;
}

}  // namespace

TEST_CASE("hand-derived 1-D retrieval") {
  // Database 0, 1 (label 0) and 2, 10, 11 (label 1).
  siamese::EmbeddingIndex db(1);
  db.add(std::vector<float>{0, 1, 2, 10, 11}, std::vector<int>{0, 0, 1, 1, 1});
  // Query 0.1 (label 0) ranks 0, 1, ...: AP = (1/1 + 2/2) / 2 = 1.
  // Query 1.6 (label 1) ranks 2, 1, 0, 10, 11: R = 3, only rank 1 relevant among the first 3: AP = 1/3.
  const auto m = siamese::retrieval_metrics(db, std::vector<float>{0.1f, 1.6f}, std::vector<int>{0, 1},
                                            {.ks = {1, 2}, .queries_in_database = false});
  CHECK(m.evaluated == 2);
  CHECK(m.precision_at_1 == 1.0);
  CHECK(m.map_at_r == doctest::Approx(2.0 / 3));
  REQUIRE(m.recall_at.size() == 2);
  CHECK(m.recall_at[0] == std::pair<std::size_t, double>{1, 1.0});
  // A query whose label is absent from the database is skipped.
  const auto s = siamese::retrieval_metrics(db, std::vector<float>{0.1f, 5.0f}, std::vector<int>{0, 4});
  CHECK(s.evaluated == 1);
  CHECK(s.skipped == 1);
}

TEST_CASE("retrieval metrics match brute force, with and without the query in the database") {
  const std::size_t dim = 6, n = 120, nq = 40;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> db(n * dim), q(nq * dim);
  std::vector<int> db_l(n), q_l(nq);
  for (std::size_t i = 0; i < n; ++i) {
    db_l[i] = static_cast<int>(rng() % 5);
    for (std::size_t k = 0; k < dim; ++k) db[i * dim + k] = normal(rng) + (k == 0 ? 1.5f * db_l[i] : 0.0f);
  }
  for (std::size_t i = 0; i < nq; ++i) {
    q_l[i] = static_cast<int>(rng() % 6);  // label 5 has no database items
    for (std::size_t k = 0; k < dim; ++k) q[i * dim + k] = normal(rng) + (k == 0 ? 1.5f * q_l[i] : 0.0f);
  }
  siamese::EmbeddingIndex index(dim);
  index.add(db, db_l);
  const std::vector<std::size_t> ks{1, 3, 10};

  const auto e = brute(db, db_l, q, q_l, dim, ks, false);
  const auto m = siamese::retrieval_metrics(index, q, q_l, {.ks = ks});
  CHECK(m.evaluated == e.evaluated);
  CHECK(m.skipped == nq - e.evaluated);
  CHECK(m.precision_at_1 == doctest::Approx(e.p1));
  CHECK(m.map_at_r == doctest::Approx(e.map));
  for (std::size_t t = 0; t < ks.size(); ++t) CHECK(m.recall_at[t].second == doctest::Approx(e.recall[t]));
  CHECK(m.map_at_r > 0.2);  // the classes are separated along the first axis
  CHECK(m.map_at_r < 0.99);

  const auto es = brute(db, db_l, db, db_l, dim, ks, true);
  const auto ms = siamese::retrieval_metrics(index, db, db_l, {.ks = ks, .queries_in_database = true});
  CHECK(ms.evaluated == es.evaluated);
  CHECK(ms.precision_at_1 == doctest::Approx(es.p1));
  CHECK(ms.map_at_r == doctest::Approx(es.map));
  for (std::size_t t = 0; t < ks.size(); ++t) CHECK(ms.recall_at[t].second == doctest::Approx(es.recall[t]));
  // Without exclusion each query finds itself first.
  CHECK(siamese::retrieval_metrics(index, db, db_l).precision_at_1 == 1.0);

  CHECK_THROWS_AS(siamese::retrieval_metrics(index, q, db_l, {.ks = ks}), std::invalid_argument);
  CHECK_THROWS_AS(siamese::retrieval_metrics(index, q, q_l, {.ks = ks, .queries_in_database = true}),
                  std::invalid_argument);
  CHECK_THROWS_AS(siamese::retrieval_metrics(index, q, q_l, {.ks = {0}}), std::invalid_argument);
}

TEST_CASE("deep searches run in chunks of queries") {
  // recall@2000 makes the search depth 2000, so 1100 queries need three chunks of 2^20 / 2000 = 524.
  const std::size_t dim = 2, n = 1100;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> db(n * dim), q(n * dim);
  std::vector<int> db_l(n), q_l(n);
  for (std::size_t i = 0; i < n; ++i) {
    db_l[i] = static_cast<int>(rng() % 4);
    q_l[i] = static_cast<int>(rng() % 4);
    for (std::size_t k = 0; k < dim; ++k) {
      db[i * dim + k] = normal(rng) + static_cast<float>(db_l[i]);
      q[i * dim + k] = normal(rng) + static_cast<float>(q_l[i]);
    }
  }
  siamese::EmbeddingIndex index(dim);
  index.add(db, db_l);
  const std::vector<std::size_t> ks{1, 2000};
  const auto e = brute(db, db_l, q, q_l, dim, ks, false);
  const auto m = siamese::retrieval_metrics(index, q, q_l, {.ks = ks});
  CHECK(m.evaluated == n);
  CHECK(m.precision_at_1 == doctest::Approx(e.p1));
  CHECK(m.map_at_r == doctest::Approx(e.map));
  CHECK(m.recall_at[1].second == 1.0);
}
