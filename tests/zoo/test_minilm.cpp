// all-MiniLM-L6-v2 in the library against sentence-transformers: the parameter count, the WordPiece ids, and the
// sentence embeddings of 78 sentences with the real pretrained weights (golden file from
// scripts/make_minilm_golden.py; the weights come from scripts/fetch_minilm, named by SIAMESE_MINILM_DIR).
#include <siamese/data/wordpiece.hpp>
#include <siamese/model/zoo/minilm.hpp>
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

using namespace siamese;

#ifndef ZOO_DATA
#define ZOO_DATA "."
#endif

namespace {
using Encoder = Embedder<MiniLM_L6<128>>;
static_assert(Encoder::param_count == minilm_l6_parameters, "all-MiniLM-L6-v2 has 22,565,376 encoder parameters");
static_assert(Encoder::embedding_width == 384);
static_assert(Embedder<MiniLM_L6<64, 2>>::param_count == minilm_l6_parameters);

std::filesystem::path minilm_dir() {
  const char* d = std::getenv("SIAMESE_MINILM_DIR");
  if (!d || !*d) FAIL("SIAMESE_MINILM_DIR is not set: run scripts/fetch_minilm and export its output (scripts/test does)");
  return d;
}

const nlohmann::json& golden() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(ZOO_DATA) + "/minilm_golden.json");
    REQUIRE(in);
    return nlohmann::json::parse(in);
  }();
  return j;
}

Encoder& pretrained() {
  static const std::unique_ptr<Encoder> m = [] {
    auto e = std::make_unique<Encoder>(1);
    CHECK(import_bert(*e, minilm_dir() / "model.safetensors") == 5 + 16 * 6);
    return e;
  }();
  return *m;
}

/// The golden ids of sentences [begin, end) as a batch of 128-token rows.
Tensor golden_ids(std::size_t begin, std::size_t end) {
  const auto& s = golden()["sentences"];
  Tensor t({end - begin, 128});
  for (std::size_t i = begin; i < end; ++i) {
    const auto ids = s[i]["input_ids"].get<std::vector<int>>();
    REQUIRE(ids.size() <= 128);
    for (std::size_t k = 0; k < ids.size(); ++k) t.data()[(i - begin) * 128 + k] = float(ids[k]);
  }
  return t;
}
}  // namespace

TEST_CASE("MiniLM: the library's WordPiece ids equal the ones sentence-transformers fed the model") {
  const WordPieceTokenizer tok((minilm_dir() / "vocab.txt").string());
  for (const auto& s : golden()["sentences"]) {
    const auto want = s["input_ids"].get<std::vector<int>>();
    const auto got = tok.encode(s["text"].get<std::string>(), 128);
    CAPTURE(s["text"].get<std::string>());
    REQUIRE(got.size() == 128);
    for (std::size_t k = 0; k < 128; ++k) CHECK(got[k] == (k < want.size() ? want[k] : 0));
  }
}

TEST_CASE("MiniLM: sentence embeddings equal sentence-transformers' (cosine >= 0.9999, max abs diff <= 1e-4)") {
  auto& m = pretrained();
  const auto& s = golden()["sentences"];
  const std::size_t n = s.size();
  REQUIRE(n >= 50);
  double worst_cos = 1, worst_abs = 0;
  for (std::size_t b = 0; b < n; b += 32) {  // batches that mix lengths and truncated sentences
    const std::size_t e = std::min(n, b + 32);
    const Tensor emb = m.embed(golden_ids(b, e));
    for (std::size_t i = b; i < e; ++i) {
      const auto want = s[i]["embedding"].get<std::vector<float>>();
      REQUIRE(want.size() == 384);
      double dot = 0, na = 0, nb = 0, mx = 0;
      for (std::size_t k = 0; k < 384; ++k) {
        const double g = emb[(i - b) * 384 + k];
        dot += g * want[k];
        na += g * g;
        nb += double(want[k]) * want[k];
        mx = std::max(mx, std::fabs(g - want[k]));
      }
      const double c = dot / std::sqrt(na * nb);
      worst_cos = std::min(worst_cos, c);
      worst_abs = std::max(worst_abs, mx);
    }
  }
  MESSAGE("worst cosine " << worst_cos << ", worst max abs difference " << worst_abs << " over " << n << " sentences");
  CHECK(worst_cos >= 0.9999);
  CHECK(worst_abs <= 1e-4);
}

TEST_CASE("MiniLM: a sentence alone (16-token bucket) embeds as in a batch with a 128-token one") {
  auto& m = pretrained();
  const auto& s = golden()["sentences"];
  std::size_t short_i = 0, long_i = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i]["input_ids"].size() <= 16 && !short_i) short_i = i + 1;
    if (s[i]["truncated"].get<bool>() && !long_i) long_i = i + 1;
  }
  REQUIRE(short_i);
  REQUIRE(long_i);
  Tensor both({2, 128});
  const Tensor a = golden_ids(short_i - 1, short_i), l = golden_ids(long_i - 1, long_i);
  std::copy(a.begin(), a.end(), both.begin());
  std::copy(l.begin(), l.end(), both.begin() + 128);
  const Tensor alone = m.embed(a), mixed = m.embed(both);
  double worst = 0;
  for (std::size_t k = 0; k < 384; ++k) worst = std::max(worst, double(std::fabs(alone[k] - mixed[k])));
  MESSAGE("largest difference between the 16- and 128-token buckets: " << worst);
  CHECK(worst <= 1e-6);
}
