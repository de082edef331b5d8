// Embedder end to end: each in-batch mining loss (BatchHard, SemiHard, BatchAll) trains an encoder on backend::Cpu
// from P x K batches until nearest-neighbour retrieval works where the raw inputs fail; labels are validated.
#include <siamese/layers/activation.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/loss/online.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/optim/optimizers.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace siamese;

namespace {
constexpr std::size_t kDim = 10, kClasses = 4;
// The class is the quadrant of (x0, x1), each at least 1 from 0; eight more dimensions are noise four times
// as wide, so that in the raw inputs a point's nearest neighbour is often of another class.
LabeledBatch draw(std::size_t per_class, detail::Rng& r) {
  LabeledBatch b{Tensor({per_class * kClasses, kDim}), {}};
  const auto normal = [&] { return std::sqrt(-2.0f * std::log(1.0f - r.uniform())) * std::cos(6.2831853f * r.uniform()); };
  for (std::size_t i = 0; i < per_class * kClasses; ++i) {
    const std::size_t c = i % kClasses;
    float* x = b.x.data() + i * kDim;
    x[0] = (c & 1 ? 1.0f : -1.0f) * (1.0f + r.uniform());
    x[1] = (c & 2 ? 1.0f : -1.0f) * (1.0f + r.uniform());
    for (std::size_t k = 2; k < kDim; ++k) x[k] = 4.0f * normal();
    b.labels.push_back(float(c));
  }
  return b;
}

// Share of queries whose nearest reference point (Euclidean) has the query's class.
double nn_accuracy(const Tensor& q, const std::vector<float>& ql, const Tensor& ref, const std::vector<float>& rl) {
  const std::size_t d = q.size() / ql.size();
  std::size_t right = 0;
  for (std::size_t i = 0; i < ql.size(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    float label = -1;
    for (std::size_t j = 0; j < rl.size(); ++j) {
      double s = 0;
      for (std::size_t k = 0; k < d; ++k) s += std::pow(double(q[i * d + k]) - double(ref[j * d + k]), 2);
      if (s < best) best = s, label = rl[j];
    }
    right += label == ql[i];
  }
  return double(right) / double(ql.size());
}

using Enc = Sequential<Input<kDim>, Dense<16, Tanh>, Dense<4>>;

template <class Loss>
void trains(const std::string& name) {
  CAPTURE(name);
  detail::Rng r(3);
  const LabeledBatch reference = draw(50, r), queries = draw(50, r);
  Embedder<Enc, backend::Cpu> m(7);
  Adam opt;
  opt.learning_rate = 1e-2f;
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    const float l = m.train_step(draw(4, r), Loss{}, opt);  // P = 4 classes x K = 4 samples
    REQUIRE(std::isfinite(l));
    if (step < 20) first += l / 20;
    if (step >= 280) last += l / 20;
  }
  CHECK(last < 0.5 * first);
  const double raw = nn_accuracy(queries.x, queries.labels, reference.x, reference.labels);
  const double learned = nn_accuracy(m.embed(queries.x), queries.labels, m.embed(reference.x), reference.labels);
  INFO("nearest-neighbour accuracy: raw inputs " << raw << ", embeddings " << learned);
  CHECK(raw < 0.8);
  CHECK(learned >= 0.95);
}
}  // namespace

TEST_CASE("BatchHard, SemiHard and BatchAll each train an Embedder to separate classes the raw inputs mix") {
  trains<BatchHard>("BatchHard");
  trains<SemiHard>("SemiHard");
  trains<BatchAll>("BatchAll");
}

TEST_CASE("Embedder refuses labels that are not class numbers, naming the sample") {
  Embedder<Enc, backend::Reference> m(1);
  Adam opt;
  detail::Rng r(1);
  LabeledBatch b = draw(2, r);
  b.labels[5] = 1.5f;
  CHECK_THROWS_WITH_AS(m.train_step(b, BatchHard{}, opt),
                       "Embedder::train_step: label 1.500000 of sample 5 is not a class number (a whole number in "
                       "[0, 2^24))",
                       ShapeError);
  b.labels[5] = -1.0f;
  CHECK_THROWS_AS(m.evaluate(b, BatchHard{}), ShapeError);
  b.labels[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(m.train_step(b, BatchHard{}, opt), ShapeError);
  CHECK(m.step() == 0);
}
