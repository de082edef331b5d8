// NTXent, SupCon and MultiSimilarity (loss/similarity.hpp), ArcFace and CosFace (loss/class_margin.hpp) against
// pytorch-metric-learning (golden file from scripts/make_metric_learning_golden.py) on Reference and Cpu,
// finite-difference gradient checks, the errors, and an Embedder trained with each; ArcFace's class weights saved,
// loaded and checkpointed with the model.
#include <siamese/loss/class_margin.hpp>
#include <siamese/loss/similarity.hpp>
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
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

namespace {

struct ClassGolden {
  std::string name;
  std::size_t n = 0, d = 0, classes = 0;
  float scale = 0, margin = 0;
  std::vector<float> labels, e, w, grad, wgrad;
  double loss = 0;
};

std::vector<ClassGolden> class_golden() {
  std::ifstream in(std::string(SIAMESE_TEST_DATA) + "/pml_losses_golden.txt");
  REQUIRE(in);
  std::vector<ClassGolden> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream head(line);
    std::string word;
    head >> word;
    if (word != "classcase") continue;
    ClassGolden g;
    head >> g.name >> g.n >> g.d >> g.classes >> g.scale >> g.margin;
    std::getline(in, line);
    g.labels = numbers(line);
    std::getline(in, line);
    g.e = numbers(line);
    std::getline(in, line);
    g.w = numbers(line);
    std::getline(in, line);
    g.loss = std::stod(line);
    std::getline(in, line);
    g.grad = numbers(line);
    std::getline(in, line);
    g.wgrad = numbers(line);
    REQUIRE(g.e.size() == g.n * g.d);
    REQUIRE(g.w.size() == g.classes * g.d);
    REQUIRE(g.grad.size() == g.n * g.d);
    REQUIRE(g.wgrad.size() == g.classes * g.d);
    out.push_back(std::move(g));
  }
  return out;
}

template <class F>
void with_class_loss(const std::string& name, float scale, float margin, F&& f) {
  if (name == "arcface") f(ArcFace{scale, margin});
  else f(CosFace{scale, margin});
}

void check_close(const char* what, const std::vector<float>& got, const std::vector<float>& want, double rel) {
  double worst = 0, scale = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    worst = std::max(worst, std::fabs(double(got[k]) - want[k]));
    scale = std::max(scale, std::fabs(double(want[k])));
  }
  INFO(what << ": worst difference " << worst << " of values up to " << scale);
  CHECK(scale > 0);
  CHECK(worst <= rel * std::max(scale, 1.0));
}

template <class B>
void check_class_golden() {
  const auto cases = class_golden();
  CHECK(cases.size() == 5);
  for (const auto& g : cases) {
    CAPTURE(g.name);
    CAPTURE(g.n);
    with_class_loss(g.name, g.scale, g.margin, [&](const auto& loss) {
      std::vector<float> grad(g.n * g.d, 7.0f), wgrad(g.classes * g.d, 7.0f);
      const float got = loss.template operator()<B>(g.e.data(), g.labels.data(), grad.data(), g.n, g.d,
                                                    ClassWeightsRef{g.w.data(), wgrad.data(), g.classes});
      CHECK(got == doctest::Approx(g.loss).epsilon(2e-5));
      check_close("embeddings' gradient", grad, g.grad, 5e-5);
      check_close("class weights' gradient", wgrad, g.wgrad, 5e-5);
      CHECK(loss.template operator()<B>(g.e.data(), g.labels.data(), nullptr, g.n, g.d,
                                        ClassWeightsRef{g.w.data(), nullptr, g.classes}) == got);
    });
  }
}

}  // namespace

TEST_CASE("ArcFace and CosFace equal pytorch-metric-learning's losses and autograd gradients (embeddings, weights)") {
  SUBCASE("Reference") { check_class_golden<backend::Reference>(); }
  SUBCASE("Cpu") { check_class_golden<backend::Cpu>(); }
}

TEST_CASE("gradient check: ArcFace (both branches) and CosFace, with respect to embeddings and class weights") {
  const std::size_t n = 9, d = 5, k = 4;
  const std::vector<float> labels{0, 1, 2, 3, 0, 1, 2, 0, 3};
  auto run = [&](const auto& loss, const char* what, std::uint64_t seed) {
    auto e = test::random_vector(n * d, seed);
    auto w = test::random_vector(k * d, seed + 100);
    std::vector<float> ge(n * d), gw(k * d);
    auto value = [&] {
      return double(loss.template operator()<backend::Reference>(e.data(), labels.data(), nullptr, n, d,
                                                                  ClassWeightsRef{w.data(), nullptr, k}));
    };
    loss.template operator()<backend::Reference>(e.data(), labels.data(), ge.data(), n, d,
                                                 ClassWeightsRef{w.data(), gw.data(), k});
    test::check_gradient(std::string(what) + " d/demb", e, ge, value, 1e-3, 2e-2, 1e-3);
    test::check_gradient(std::string(what) + " d/dW", w, gw, value, 1e-3, 2e-2, 1e-3);
  };
  run(ArcFace{4.0f, 0.5f}, "ArcFace", 1);
  run(ArcFace{4.0f, 2.0f}, "ArcFace past pi - margin", 2);  // most angles past pi - 2: the linear branch
  run(CosFace{4.0f, 0.35f}, "CosFace", 3);
  run(CosFace{10.0f, 0.1f}, "CosFace scale 10", 4);
}

TEST_CASE("ArcFace and CosFace: bad labels, parameters and weights are refused") {
  const std::size_t n = 3, d = 4, k = 3;
  auto e = test::random_vector(n * d, 5), w = test::random_vector(k * d, 6);
  std::vector<float> ge(n * d), gw(k * d);
  const std::vector<float> bad{0, 3, 1}, fractional{0, 1.5f, 1};
  try {
    ArcFace{}.operator()<backend::Cpu>(e.data(), bad.data(), ge.data(), n, d, {w.data(), gw.data(), k});
    FAIL("no error");
  } catch (const ShapeError& err) {
    CHECK(std::string(err.what()).find("ArcFace: label 3.000000 of sample 1 is not a class of the loss's 3") !=
          std::string::npos);
  }
  auto call = [&](const auto& loss, const std::vector<float>& lab, float* g, float* gwp) {
    return loss.template operator()<backend::Cpu>(e.data(), lab.data(), g, n, d, ClassWeightsRef{w.data(), gwp, k});
  };
  const std::vector<float> ok{0, 2, 1};
  const CosFace cosface;
  const ArcFace zero_scale{0.0f, 0.5f}, wide{64.0f, 3.2f};
  CHECK_THROWS_AS(call(cosface, fractional, nullptr, nullptr), ShapeError);
  CHECK_THROWS_AS(call(zero_scale, ok, nullptr, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(call(wide, ok, nullptr, nullptr), std::invalid_argument);
  // A gradient of the embeddings without one of the weights.
  CHECK_THROWS_AS(call(cosface, ok, ge.data(), nullptr), std::invalid_argument);
  CHECK(std::isfinite(call(cosface, ok, ge.data(), gw.data())));
  e[2] = NAN;
  CHECK_THROWS_AS(call(cosface, ok, nullptr, nullptr), NumericError);
  static_assert(ClassWeightLoss<ArcFace, backend::Cpu> && ClassWeightLoss<CosFace, backend::Reference>);
  static_assert(!MiningLoss<ArcFace, backend::Cpu> && !ClassWeightLoss<NTXent, backend::Cpu>);
}

namespace {
using ArcEncoder = Sequential<Input<8>, Dense<16, Tanh>, Dense<8>>;

/// 4 classes of 6 noisy copies of a random centre.
LabeledBatch clustered_batch(std::uint64_t seed) {
  Rng r(seed);
  LabeledBatch b;
  const std::size_t n = 24;
  b.x = Tensor({n, 8});
  std::vector<float> centres(4 * 8);
  for (auto& c : centres) c = r.uniform(-1, 1);
  for (std::size_t i = 0; i < n; ++i) {
    b.labels.push_back(float(i % 4));
    for (std::size_t k = 0; k < 8; ++k) b.x.data()[i * 8 + k] = centres[(i % 4) * 8 + k] + 0.6f * r.uniform(-1, 1);
  }
  return b;
}

struct ClusteredBatches {
  std::size_t size() const { return 3; }
  void batch(std::size_t epoch, std::size_t index, LabeledBatch& b) const {
    b = clustered_batch(3);  // fixed centres, fresh noise per (epoch, batch)
    Rng r(100 + epoch * 10 + index);
    for (std::size_t i = 0; i < b.x.size(); ++i) b.x.data()[i] += 0.1f * r.uniform(-1, 1);
  }
};
}  // namespace

TEST_CASE("an Embedder trained with ArcFace or CosFace separates its classes; the class weights are parameters") {
  const LabeledBatch b = clustered_batch(3);
  auto train = [&](const auto& loss) {
    Embedder<ArcEncoder, backend::Cpu, ClassWeights<4>> m(2);
    static_assert(decltype(m)::param_count == Embedder<ArcEncoder>::param_count + 4 * 8);
    static_assert(decltype(m)::summary_table.total() == decltype(m)::param_count);
    static_assert(Embedder<ArcEncoder>::summary_table.total() == Embedder<ArcEncoder>::param_count);
    CHECK(decltype(m)::summary().find("\nloss/0 (ClassWeights)       (None, 4)                      32              -\n") !=
          std::string::npos);
    const auto& info = m.parameter_info().back();
    CHECK(info.name == "loss/class_weights");
    CHECK(info.shape == std::vector<std::size_t>{4, 8});
    CHECK(info.trainable);
    const std::vector<float> w0 = m.parameter("loss/class_weights").to_host();
    Adam adam;
    adam.learning_rate = 1e-2f;
    const float first = m.train_step(b, loss, adam);
    float last = first;
    for (int s = 0; s < 150; ++s) last = m.train_step(b, loss, adam);
    CHECK(last < 0.5f * first);
    CHECK(m.evaluate(b, loss) == doctest::Approx(last).epsilon(0.2));
    CHECK(m.parameter("loss/class_weights").to_host() != w0);  // the optimizer moved them
    const Tensor e = m.embed(b.x);
    std::vector<int> labels(b.labels.begin(), b.labels.end());
    CHECK(accuracy_report(std::span<const float>(e.data(), e.size()), labels, 8).precision_at_1 == 1.0);
    // A label past the class count is refused before anything runs.
    LabeledBatch wrong = b;
    wrong.labels[5] = 4;
    CHECK_THROWS_AS(m.train_step(wrong, loss, adam), ShapeError);
  };
  train(ArcFace{16.0f, 0.3f});
  train(CosFace{16.0f, 0.2f});
}

TEST_CASE("ArcFace's class weights are saved and loaded with the model; a model without them, or with another "
          "class count, is refused by name") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / "siamese_arcface_weights.bin", plain = dir / "siamese_arcface_plain.bin";
  const LabeledBatch b = clustered_batch(4);
  Embedder<ArcEncoder, backend::Cpu, ClassWeights<4>> m(7);
  Adam adam;
  for (int s = 0; s < 5; ++s) m.train_step(b, ArcFace{16.0f, 0.3f}, adam);
  save_weights(m, path);
  Embedder<ArcEncoder, backend::Cpu, ClassWeights<4>> back(8);
  load_weights(back, path);
  CHECK(back.parameters().to_host() == m.parameters().to_host());
  CHECK(back.evaluate(b, ArcFace{16.0f, 0.3f}) == m.evaluate(b, ArcFace{16.0f, 0.3f}));

  auto message = [](auto&& f) {
    try {
      f();
    } catch (const FileError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Embedder<ArcEncoder> without(9);
  const auto before = without.parameters().to_host();
  const std::string a = message([&] { load_weights(without, path); });
  CHECK(a.find("holds the loss parameter 'loss/class_weights' (4, 8)") != std::string::npos);
  CHECK(a.find("the model has none") != std::string::npos);
  CHECK(without.parameters().to_host() == before);
  Embedder<ArcEncoder, backend::Cpu, ClassWeights<6>> six(9);
  const std::string c = message([&] { load_weights(six, path); });
  CHECK(c.find("'loss/class_weights' has shape (4, 8) in the file but (6, 8) in the model") != std::string::npos);
  save_weights(without, plain);
  const std::string d = message([&] { load_weights(back, plain); });
  CHECK(d.find("has no loss parameter 'loss/class_weights'") != std::string::npos);
  CHECK(d.find("ClassWeights<4>") != std::string::npos);
  std::filesystem::remove(path);
  std::filesystem::remove(plain);
}

TEST_CASE("fit with ArcFace: a checkpoint resumes to the identical parameters, class weights and Adam slots") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_arcface_resume.ckpt";
  std::filesystem::remove(path);
  using Model = Embedder<ArcEncoder, backend::Cpu, ClassWeights<4>>;
  const ArcFace loss{16.0f, 0.3f};
  FitOptions o;
  o.progress = false;
  o.epochs = 4;
  Model straight(5);
  Adam o1;
  const History full = fit(straight, loss, o1, ClusteredBatches{}, o);

  Model first(5);
  Adam o2;
  FitOptions part = o;
  part.epochs = 2;
  part.checkpoint = path;
  fit(first, loss, o2, ClusteredBatches{}, part);
  Model resumed(77);  // another seed: everything comes from the checkpoint
  Adam o3;
  FitOptions rest = o;
  rest.checkpoint = path;
  const History h = fit(resumed, loss, o3, ClusteredBatches{}, rest);
  CHECK(h.resumed_at == 2);
  REQUIRE(h.loss.size() == 4);
  for (std::size_t e = 0; e < 4; ++e) CHECK(h.loss[e] == full.loss[e]);
  CHECK(resumed.parameters().to_host() == straight.parameters().to_host());
  CHECK(resumed.parameter("loss/class_weights").to_host() == straight.parameter("loss/class_weights").to_host());
  CHECK(resumed.optimizer_slots().to_host() == straight.optimizer_slots().to_host());
  CHECK(resumed.optimizer_slots().size() == 2 * Model::param_count);
  // The checkpoint into a model without class weights: refused by the loss parameter's name, the model unchanged.
  Embedder<ArcEncoder> plain(1);
  const auto before = plain.parameters().to_host();
  try {
    load_checkpoint(plain, path);
    FAIL("no error");
  } catch (const FileError& e) {
    CHECK(std::string(e.what()).find("holds the loss parameter 'loss/class_weights' (4, 8)") != std::string::npos);
  }
  CHECK(plain.parameters().to_host() == before);
  std::filesystem::remove(path);
}
