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

TEST_CASE("int8 and binary codes: recall against the float index, rescoring, memory") {
  const std::size_t n = 2000, dim = 48, nq = 50, k = 10;
  // Clustered rows, as embeddings are: 20 centres with noise.
  const auto centres = random_rows(20, dim, 21), noise = random_rows(n + nq, dim, 22);
  std::vector<float> all((n + nq) * dim);
  for (std::size_t i = 0; i < n + nq; ++i)
    for (std::size_t j = 0; j < dim; ++j) all[i * dim + j] = 2.0f * centres[(i % 20) * dim + j] + noise[i * dim + j];
  const std::vector<float> db(all.begin(), all.begin() + std::ptrdiff_t(n * dim)), q(all.begin() + std::ptrdiff_t(n * dim), all.end());
  for (Distance metric : {Distance::SquaredEuclidean, Distance::Cosine}) {
    CAPTURE(int(metric));
    siamese::EmbeddingIndex exact(dim, metric);
    exact.add(db);
    const auto truth = exact.search(q, k);
    auto recall = [&](const siamese::SearchResult& r) {
      std::size_t hit = 0;
      for (std::size_t i = 0; i < nq; ++i)
        for (std::size_t a : r.neighbours(i))
          for (std::size_t b : truth.neighbours(i)) hit += a == b;
      return double(hit) / double(nq * k);
    };
    siamese::EmbeddingIndex i8(dim, metric, {.codes = siamese::IndexCodes::Int8, .keep_float = true});
    siamese::EmbeddingIndex bin(dim, metric, {.codes = siamese::IndexCodes::Binary, .keep_float = true});
    siamese::EmbeddingIndex bin_only(dim, metric, {.codes = siamese::IndexCodes::Binary});
    i8.add(db);
    bin.add(db);
    bin_only.add(db);
    const double r8 = recall(i8.search(q, k)), rb = recall(bin.search(q, k)),
                 rb_rescored = recall(bin.search(q, k, {.rescore = 100})), r8_rescored = recall(i8.search(q, k, {.rescore = 40}));
    MESSAGE("recall@10: int8 " << r8 << ", int8 rescored " << r8_rescored << ", binary " << rb << ", binary rescored "
                               << rb_rescored);
    CHECK(r8 >= 0.95);
    CHECK(r8_rescored >= r8);
    CHECK(r8_rescored >= 0.99);
    CHECK(rb < r8);
    CHECK(rb_rescored > rb);
    CHECK(rb_rescored >= 0.9);
    CHECK(recall(bin_only.search(q, k)) == rb);
    CHECK_THROWS_WITH_AS(bin_only.search(q, k, {.rescore = 50}), doctest::Contains("keep_float"), std::invalid_argument);
    // Rescored distances are the exact ones.
    const auto rr = bin.search(q, k, {.rescore = 100});
    CHECK(rr.neighbour_distances(0)[0] == doctest::Approx(brute_distance(q.data(), db.data() + rr.neighbours(0)[0] * dim, dim, metric)).epsilon(1e-5));
    CHECK(exact.code_bytes() == n * dim * 4);
    CHECK(i8.code_bytes() == n * dim + dim * 4);
    CHECK(bin_only.code_bytes() == n * 8 + dim * 4);  // 48 bits in one word a row
    CHECK(bin_only.memory_bytes() < exact.memory_bytes() / 3);
  }
}

TEST_CASE("an index records its model and refuses queries from another") {
  siamese::EmbeddingIndex idx(2, Distance::SquaredEuclidean, {.codes = siamese::IndexCodes::Int8, .model_signature = "Embedder[A]"});
  idx.add(std::vector<float>{0, 1, 1, 0, 2, 2}, std::vector<int>{4, 5, 6});
  const std::vector<float> q{0, 1};
  CHECK(idx.search(q, 1, {.model_signature = "Embedder[A]"}).neighbours(0)[0] == 0);
  CHECK_THROWS_WITH_AS(idx.search(q, 1, {.model_signature = "Embedder[B]"}),
                       doctest::Contains("holds embeddings of Embedder[A] but the queries come from Embedder[B]"),
                       siamese::ShapeError);
  const auto path = temp_file("codes.idx");
  for (auto codes : {siamese::IndexCodes::Float, siamese::IndexCodes::Int8, siamese::IndexCodes::Binary})
    for (bool keep : {false, true}) {
      CAPTURE(int(codes));
      CAPTURE(keep);
      const auto db = random_rows(70, 65, 9);
      siamese::EmbeddingIndex a(65, Distance::Cosine, {.codes = codes, .keep_float = keep, .model_signature = "M"});
      a.add(db);
      a.save(path);
      const auto b = siamese::EmbeddingIndex::load(path);
      CHECK(b.codes() == codes);
      CHECK(b.model_signature() == "M");
      CHECK(b.memory_bytes() == a.memory_bytes());
      for (std::size_t i = 0; i < 70; i += 7) CHECK(b.embedding(i) == a.embedding(i));
      const auto qq = random_rows(3, 65, 10);
      CHECK(a.search(qq, 5).indices == b.search(qq, 5).indices);
      CHECK_THROWS_AS(b.search(qq, 5, {.model_signature = "N"}), siamese::ShapeError);
      auto bytes = read_all(path);
      bytes[bytes.size() / 2] ^= 1;
      write_all(path, bytes);
      CHECK_THROWS_AS(siamese::EmbeddingIndex::load(path), siamese::IndexFileError);
      bytes[bytes.size() / 2] ^= 1;
      bytes.pop_back();
      write_all(path, bytes);
      CHECK_THROWS_WITH_AS(siamese::EmbeddingIndex::load(path), doctest::Contains("truncated"), siamese::IndexFileError);
    }
  siamese::EmbeddingIndex empty(5, Distance::SquaredEuclidean, {.codes = siamese::IndexCodes::Int8});
  empty.save(path);
  CHECK(siamese::EmbeddingIndex::load(path).size() == 0);
  fs::remove(path);
}
