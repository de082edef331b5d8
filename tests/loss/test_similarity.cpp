// NTXent, SupCon and MultiSimilarity (loss/similarity.hpp) against pytorch-metric-learning (golden file from
// scripts/make_metric_learning_golden.py) on Reference and Cpu, finite-difference gradient checks, the errors, and
// an Embedder trained with each.
#include <siamese/loss/similarity.hpp>
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

struct Golden {
  std::string name;
  std::size_t n = 0, d = 0;
  std::vector<float> p, labels, e, grad;
  double loss = 0;
};

std::vector<Golden> golden() {
  std::ifstream in(std::string(SIAMESE_TEST_DATA) + "/pml_losses_golden.txt");
  REQUIRE(in);
  std::vector<Golden> out;
  std::string line;
  std::getline(in, line);  // versions
  while (std::getline(in, line)) {
    std::istringstream head(line);
    std::string word;
    Golden g;
    head >> word;
    if (word == "refcase") break;  // read by ref_golden()
    head >> g.name >> g.n >> g.d;
    REQUIRE(word == "case");
    for (float x; head >> x;) g.p.push_back(x);
    std::getline(in, line);
    g.labels = numbers(line);
    std::getline(in, line);
    g.e = numbers(line);
    std::getline(in, line);
    g.loss = std::stod(line);
    std::getline(in, line);
    g.grad = numbers(line);
    REQUIRE(g.e.size() == g.n * g.d);
    REQUIRE(g.grad.size() == g.n * g.d);
    out.push_back(std::move(g));
  }
  return out;
}

struct RefGolden {
  std::string name;
  std::size_t n = 0, m = 0, d = 0;
  std::vector<float> p, labels, e, ref_labels, ref, grad;
  double loss = 0;
};

std::vector<RefGolden> ref_golden() {
  std::ifstream in(std::string(SIAMESE_TEST_DATA) + "/pml_losses_golden.txt");
  REQUIRE(in);
  std::vector<RefGolden> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream head(line);
    std::string word;
    head >> word;
    if (word != "refcase") continue;
    RefGolden g;
    head >> g.name >> g.n >> g.m >> g.d;
    for (float x; head >> x;) g.p.push_back(x);
    std::getline(in, line);
    g.labels = numbers(line);
    std::getline(in, line);
    g.e = numbers(line);
    std::getline(in, line);
    g.ref_labels = numbers(line);
    std::getline(in, line);
    g.ref = numbers(line);
    std::getline(in, line);
    g.loss = std::stod(line);
    std::getline(in, line);
    g.grad = numbers(line);
    REQUIRE(g.ref.size() == g.m * g.d);
    REQUIRE(g.grad.size() == g.n * g.d);
    out.push_back(std::move(g));
  }
  return out;
}

/// Calls f(loss) with the loss a golden case names.
template <class F>
void with_loss(const Golden& g, F&& f) {
  if (g.name == "ntxent") f(NTXent{g.p[0]});
  else if (g.name == "supcon") f(SupCon{g.p[0]});
  else if (g.name == "multisimilarity") f(MultiSimilarity{g.p[0], g.p[1], g.p[2], -1.0f});
  else f(MultiSimilarity{g.p[0], g.p[1], g.p[2], 0.1f});
}

template <class B>
void check_memory_golden() {
  const auto cases = ref_golden();
  CHECK(cases.size() == 4);
  for (const auto& g : cases) {
    CAPTURE(g.name);
    Golden as{g.name, g.n, g.d, g.p, {}, {}, {}, 0};
    with_loss(as, [&](const auto& loss) {
      // A memory of exactly the references: one training call with them as the batch fills it (its own loss is 0,
      // the memory being empty), then the queries' loss and gradient are against them alone.
      CrossBatchMemory<std::decay_t<decltype(loss)>> cbm{loss, g.m};
      std::vector<float> scratch(g.m * g.d);
      CHECK(cbm.template operator()<B>(g.ref.data(), g.ref_labels.data(), scratch.data(), g.m, g.d) == 0.0f);
      CHECK(cbm.filled() == g.m);
      std::vector<float> grad(g.n * g.d);
      // Evaluation first: it reads the memory and leaves it as it is.
      const float eval = cbm.template operator()<B>(g.e.data(), g.labels.data(), nullptr, g.n, g.d);
      const float got = cbm.template operator()<B>(g.e.data(), g.labels.data(), grad.data(), g.n, g.d);
      CHECK(eval == got);
      CHECK(got == doctest::Approx(g.loss).epsilon(2e-5));
      double worst = 0, scale = 0;
      for (std::size_t k = 0; k < grad.size(); ++k) {
        worst = std::max(worst, std::fabs(double(grad[k]) - g.grad[k]));
        scale = std::max(scale, std::fabs(double(g.grad[k])));
      }
      CHECK(scale > 0);
      CHECK(worst <= 2e-5 * std::max(scale, 1.0));
      // The queries were enqueued after use: the oldest n references made way.
      CHECK(cbm.filled() == g.m);
    });
  }
}

template <class B>
void check_golden() {
  const auto cases = golden();
  CHECK(cases.size() == 8);
  for (const auto& g : cases) {
    CAPTURE(g.name);
    CAPTURE(g.n);
    with_loss(g, [&](const auto& loss) {
      std::vector<float> grad(g.n * g.d, 7.0f);
      const float got = loss.template operator()<B>(g.e.data(), g.labels.data(), grad.data(), g.n, g.d);
      CHECK(got == doctest::Approx(g.loss).epsilon(2e-5));
      double worst = 0, scale = 0;
      for (std::size_t k = 0; k < grad.size(); ++k) {
        worst = std::max(worst, std::fabs(double(grad[k]) - g.grad[k]));
        scale = std::max(scale, std::fabs(double(g.grad[k])));
      }
      CHECK(scale > 0);
      CHECK(worst <= 2e-5 * std::max(scale, 1.0));
      // Without a gradient buffer: the same loss.
      CHECK(loss.template operator()<B>(g.e.data(), g.labels.data(), nullptr, g.n, g.d) == got);
    });
  }
}

}  // namespace

TEST_CASE("NTXent, SupCon and MultiSimilarity equal pytorch-metric-learning's losses and autograd gradients") {
  SUBCASE("Reference") { check_golden<backend::Reference>(); }
  SUBCASE("Cpu") { check_golden<backend::Cpu>(); }
}

TEST_CASE("CrossBatchMemory: queries against the memory equal pytorch-metric-learning's losses with ref_emb") {
  SUBCASE("Reference") { check_memory_golden<backend::Reference>(); }
  SUBCASE("Cpu") { check_memory_golden<backend::Cpu>(); }
}

TEST_CASE("CrossBatchMemory: a ring of the latest rows; gradient check against fixed references") {
  const std::size_t d = 4;
  CrossBatchMemory<SupCon> cbm{SupCon{0.2f}, 10};
  std::vector<float> g(6 * d);
  for (int step = 0; step < 3; ++step) {
    const auto e = test::random_vector(6 * d, 30 + std::uint64_t(step));
    const std::vector<float> labels{0, 1, 0, 1, 2, 2};
    const float l = cbm.operator()<backend::Cpu>(e.data(), labels.data(), g.data(), 6, d);
    CHECK(cbm.filled() == std::min<std::size_t>(10, 6 * std::size_t(step + 1)));
    if (step == 0) CHECK(l == 0.0f);
    else CHECK(l > 0.0f);
  }
  cbm.clear();
  CHECK(cbm.filled() == 0);
  const auto copy = cbm;  // copies share the memory
  const auto e = test::random_vector(6 * d, 40);
  const std::vector<float> labels{0, 1, 0, 1, 2, 2};
  copy.operator()<backend::Cpu>(e.data(), labels.data(), g.data(), 6, d);
  CHECK(cbm.filled() == 6);
  CHECK_THROWS_AS(cbm.operator()<backend::Cpu>(e.data(), labels.data(), nullptr, 4, 6), ShapeError);
  CHECK_THROWS_AS(cbm.operator()<backend::Reference>(e.data(), labels.data(), nullptr, 6, d), std::invalid_argument);

  // Finite differences of the queries' loss against fixed, normalised references.
  const std::size_t n = 7, m = 15;
  auto refs = test::random_vector(m * d, 41);
  for (std::size_t r = 0; r < m; ++r) {
    double s = 0;
    for (std::size_t k = 0; k < d; ++k) s += double(refs[r * d + k]) * refs[r * d + k];
    for (std::size_t k = 0; k < d; ++k) refs[r * d + k] = float(refs[r * d + k] / std::sqrt(s));
  }
  std::vector<float> ref_labels(m), q_labels(n);
  for (std::size_t r = 0; r < m; ++r) ref_labels[r] = float(r % 3);
  for (std::size_t i = 0; i < n; ++i) q_labels[i] = float((i * 2) % 4);  // label 3 has no reference
  for (const auto& args : {NTXent{0.3f}.similarity_args(), SupCon{0.3f}.similarity_args(),
                           MultiSimilarity{2.0f, 10.0f, 0.5f, -1.0f}.similarity_args()}) {
    auto q = test::random_vector(n * d, 42);
    std::vector<float> gq(n * d);
    auto loss = [&](float* grad) {
      return detail::similarity_loss_on_refs<backend::Reference>(args, q.data(), q_labels.data(), grad, n, d,
                                                                 refs.data(), ref_labels.data(), m, n * m, "test");
    };
    loss(gq.data());
    test::check_gradient("against references", q, gq, [&] { return double(loss(nullptr)); }, 1e-3, 2e-2, 1e-3);
  }
}

TEST_CASE("gradient check: NTXent, SupCon, MultiSimilarity with and without its miner") {
  const std::size_t n = 10, d = 6;
  const std::vector<float> labels{0, 1, 2, 0, 1, 2, 0, 1, 3, 0};  // class 3 has one sample: no positive
  auto run = [&](const auto& loss, const char* what, std::uint64_t seed) {
    auto e = test::random_vector(n * d, seed);
    std::vector<float> g(n * d);
    loss.template operator()<backend::Reference>(e.data(), labels.data(), g.data(), n, d);
    test::check_gradient(what, e, g, [&] {
      return double(loss.template operator()<backend::Reference>(e.data(), labels.data(), nullptr, n, d));
    }, 1e-3, 2e-2, 1e-3);
  };
  run(NTXent{0.5f}, "NTXent", 1);
  run(SupCon{0.3f}, "SupCon", 2);
  run(MultiSimilarity{2.0f, 10.0f, 0.5f, -1.0f}, "MultiSimilarity", 3);
  // The miner's choice is piecewise constant: a finite difference sees the gradient where no pair changes sides.
  run(MultiSimilarity{2.0f, 10.0f, 0.5f, 0.1f}, "MultiSimilarity mined", 4);
}

TEST_CASE("similarity losses: a batch without pairs gives 0; bad input is refused") {
  const std::size_t n = 4, d = 3;
  auto e = test::random_vector(n * d, 5);
  std::vector<float> g(n * d, 1.0f);
  const std::vector<float> distinct{0, 1, 2, 3}, same{1, 1, 1, 1};
  for (const auto& labels : {distinct, same}) {
    CHECK(NTXent{}.operator()<backend::Cpu>(e.data(), labels.data(), g.data(), n, d) == 0.0f);
    for (float v : g) CHECK(v == 0.0f);
    CHECK(SupCon{}.operator()<backend::Cpu>(e.data(), labels.data(), g.data(), n, d) == 0.0f);
    CHECK(MultiSimilarity{}.operator()<backend::Cpu>(e.data(), labels.data(), g.data(), n, d) == 0.0f);
  }
  e[4] = NAN;
  try {
    SupCon{}.operator()<backend::Cpu>(e.data(), same.data(), g.data(), n, d);
    FAIL("no error");
  } catch (const NumericError& err) {
    CHECK(std::string(err.what()).find("SupCon") != std::string::npos);
  }
  e[4] = 0.5f;
  CHECK_THROWS_AS(NTXent{0.0f}.operator()<backend::Cpu>(e.data(), same.data(), g.data(), n, d),
                  std::invalid_argument);
  static_assert(MiningLoss<NTXent, backend::Cpu> && MiningLoss<SupCon, backend::Cpu> &&
                MiningLoss<MultiSimilarity, backend::Cpu>);
}

TEST_CASE("an Embedder trained with each similarity loss separates its classes; no allocation per step") {
  using Encoder = Sequential<Input<8>, Dense<16, Tanh>, Dense<8>>;
  Rng r(3);
  // 4 classes of 6 noisy copies of a random centre.
  LabeledBatch b;
  const std::size_t n = 24;
  b.x = Tensor({n, 8});
  std::vector<float> centres(4 * 8);
  for (auto& c : centres) c = r.uniform(-1, 1);
  for (std::size_t i = 0; i < n; ++i) {
    b.labels.push_back(float(i % 4));
    for (std::size_t k = 0; k < 8; ++k) b.x.data()[i * 8 + k] = centres[(i % 4) * 8 + k] + 0.6f * r.uniform(-1, 1);
  }
  auto train = [&](const auto& loss, bool halves = true) {
    Embedder<Encoder> m(2);
    Adam adam;
    adam.learning_rate = 1e-2f;
    const float first = m.train_step(b, loss, adam);  // CrossBatchMemory's: 0, its memory being empty
    float last = first;
    for (int s = 0; s < 150; ++s) last = m.train_step(b, loss, adam);
    // With a memory the loss's terms grow in number as it fills: only the retrieval is compared.
    if (halves) CHECK(last < 0.5f * first);
    CHECK(std::isfinite(last));
    const Tensor e = m.embed(b.x);
    std::vector<int> labels(b.labels.begin(), b.labels.end());
    const AccuracyReport rep = accuracy_report(std::span<const float>(e.data(), e.size()), labels, 8);
    CHECK(rep.precision_at_1 == 1.0);
  };
  train(NTXent{0.1f});
  train(SupCon{0.1f});
  train(MultiSimilarity{});
  train(CrossBatchMemory<MultiSimilarity>{MultiSimilarity{}, 72}, false);
}
