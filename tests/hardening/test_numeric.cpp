// Numerical faults in the encoder-only models: a NaN or infinite loss or gradient stops training with a
// NumericError naming the model's step function, the step and (for a gradient) the parameter tensor, before the
// optimizer changes anything; fit() then leaves the last checkpoint intact.
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include <unistd.h>

using namespace siamese;

namespace {
// Dense then ReLU: a NaN input gives NaN pre-activations that ReLU maps to 0, so the loss stays finite while
// the first kernel's gradient (input x upstream gradient) is NaN.
using Enc = Sequential<Input<4>, Dense<3>, ReLU, Dense<2>>;
constexpr float not_a_number = std::numeric_limits<float>::quiet_NaN();

TripletBatch triplets(std::size_t n, unsigned seed) {
  detail::Rng r(seed);
  TripletBatch b{Tensor({n, 4}), Tensor({n, 4}), Tensor({n, 4})};
  for (Tensor* t : {&b.anchor, &b.positive, &b.negative})
    for (float& v : *t) v = r.uniform() - 0.5f;
  return b;
}

template <class Model>
std::vector<float> params_of(const Model& m) {
  return {m.parameters().data(), m.parameters().data() + m.parameters().size()};
}
}  // namespace

TEST_CASE("Triplet: a NaN gradient names the step, the tensor and the step function; nothing is updated") {
  Triplet<Enc, backend::Reference> m(1);
  Adam opt;
  m.train_step(triplets(4, 1), TripletLoss{}, opt);  // one good step: the fault happens at step 2
  REQUIRE(m.step() == 1);
  const auto before = params_of(m);
  const auto slots_before = std::vector<float>(m.optimizer_slots().data(), m.optimizer_slots().data() + m.optimizer_slots().size());
  auto b = triplets(4, 2);
  b.anchor[1] = not_a_number;
  CHECK_THROWS_WITH_AS(m.train_step(b, TripletLoss{}, opt),
                       "Triplet::train_step: the gradient of 'encoder/1_dense/kernel' is not finite at step 2",
                       NumericError);
  CHECK(params_of(m) == before);
  CHECK(std::equal(slots_before.begin(), slots_before.end(), m.optimizer_slots().data()));
  CHECK(m.step() == 1);
}

TEST_CASE("Triplet: an infinite loss names the step; evaluate() checks its loss too") {
  Triplet<Enc, backend::Reference> m(2);
  Adam opt;
  auto b = triplets(2, 3);
  // Positives far from their anchors, negatives on them: d(a, p) about 1e60 overflows the float loss.
  for (std::size_t i = 0; i < b.anchor.size(); ++i) b.anchor[i] = 1e30f, b.positive[i] = -1e30f, b.negative[i] = 1e30f;
  const auto before = params_of(m);
  CHECK_THROWS_WITH_AS(m.train_step(b, TripletLoss{}, opt), "Triplet::train_step: the loss is infinite at step 1",
                       NumericError);
  CHECK(params_of(m) == before);
  CHECK(m.step() == 0);
  CHECK_THROWS_WITH_AS(m.evaluate(b, TripletLoss{}), "Triplet::evaluate: the loss is infinite at step 1", NumericError);
}

TEST_CASE("Triplet: NaN embeddings stop training at the loss, before any update") {
  Triplet<Sequential<Input<4>, Dense<2>>, backend::Reference> m(4);
  Adam opt;
  auto b = triplets(2, 5);
  b.anchor[0] = not_a_number;  // a linear encoder: the anchor's embedding is NaN
  CHECK_THROWS_WITH_AS(m.train_step(b, TripletLoss{}, opt), "Triplet::train_step: the loss is NaN at step 1",
                       NumericError);
  CHECK(m.step() == 0);
}

// The triplet hinge keeps NaN (it tests !(l <= 0)), so NaN embeddings give a NaN loss that evaluate() reports.
TEST_CASE("Triplet: evaluate() on NaN embeddings throws") {
  Triplet<Sequential<Input<4>, Dense<2>>, backend::Reference> m(4);
  auto b = triplets(2, 5);
  b.anchor[0] = not_a_number;
  CHECK_THROWS_AS(m.evaluate(b, TripletLoss{}), NumericError);
  Triplet<Sequential<Input<4>, Dense<2>>, backend::Cpu> c(4);
  CHECK_THROWS_AS(c.evaluate(b, TripletLoss{}), NumericError);
}

TEST_CASE("Embedder: a NaN gradient is caught with the tensor named") {
  Embedder<Enc, backend::Reference> m(3);
  Adam opt;
  LabeledBatch b{Tensor({4, 4}), {0, 0, 1, 1}};
  detail::Rng r(4);
  for (float& v : b.x) v = r.uniform();
  b.x[5] = not_a_number;
  const auto before = params_of(m);
  CHECK_THROWS_WITH_AS(m.train_step(b, BatchHard{}, opt),
                       "Embedder::train_step: the gradient of 'encoder/1_dense/kernel' is not finite at step 1",
                       NumericError);
  CHECK(params_of(m) == before);
}

namespace {
struct TripletData {  // a pure function of (epoch, index); epoch 2 is poisoned
  std::size_t size() const { return 2; }
  void batch(std::size_t epoch, std::size_t index, TripletBatch& b) const {
    b = triplets(4, unsigned(10 + index));
    if (epoch == 2) b.positive[0] = std::numeric_limits<float>::infinity();
  }
};
}  // namespace

TEST_CASE("fit with a Triplet model: a fault in epoch 3 leaves the checkpoint of epoch 2") {
  const auto path = std::filesystem::temp_directory_path() / ("siamese_hardening_nan_" + std::to_string(::getpid()));
  std::filesystem::remove(path);
  Triplet<Enc, backend::Reference> m(5);
  Adam opt;
  FitOptions o;
  o.epochs = 4;
  o.progress = false;
  o.checkpoint = path;
  CHECK_THROWS_AS(fit(m, TripletLoss{}, opt, TripletData{}, o), NumericError);
  Triplet<Enc, backend::Reference> back(6);
  const TrainingState s = load_checkpoint(back, path);
  CHECK(s.epochs_done == 2);
  CHECK(back.step() == 4);
  CHECK(s.loss.size() == 2);
  for (double l : s.loss) CHECK(std::isfinite(l));
  std::filesystem::remove(path);
}

namespace {
template <class Model>
std::vector<float> states_of(const Model& m) {
  return {m.states().data(), m.states().data() + m.states().size()};
}
}  // namespace

TEST_CASE("a failed step leaves BatchNorm's moving statistics as they were, on every model and backend") {
  // The training forward pass moves the statistics before the loss is known: a NaN step must put them back.
  using BnEnc = Sequential<Input<4>, Dense<3>, BatchNorm, ReLU, Dense<2>>;
  auto bad_triplets = triplets(4, 2);
  bad_triplets.anchor[1] = not_a_number;
  {
    Triplet<BnEnc, backend::Cpu> m(1);
    Adam opt;
    m.train_step(triplets(4, 1), TripletLoss{}, opt);
    const auto states = states_of(m), params = params_of(m);
    REQUIRE(states.size() == 6);
    CHECK_THROWS_AS(m.train_step(bad_triplets, TripletLoss{}, opt), NumericError);
    CHECK(states_of(m) == states);
    CHECK(params_of(m) == params);
    m.train_step(triplets(4, 3), TripletLoss{}, opt);  // a good step still moves them
    CHECK(states_of(m) != states);
  }
  {
    Siamese<BnEnc, Head<SqDiff, Cosine>, backend::Reference> m(2);
    Adam opt;
    PairBatch good{triplets(4, 4).anchor, triplets(4, 5).anchor, {0, 1, 0, 1}};
    m.train_step(good, BinaryCrossEntropy{}, opt);
    PairBatch bad = good;
    bad.b[3] = not_a_number;
    const auto states = states_of(m), params = params_of(m);
    CHECK_THROWS_AS(m.train_step(bad, BinaryCrossEntropy{}, opt), NumericError);
    CHECK(states_of(m) == states);
    CHECK(params_of(m) == params);
  }
  {
    Embedder<BnEnc, backend::Reference> m(3);
    Adam opt;
    LabeledBatch b{triplets(4, 6).anchor, {0, 0, 1, 1}};
    m.train_step(b, BatchHard{}, opt);
    const auto states = states_of(m);
    b.x[5] = not_a_number;
    CHECK_THROWS_AS(m.train_step(b, BatchHard{}, opt), NumericError);
    CHECK(states_of(m) == states);
  }
}

TEST_CASE("Siamese::evaluate names itself in its errors") {
  Siamese<Enc, Head<SqDiff, Cosine>, backend::Reference> m(2);
  PairBatch b{triplets(2, 4).anchor, triplets(2, 5).anchor, {0, 1}};
  for (std::size_t i = 0; i < b.a.size(); ++i) b.a[i] = 1e30f, b.b[i] = -1e30f;
  CHECK_THROWS_WITH_AS(m.evaluate(b, Contrastive{}), doctest::Contains("Siamese::evaluate: the loss is"), NumericError);
  b.labels.push_back(1);
  CHECK_THROWS_WITH_AS(m.evaluate(b, Contrastive{}), "Siamese::evaluate: the batch holds 2 pairs but 3 labels",
                       ShapeError);
}
