// LengthBuckets: a batch runs in the shortest bucket that holds it, with the results, gradients and parameter
// names of the full length.
#include <siamese/siamese.hpp>
#include <siamese/layers/length_buckets.hpp>

#include <doctest/doctest.h>

#include <cmath>

using namespace siamese;

namespace {
using Body = Sequential<Embedding<40, 6>, LSTM<5>>;
using Bucketed = Sequential<Input<16>, LengthBuckets<Body, 4, 8, 16, 32>>;  // 16 and 32 are left out
using FullOnly = Sequential<Input<16>, LengthBuckets<Body>>;
using Plain = Sequential<Input<16>, Embedding<40, 6>, LSTM<5>>;

/// n sequences of random ids, the i-th `lengths[i % size]` long, padded with 0 at the end to 16.
LabeledBatch batch(const std::vector<std::size_t>& lengths, std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  LabeledBatch b;
  b.x = Tensor({n, 16});
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t t = 0; t < lengths[i % lengths.size()]; ++t) b.x.data()[i * 16 + t] = float(1 + r.below(39));
    b.labels.push_back(float(i % 3));
  }
  return b;
}

template <class M1, class M2>
void expect_same(M1& a, M2& b, const LabeledBatch& data, double tol) {
  const Tensor ea = a.embed(data.x), eb = b.embed(data.x);
  REQUIRE(ea.size() == eb.size());
  double worst = 0;
  for (std::size_t i = 0; i < ea.size(); ++i) worst = std::max(worst, double(std::fabs(ea[i] - eb[i])));
  CHECK(worst <= tol);
  SGD still;
  still.learning_rate = 0.0f;
  const float la = a.train_step(data, BatchAll{}, still), lb = b.train_step(data, BatchAll{}, still);
  CHECK(la == doctest::Approx(lb).epsilon(1e-6));
  const auto ga = a.gradients().to_host(), gb = b.gradients().to_host();
  REQUIRE(ga.size() == gb.size());
  double gworst = 0, gmax = 0;
  for (std::size_t i = 0; i < ga.size(); ++i) {
    gworst = std::max(gworst, double(std::fabs(ga[i] - gb[i])));
    gmax = std::max(gmax, double(std::fabs(gb[i])));
  }
  CHECK(gmax > 0);
  CHECK(gworst <= tol * std::max(1.0, gmax));
}
}  // namespace

TEST_CASE("LengthBuckets: the parameters, names and signature are those of the full-length body") {
  Embedder<Bucketed, backend::Reference> a(3);
  Embedder<Plain, backend::Reference> p(3);
  CHECK(decltype(a)::param_count == decltype(p)::param_count);
  REQUIRE(a.parameter_info().size() == 1 + 3);  // the table; the LSTM's kernel, recurrent kernel and bias
  CHECK(a.parameter_info()[0].name == "encoder/1_sequential/0_embedding/embeddings");
  CHECK(Embedder<Bucketed>::signature() == Embedder<FullOnly>::signature());
}

TEST_CASE("LengthBuckets: short batches run in their bucket with the results and gradients of the full length") {
  for (const auto& lengths : std::vector<std::vector<std::size_t>>{{1, 3, 4}, {2, 7, 5}, {8, 3}, {12, 16, 1}}) {
    CAPTURE(lengths.back());
    Embedder<Bucketed, backend::Reference> a(5);
    Embedder<FullOnly, backend::Reference> f(5);
    expect_same(a, f, batch(lengths, 6, lengths.size() * 31 + lengths[0]), 1e-6);
    Embedder<Bucketed> ac(5);  // backend::Cpu
    Embedder<FullOnly> fc(5);
    expect_same(ac, fc, batch(lengths, 6, 77 + lengths[0]), 1e-5);
  }
}

TEST_CASE("LengthBuckets: a body whose ids layer is inside Frozen gives the same results") {
  using FrozenBody = Sequential<Frozen<Embedding<40, 6>>, LSTM<5>>;
  Embedder<Sequential<Input<16>, LengthBuckets<FrozenBody, 4, 8>>, backend::Reference> a(5);
  Embedder<Sequential<Input<16>, LengthBuckets<FrozenBody>>, backend::Reference> f(5);
  expect_same(a, f, batch({3, 2}, 4, 8), 1e-6);
}

TEST_CASE("LengthBuckets: a padding-only batch runs in the shortest bucket and stays finite") {
  Embedder<Bucketed, backend::Reference> a(5);
  const Tensor e = a.embed(Tensor({3, 16}));
  for (float v : e) CHECK(std::isfinite(v));
}
