// The public model API: views of parameters, gradients, states and optimizer slots, named access, counters.
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <numeric>

using namespace siamese;

namespace {
using Encoder = Sequential<Input<6>, Dense<5, ReLU>, BatchNorm, Dense<3>>;
using Model = Siamese<Encoder, Head<SqDiff, Cosine, Classifier<Dense<1>>>>;

PairBatch pairs(std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  PairBatch b;
  b.a = Tensor({n, 6});
  b.b = Tensor({n, 6});
  for (auto& v : b.a) v = r.uniform(-1, 1);
  for (auto& v : b.b) v = r.uniform(-1, 1);
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float(i % 2));
  return b;
}

struct NoBatches {
  std::size_t size() const { return 0; }
  void batch(std::size_t, std::size_t, PairBatch&) const {}
};
}  // namespace

TEST_CASE("model API: named parameters tile the packed buffer, in order, with their shapes") {
  Model m(7);
  const auto named = m.named_parameters();
  REQUIRE(named.size() == m.parameter_info().size());
  std::size_t offset = 0;
  for (const auto& p : named) {
    CHECK(p.info.offset == offset);
    CHECK(p.values.data() == m.parameters().data() + offset);
    CHECK(p.values.size() == std::accumulate(p.info.shape.begin(), p.info.shape.end(), std::size_t{1},
                                             std::multiplies<>()));
    offset += p.values.size();
  }
  CHECK(offset == Model::param_count);
  CHECK(m.parameters().size() == Model::param_count);
  CHECK(named.front().name() == "encoder/1_dense/kernel");
  CHECK(m.named_states().size() == 2);  // BatchNorm's moving mean and variance
  CHECK(m.states().size() == Model::state_count);
}

TEST_CASE("model API: parameter(name) reads and writes one tensor; an unknown name is refused by name") {
  Model m(7);
  auto bias = m.parameter("encoder/1_dense/bias");
  REQUIRE(bias.size() == 5);
  bias.from_host(std::vector<float>{1, 2, 3, 4, 5});
  CHECK(m.parameters()[6 * 5 + 2] == 3.0f);
  CHECK(bias.to_host() == std::vector<float>{1, 2, 3, 4, 5});
  CHECK_THROWS_WITH_AS(m.parameter("encoder/nope"), doctest::Contains("no parameter named 'encoder/nope'"),
                       std::invalid_argument);
  CHECK_THROWS_AS(bias.from_host(std::vector<float>{1, 2}), std::invalid_argument);
  CHECK_THROWS_AS(bias.sub(3, 3), std::out_of_range);
}

TEST_CASE("model API: step, seed, gradients and optimizer slots follow training") {
  Model m(11);
  CHECK(m.seed() == 11);
  CHECK(m.step() == 0);
  CHECK(m.optimizer_slots().empty());
  Adam adam;
  m.train_step(pairs(8, 1), BinaryCrossEntropy{}, adam);
  CHECK(m.step() == 1);
  CHECK(m.optimizer_slots_per_parameter() == 2);
  CHECK(m.optimizer_slots().size() == 2 * Model::param_count);
  const auto g = m.gradients().to_host();
  CHECK(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; }));

  // restore_training sets the counters and slots a checkpoint holds, and checks their size
  Model r(1);
  r.restore_training(5, 11, 2, m.optimizer_slots().to_host());
  CHECK(r.step() == 5);
  CHECK(r.seed() == 11);
  CHECK(r.optimizer_slots().to_host() == m.optimizer_slots().to_host());
  CHECK_THROWS_WITH_AS(r.restore_training(5, 11, 2, std::vector<float>(3)), doctest::Contains("optimizer slot"),
                       std::invalid_argument);
}

TEST_CASE("fit refuses a generator with no batches instead of training on nothing") {
  Model m(1);
  Adam adam;
  CHECK_THROWS_WITH_AS(fit(m, BinaryCrossEntropy{}, adam, NoBatches{}, 3), doctest::Contains("no batches"),
                       std::invalid_argument);
  CHECK(m.step() == 0);
}

TEST_CASE("LinearWarmupDecay rises over the warm-up, then falls to 0 at the last step; fit applies it per step") {
  const LinearWarmupDecay s{4, 12};
  CHECK(s(0, 1.0f) == doctest::Approx(0.25));
  CHECK(s(3, 1.0f) == doctest::Approx(1.0));
  CHECK(s(4, 1.0f) == doctest::Approx(1.0));
  CHECK(s(8, 1.0f) == doctest::Approx(0.5));
  CHECK(s(12, 1.0f) == 0.0f);
  CHECK(s(20, 1.0f) == 0.0f);

  struct Two {
    std::size_t size() const { return 2; }
    void batch(std::size_t, std::size_t i, PairBatch& b) const { b = pairs(4, i); }
  };
  std::vector<std::pair<std::size_t, float>> seen;
  Model m(1);
  SGD sgd;
  sgd.learning_rate = 0.5f;
  FitOptions o;
  o.epochs = 2;
  o.progress = false;
  o.step_schedule = [&](std::size_t step, float lr) {
    seen.push_back({step, lr});
    return lr * 0.1f;
  };
  fit(m, BinaryCrossEntropy{}, sgd, Two{}, o);
  REQUIRE(seen.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(seen[i].first == i);
    CHECK(seen[i].second == 0.5f);
  }
  CHECK(sgd.learning_rate == 0.5f);  // the optimizer's own rate is left as it was
}
