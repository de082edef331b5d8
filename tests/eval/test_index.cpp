#include <siamese/eval/index.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using siamese::Distance;

namespace {

std::vector<float> random_rows(std::size_t n, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n * dim);
  for (auto& x : v) x = normal(rng);
  return v;
}

double brute_distance(const float* a, const float* b, std::size_t dim, Distance d) {
  double sq = 0, dot = 0, na = 0, nb = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    sq += (double{a[k]} - b[k]) * (double{a[k]} - b[k]);
    dot += double{a[k]} * b[k];
    na += double{a[k]} * a[k];
    nb += double{b[k]} * b[k];
  }
  if (d == Distance::SquaredEuclidean) return sq;
  if (d == Distance::Euclidean) return std::sqrt(sq);
  return 1 - dot / std::sqrt(na * nb);
}

// Checks one search against a double-precision brute force; indices must agree wherever the brute-force
// ranking has a clear gap (float rounding may swap near-ties).
void check_parity(const siamese::EmbeddingIndex& idx, const std::vector<float>& db, const std::vector<float>& q,
                  std::size_t k) {
  const std::size_t dim = idx.dim(), n = idx.size(), nq = q.size() / dim;
  const auto res = idx.search(q, k);
  REQUIRE(res.queries == nq);
  REQUIRE(res.k == std::min(k, n));
  for (std::size_t i = 0; i < nq; ++i) {
    std::vector<std::pair<double, std::size_t>> all;
    for (std::size_t j = 0; j < n; ++j)
      all.emplace_back(brute_distance(q.data() + i * dim, db.data() + j * dim, dim, idx.metric()), j);
    std::sort(all.begin(), all.end());
    const auto got = res.neighbours(i);
    const auto got_d = res.neighbour_distances(i);
    CHECK(std::set<std::size_t>(got.begin(), got.end()).size() == got.size());
    for (std::size_t j = 0; j < res.k; ++j) {
      const double tol = 1e-4 * std::max(1.0, std::abs(all[j].first));
      CHECK(got_d[j] == doctest::Approx(all[j].first).epsilon(1e-4).scale(1.0));
      CHECK(std::abs(brute_distance(q.data() + i * dim, db.data() + got[j] * dim, dim, idx.metric()) - got_d[j]) < tol);
      if (j > 0) CHECK(got_d[j] >= got_d[j - 1]);
      const bool clear = (j == 0 || all[j].first - all[j - 1].first > tol) &&
                         (j + 1 == n || all[j + 1].first - all[j].first > tol);
      if (clear) CHECK(got[j] == all[j].second);
    }
  }
}

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("siamese_test_index_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<unsigned char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const fs::path& p, const std::vector<unsigned char>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST_CASE("search matches brute force on awkward sizes") {
  unsigned seed = 1;
  for (Distance d : {Distance::SquaredEuclidean, Distance::Euclidean, Distance::Cosine})
    for (std::size_t n : {1u, 7u, 33u, 127u})
      for (std::size_t dim : {1u, 3u, 17u, 64u}) {
        CAPTURE(static_cast<int>(d));
        CAPTURE(n);
        CAPTURE(dim);
        const auto db = random_rows(n, dim, seed++);
        auto q = random_rows(11, dim, seed++);
        std::copy_n(db.begin(), dim, q.begin());  // one query sits on a database row
        siamese::EmbeddingIndex idx(dim, d);
        // Added in two parts, to exercise appends.
        idx.add(std::span<const float>(db).first(n / 2 * dim));
        idx.add(std::span<const float>(db).subspan(n / 2 * dim));
        REQUIRE(idx.size() == n);
        // k = 5 takes the bounded-heap selection, k = 100 < n the full selection.
        for (std::size_t k : {std::size_t{1}, std::size_t{5}, std::size_t{100}, n, n + 3}) check_parity(idx, db, q, k);
      }
}

TEST_CASE("many queries in parallel match brute force") {
  const std::size_t n = 1500, dim = 40, nq = 257;
  const auto db = random_rows(n, dim, 100);
  const auto q = random_rows(nq, dim, 101);
  siamese::EmbeddingIndex idx(dim, Distance::SquaredEuclidean);
  idx.add(db);
  check_parity(idx, db, q, 10);
}

TEST_CASE("ties go to the lower index; labels and rows are kept") {
  const std::vector<float> db{1, 1, 0, 0, 1, 1, 5, 5};  // rows 0 and 2 coincide
  const std::vector<int> labels{7, 8, 9, 10};
  siamese::EmbeddingIndex idx(2);
  idx.add(db, labels);
  const std::vector<float> q{1, 1};
  const auto r = idx.search(q, 4);
  CHECK(std::vector<std::size_t>(r.indices.begin(), r.indices.end()) == std::vector<std::size_t>{0, 2, 1, 3});
  CHECK(r.distances == std::vector<float>{0, 0, 2, 32});
  const auto r2 = idx.search(q, 2);  // the bounded-heap path breaks ties the same way
  CHECK(std::vector<std::size_t>(r2.indices.begin(), r2.indices.end()) == std::vector<std::size_t>{0, 2});
  const auto r1 = idx.search(std::vector<float>{1, 1, 0.5f, 0.5f}, 1);
  CHECK(std::vector<std::size_t>(r1.indices.begin(), r1.indices.end()) == std::vector<std::size_t>{0, 0});
  CHECK(std::vector<int>(idx.labels().begin(), idx.labels().end()) == labels);
  CHECK(idx.embedding(3)[1] == 5.0f);
  CHECK_THROWS_AS(idx.embedding(4), std::out_of_range);
  CHECK(idx.search(std::vector<float>{}, 3).queries == 0);
  siamese::EmbeddingIndex empty(2);
  CHECK(empty.search(q, 3).k == 0);
}

TEST_CASE("cosine treats a zero vector as distance 1") {
  siamese::EmbeddingIndex idx(3, Distance::Cosine);
  idx.add(std::vector<float>{0, 0, 0, 1, 0, 0});
  const auto r = idx.search(std::vector<float>{2, 0, 0}, 2);
  CHECK(r.indices[0] == 1);
  CHECK(r.distances[0] == doctest::Approx(0.0).scale(1.0));
  CHECK(r.distances[1] == 1.0f);
}

TEST_CASE("bad input is refused") {
  siamese::EmbeddingIndex idx(3);
  CHECK_THROWS_AS(idx.add(std::vector<float>{1, 2}), std::invalid_argument);
  CHECK_THROWS_AS(idx.add(std::vector<float>{1, 2, 3}, std::vector<int>{1, 2}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(idx.add(std::vector<float>{1, 2, 3, 4, INFINITY, 6}), doctest::Contains("row 1, column 1"),
                       std::invalid_argument);
  idx.add(std::vector<float>{1, 2, 3});
  CHECK_THROWS_AS(idx.search(std::vector<float>{1, NAN, 3}, 1), std::invalid_argument);
  CHECK_THROWS_AS(siamese::EmbeddingIndex(0), std::invalid_argument);
}

TEST_CASE("save and load round-trip; corrupt files are refused by name") {
  const std::size_t n = 33, dim = 17;
  const auto db = random_rows(n, dim, 7);
  std::vector<int> labels(n);
  std::iota(labels.begin(), labels.end(), -3);
  siamese::EmbeddingIndex idx(dim, Distance::Cosine);
  idx.add(db, labels);
  const auto path = temp_file("roundtrip.idx");
  idx.save(path);
  CHECK_FALSE(fs::exists(fs::path(path.string() + ".tmp")));
  CHECK(fs::file_size(path) == 32 + n * dim * 4 + n * 4 + 4);
  const auto back = siamese::EmbeddingIndex::load(path);
  CHECK(back.size() == n);
  CHECK(back.dim() == dim);
  CHECK(back.metric() == Distance::Cosine);
  CHECK(std::equal(back.labels().begin(), back.labels().end(), labels.begin(), labels.end()));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < dim; ++k) CHECK(back.embedding(i)[k] == db[i * dim + k]);
  const auto q = random_rows(5, dim, 8);
  const auto r1 = idx.search(q, 6), r2 = back.search(q, 6);
  CHECK(r1.indices == r2.indices);
  CHECK(r1.distances == r2.distances);

  // Saving over an existing file replaces it.
  siamese::EmbeddingIndex small(dim);
  small.add(std::span<const float>(db).first(dim));
  small.save(path);
  CHECK(siamese::EmbeddingIndex::load(path).size() == 1);
  idx.save(path);

  const auto bytes = read_all(path);
  const auto bad = temp_file("bad.idx");
  SUBCASE("a flipped byte fails the checksum") {
    auto b = bytes;
    b[100] ^= 0x10;
    write_all(bad, b);
    CHECK_THROWS_WITH_AS(siamese::EmbeddingIndex::load(bad), doctest::Contains("bad.idx' is corrupt: CRC32"),
                         siamese::IndexFileError);
  }
  SUBCASE("truncation") {
    for (std::size_t keep : {std::size_t{0}, std::size_t{20}, bytes.size() - 1}) {
      write_all(bad, std::vector<unsigned char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
      CHECK_THROWS_WITH_AS(siamese::EmbeddingIndex::load(bad), doctest::Contains("truncated"), siamese::IndexFileError);
    }
  }
  SUBCASE("an absurd size is refused before allocating") {
    auto b = bytes;
    b[16 + 7] = 0x7f;  // count's top byte
    write_all(bad, b);
    CHECK_THROWS_WITH_AS(siamese::EmbeddingIndex::load(bad), doctest::Contains("absurd"), siamese::IndexFileError);
  }
  SUBCASE("wrong magic and missing file") {
    auto b = bytes;
    b[0] = 'X';
    write_all(bad, b);
    CHECK_THROWS_WITH_AS(siamese::EmbeddingIndex::load(bad), doctest::Contains("wrong magic"), siamese::IndexFileError);
    CHECK_THROWS_WITH_AS(siamese::EmbeddingIndex::load(temp_file("missing.idx")), doctest::Contains("missing.idx"),
                         siamese::IndexFileError);
  }
  SUBCASE("an unwritable destination") {
    CHECK_THROWS_AS(idx.save(temp_file("no_such_dir") / "x.idx"), siamese::IndexFileError);
  }
  std::error_code ec;
  fs::remove(bad, ec);
  fs::remove(path, ec);
}
