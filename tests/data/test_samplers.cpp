#include <siamese/data/samplers.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace {

// Unequal class sizes, a singleton class (3) and an absent label (5): the awkward cases.
std::vector<std::uint8_t> uneven_labels() {
  std::vector<std::uint8_t> l;
  for (int i = 0; i < 40; ++i) l.push_back(static_cast<std::uint8_t>(i % 3));  // 0, 1, 2 mixed
  l.push_back(3);
  for (int i = 0; i < 7; ++i) l.push_back(4);
  for (int i = 0; i < 2; ++i) l.push_back(6);
  return l;
}

double sq_dist(const std::vector<float>& e, std::size_t dim, std::size_t a, std::size_t b) {
  double s = 0;
  for (std::size_t k = 0; k < dim; ++k) s += std::pow(double{e[a * dim + k]} - e[b * dim + k], 2);
  return s;
}

}  // namespace

TEST_CASE("uniform_below is unbiased and matches the plain modulo for powers of two") {
  std::mt19937_64 a(7), b(7);
  for (int i = 0; i < 100; ++i) CHECK(siamese::detail::uniform_below(a, 64) == b() % 64);
  std::mt19937_64 rng(1);
  std::vector<int> hist(6);
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) ++hist[siamese::detail::uniform_below(rng, 6)];
  for (int h : hist) CHECK(std::abs(h - draws / 6) < 5 * std::sqrt(draws / 6.0));  // ~5 sigma
  CHECK_THROWS_AS(siamese::detail::uniform_below(rng, 0), std::invalid_argument);
}

TEST_CASE("ClassIndex groups samples by class") {
  const auto labels = uneven_labels();
  const siamese::ClassIndex idx(labels);
  CHECK(idx.size() == labels.size());
  CHECK(idx.class_count() == 7);
  for (std::size_t c = 0; c < 7; ++c) {
    std::vector<std::size_t> expect;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) expect.push_back(i);
    const auto m = idx.members(c);
    CHECK(std::vector<std::size_t>(m.begin(), m.end()) == expect);
  }
  CHECK(idx.classes_with_pairs() == std::vector<std::size_t>{0, 1, 2, 4, 6});
  CHECK(idx.classes_present() == std::vector<std::size_t>{0, 1, 2, 3, 4, 6});
  std::mt19937_64 rng(3);
  for (int i = 0; i < 500; ++i) {
    const std::size_t c = i % 7 == 5 ? 0 : static_cast<std::size_t>(i % 7);
    CHECK(labels[idx.draw_non_member(c, rng)] != c);
    if (idx.class_size(c) > 0) CHECK(labels[idx.draw_member(c, rng)] == c);
  }
  const std::vector<int> bad{0, 1, -2};
  CHECK_THROWS_AS(siamese::ClassIndex{bad}, std::invalid_argument);
}

TEST_CASE("PairSampler: balanced, correct targets, reproducible") {
  const auto labels = uneven_labels();
  siamese::PairSampler s(labels, 11), same(labels, 11), other(labels, 12);
  for (std::size_t n : {1u, 2u, 7u, 1000u}) {
    const auto p = s.sample(n);
    REQUIRE(p.size() == n);
    REQUIRE(p.right.size() == n);
    REQUIRE(p.target.size() == n);
    std::size_t positives = 0;
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(p.left[i] < labels.size());
      REQUIRE(p.right[i] < labels.size());
      const bool same_class = labels[p.left[i]] == labels[p.right[i]];
      CHECK(p.target[i] == (same_class ? 1.0f : 0.0f));
      if (same_class) {
        CHECK(p.left[i] != p.right[i]);
        CHECK(labels[p.left[i]] != 3);  // the singleton class cannot form a positive pair
        ++positives;
      }
    }
    CHECK(positives == n / 2);
    const auto q = same.sample(n);
    CHECK(q.left == p.left);
    CHECK(q.right == p.right);
    if (n >= 7) CHECK(other.sample(n).left != p.left);
  }
  // Positive classes are chosen uniformly: 5 eligible classes.
  std::map<int, int> freq;
  const auto big = s.sample(20000);
  for (std::size_t i = 0; i < big.size(); ++i)
    if (big.target[i] == 1.0f) ++freq[labels[big.left[i]]];
  CHECK(freq.size() == 5);
  for (auto [c, f] : freq) CHECK(std::abs(f - 2000) < 250);
  // The shuffle leaves no run of positives at the front.
  CHECK(std::count(big.target.begin(), big.target.begin() + 100, 1.0f) < 80);
  CHECK_THROWS_AS(siamese::PairSampler(std::vector<int>{1, 1, 1}, 1), std::invalid_argument);
  CHECK_THROWS_AS(siamese::PairSampler(std::vector<int>{0, 1, 2}, 1), std::invalid_argument);
}

TEST_CASE("TripletSampler: valid triplets and hard negatives") {
  const auto labels = uneven_labels();
  siamese::TripletSampler s(labels, 5), same(labels, 5);
  const auto t = s.sample(500);
  REQUIRE(t.size() == 500);
  for (std::size_t i = 0; i < t.size(); ++i) {
    CHECK(t.anchor[i] != t.positive[i]);
    CHECK(labels[t.anchor[i]] == labels[t.positive[i]]);
    CHECK(labels[t.negative[i]] != labels[t.anchor[i]]);
  }
  CHECK(same.sample(500).negative == t.negative);

  // Embeddings with distinct distances; a pool far larger than the set sees every candidate, so the mined
  // negative must be the brute-force nearest sample of another class.
  const std::size_t dim = 3;
  std::vector<float> emb(labels.size() * dim);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  for (auto& v : emb) v = normal(rng);
  const auto hard = s.sample_hard(200, emb, dim, 2000);
  double hard_mean = 0, random_mean = 0;
  for (std::size_t i = 0; i < hard.size(); ++i) {
    const std::size_t a = hard.anchor[i];
    CHECK(labels[hard.positive[i]] == labels[a]);
    CHECK(hard.positive[i] != a);
    std::size_t best = 0;
    double best_d = INFINITY;
    for (std::size_t j = 0; j < labels.size(); ++j)
      if (labels[j] != labels[a] && sq_dist(emb, dim, a, j) < best_d) best_d = sq_dist(emb, dim, a, j), best = j;
    CHECK(hard.negative[i] == best);
    hard_mean += sq_dist(emb, dim, a, hard.negative[i]);
    random_mean += sq_dist(emb, dim, t.anchor[i], t.negative[i]);
  }
  CHECK(hard_mean < 0.5 * random_mean);
  // A pool of one is a random negative.
  const auto one = s.sample_hard(100, emb, dim, 1);
  for (std::size_t i = 0; i < one.size(); ++i) CHECK(labels[one.negative[i]] != labels[one.anchor[i]]);
  CHECK_THROWS_AS(s.sample_hard(1, std::span<const float>(emb).first(10), dim, 4), std::invalid_argument);
  CHECK_THROWS_AS(s.sample_hard(1, emb, dim, 0), std::invalid_argument);
}

TEST_CASE("PKSampler: P distinct classes, K samples each") {
  const auto labels = uneven_labels();
  siamese::PKSampler s(labels, 4, 5, 21), same(labels, 4, 5, 21);
  CHECK(s.batch_size() == 20);
  std::map<int, int> class_freq;
  for (int b = 0; b < 200; ++b) {
    const auto batch = s.next();
    REQUIRE(batch.indices.size() == 20);
    REQUIRE(batch.labels.size() == 20);
    std::set<int> classes;
    for (std::size_t p = 0; p < 4; ++p) {
      const int c = batch.labels[p * 5];
      classes.insert(c);
      ++class_freq[c];
      std::set<std::size_t> members;
      for (std::size_t k = 0; k < 5; ++k) {
        const std::size_t i = batch.indices[p * 5 + k];
        CHECK(batch.labels[p * 5 + k] == c);
        CHECK(labels[i] == c);
        members.insert(i);
      }
      // Classes 0-2 and 4 have >= 5 samples: drawn without replacement; class 6 has two.
      if (c != 6) CHECK(members.size() == 5);
      else CHECK(members.size() <= 2);
    }
    CHECK(classes.size() == 4);
    CHECK(same.next().indices == batch.indices);
  }
  CHECK(class_freq.size() == 5);
  CHECK(class_freq.count(3) == 0);
  for (auto [c, f] : class_freq) CHECK(std::abs(f - 160) < 45);  // 800 picks over 5 classes
  CHECK_THROWS_AS(siamese::PKSampler(labels, 6, 2, 1), std::invalid_argument);
  CHECK_THROWS_AS(siamese::PKSampler(labels, 2, 1, 1), std::invalid_argument);
}

TEST_CASE("PKSchedule: P x K batches as a function of (epoch, index), and shards that concatenate to them") {
  const auto labels = uneven_labels();
  const siamese::PKSchedule pk(labels, 4, 5, 21), again(labels, 4, 5, 21);
  CHECK(pk.batch_size() == 20);
  std::set<std::vector<std::size_t>> distinct;
  for (std::size_t e = 0; e < 3; ++e)
    for (std::size_t i = 0; i < 10; ++i) {
      const auto b = pk.batch(e, i);
      REQUIRE(b.indices.size() == 20);
      std::set<int> classes;
      for (std::size_t k = 0; k < 20; ++k) {
        CHECK(labels[b.indices[k]] == b.labels[k]);
        CHECK(b.labels[k] == b.labels[k / 5 * 5]);
        classes.insert(b.labels[k]);
      }
      CHECK(classes.size() == 4);
      CHECK(again.batch(e, i).indices == b.indices);  // a pure function of (seed, epoch, index)
      distinct.insert(b.indices);
      for (std::size_t world = 1; world <= 4; ++world) {  // the shards of every world size, in rank order
        std::vector<std::size_t> joined;
        std::vector<int> joined_labels;
        for (std::size_t r = 0; r < world; ++r) {
          const auto s = pk.shard(e, i, r, world);
          CHECK(s.indices.size() == 20 * (r + 1) / world - 20 * r / world);
          joined.insert(joined.end(), s.indices.begin(), s.indices.end());
          joined_labels.insert(joined_labels.end(), s.labels.begin(), s.labels.end());
          if (world == 2 || world == 4) CHECK(s.indices.size() == 20 / world);  // whole classes when world divides P
        }
        CHECK(joined == b.indices);
        CHECK(joined_labels == b.labels);
      }
    }
  CHECK(distinct.size() == 30);
  CHECK_THROWS_AS(pk.shard(0, 0, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(siamese::PKSchedule(labels, 6, 2, 1), std::invalid_argument);
}

TEST_CASE("gather copies indexed images into a contiguous batch") {
  siamese::ImageSet set;
  set.count = 6;
  set.rows = 2;
  set.cols = 3;
  for (std::size_t i = 0; i < 36; ++i) set.pixels.push_back(static_cast<float>(i) * 0.25f);
  set.labels = {5, 4, 3, 2, 1, 0};
  const std::vector<std::size_t> idx{4, 0, 4, 5};
  const auto batch = siamese::gather(set, idx);
  REQUIRE(batch.size() == 24);
  for (std::size_t b = 0; b < idx.size(); ++b)
    for (std::size_t k = 0; k < 6; ++k) CHECK(batch[b * 6 + k] == set.image(idx[b])[k]);
  CHECK(siamese::gather_labels(set, idx) == std::vector<int>{1, 5, 1, 0});
  const std::vector<std::size_t> bad{1, 6};
  CHECK_THROWS_AS(siamese::gather(set, bad), std::out_of_range);
  CHECK_THROWS_AS(siamese::gather_labels(set, bad), std::out_of_range);
  std::vector<float> wrong(5);
  CHECK_THROWS_AS(siamese::gather(set, idx, wrong), std::invalid_argument);
}
