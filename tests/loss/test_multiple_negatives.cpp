// MultipleNegativesRanking against sentence-transformers (golden file from scripts/make_loss_golden.py), a
// finite-difference gradient check with non-matching pairs, and training a Siamese model with it.
#include <siamese/loss/multiple_negatives.hpp>
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "../support/gradcheck.hpp"

using namespace siamese;

#ifndef SIAMESE_TEST_DATA
#define SIAMESE_TEST_DATA "."
#endif

namespace {
std::vector<float> numbers(const std::string& line) {
  std::istringstream in(line);
  std::vector<float> v;
  for (float x; in >> x;) v.push_back(x);
  return v;
}
}  // namespace

TEST_CASE("MultipleNegativesRanking equals sentence-transformers' loss and autograd gradient") {
  std::ifstream in(std::string(SIAMESE_TEST_DATA) + "/mnr_golden.txt");
  REQUIRE(in);
  std::string line;
  std::getline(in, line);  // versions
  int cases = 0;
  while (std::getline(in, line)) {
    std::istringstream head(line);
    std::string word, name;
    std::size_t n, d;
    float scale;
    head >> word >> name >> n >> d >> scale;
    REQUIRE(word == "case");
    std::getline(in, line);
    const auto e = numbers(line);
    std::getline(in, line);
    const double want = std::stod(line);
    std::getline(in, line);
    const auto gwant = numbers(line);
    REQUIRE(e.size() == 2 * n * d);
    REQUIRE(gwant.size() == 2 * n * d);
    CAPTURE(name);
    CAPTURE(n);
    const MultipleNegativesRanking loss{scale, name == "symmetric"};
    std::vector<float> labels(n, 1.0f), g(2 * n * d);
    const float got = loss.operator()<backend::Reference>(e.data(), labels.data(), g.data(), n, d);
    CHECK(got == doctest::Approx(want).epsilon(1e-5));
    for (std::size_t k = 0; k < g.size(); ++k) CHECK(g[k] == doctest::Approx(gwant[k]).epsilon(1e-4).scale(1e-4));
    ++cases;
  }
  CHECK(cases == 4);
}

TEST_CASE("gradient check: MultipleNegativesRanking, plain and symmetric, with pairs that are not queries") {
  for (bool symmetric : {false, true}) {
    const std::size_t n = 6, d = 5;
    auto e = test::random_vector(2 * n * d, symmetric ? 3 : 4);
    const std::vector<float> labels{1, 0, 1, 1, 0, 1};
    const MultipleNegativesRanking loss{4.0f, symmetric};
    std::vector<float> g(2 * n * d);
    loss.operator()<backend::Reference>(e.data(), labels.data(), g.data(), n, d);
    test::check_gradient(symmetric ? "symmetric" : "plain", e, g, [&] {
      return double(loss.operator()<backend::Reference>(e.data(), labels.data(), nullptr, n, d));
    });
  }
}

TEST_CASE("MultipleNegativesRanking: a NaN embedding is a NumericError; it is a pair loss") {
  std::vector<float> e(2 * 3 * 2, 1.0f), labels(3, 1.0f);
  e[3] = NAN;
  CHECK_THROWS_AS(MultipleNegativesRanking{}.operator()<backend::Reference>(e.data(), labels.data(), nullptr, 3, 2),
                  NumericError);
  static_assert(PairLoss<MultipleNegativesRanking, backend::Cpu>);
  static_assert(!TripletLossType<MultipleNegativesRanking, backend::Cpu>);
}

TEST_CASE("a Siamese encoder trained with MultipleNegativesRanking ranks each anchor's partner first") {
  // Pairs (x, x + noise) of 12 random points: after training, each anchor's nearest candidate is its partner.
  using Encoder = Sequential<Input<8>, Dense<16, Tanh>, Dense<8>>;
  Siamese<Encoder, Head<Cosine, Classifier<Dense<1>>>> m(2);
  Rng r(9);
  PairBatch b;
  const std::size_t n = 12;
  b.a = Tensor({n, 8});
  b.b = Tensor({n, 8});
  for (std::size_t i = 0; i < n * 8; ++i) {
    b.a.data()[i] = r.uniform(-1, 1);
    b.b.data()[i] = b.a.data()[i] + 0.3f * r.uniform(-1, 1);
  }
  b.labels.assign(n, 1.0f);
  Adam adam;
  adam.learning_rate = 1e-2f;
  const MultipleNegativesRanking loss{10.0f, true};
  const float first = m.train_step(b, loss, adam);
  float last = first;
  for (int s = 0; s < 200; ++s) last = m.train_step(b, loss, adam);
  CHECK(last < 0.2f * first);
  const Tensor ea = m.embed(b.a), eb = m.embed(b.b);
  std::size_t right = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t best = 0;
    double best_cos = -2;
    for (std::size_t j = 0; j < n; ++j) {
      double dot = 0, na = 0, nb = 0;
      for (std::size_t k = 0; k < 8; ++k) {
        dot += ea[i * 8 + k] * eb[j * 8 + k];
        na += ea[i * 8 + k] * ea[i * 8 + k];
        nb += eb[j * 8 + k] * eb[j * 8 + k];
      }
      if (dot / std::sqrt(na * nb) > best_cos) best_cos = dot / std::sqrt(na * nb), best = j;
    }
    right += best == i;
  }
  CHECK(right == n);
}
