#pragma once
// Whole models on a CUDA-backend type B against the same models on backend::Reference and
// backend::Cpu (same seed, same batches): losses, gradients, predictions, training curves, weight
// files. Included after `using B = ...;`.
#include <siamese/siamese.hpp>
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/recurrent.hpp>
#include <siamese/layers/time_pooling.hpp>

#include <filesystem>
#include <limits>

#include "support.cuh"

using namespace siamese;
using namespace siamese::test;

namespace {

// cuBLAS sums in float where Reference sums in double (so does the host emulation's SGEMM).
constexpr double model_tol = B::exec::on_device ? 5.0 : 1.0;

using SmallCnn = Sequential<Input<10, 10, 1>, Conv2D<4, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                            Conv2D<6, 3, 1, Padding::Same, ReLU>, Flatten, Dense<8>>;
using PairHead = Head<SqDiff, DiffSq, Cosine, Classifier<Dense<6, ReLU>, Dropout<0.2f>, Dense<1>>>;
using NormCnn = Sequential<Input<6, 6, 2>, Conv2D<4, 3>, BatchNorm, ReLU, GlobalAvgPool2D, Dense<5, Tanh>>;

template <class Shape>
Tensor random_tensor(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> dims{n};
  for (auto d : Shape::dims) dims.push_back(d);
  Tensor t(dims);
  const auto v = random_values(t.size(), seed);
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}
template <class M>
PairBatch pair_batch(std::size_t n, std::uint64_t seed) {
  PairBatch b{random_tensor<typename M::input_shape>(n, seed), random_tensor<typename M::input_shape>(n, seed + 1), {}};
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float((i * 7 + seed) % 3 == 0));
  return b;
}
template <class M>
TripletBatch triplet_batch(std::size_t n, std::uint64_t seed) {
  return {random_tensor<typename M::input_shape>(n, seed), random_tensor<typename M::input_shape>(n, seed + 1),
          random_tensor<typename M::input_shape>(n, seed + 2)};
}
/// Token-id pairs: ids in [1, vocab), padded with 0 at the front or the back to a random length >= 2.
PairBatch token_pairs(std::size_t n, std::size_t T, std::size_t vocab, std::uint64_t seed) {
  detail::Rng r(seed);
  PairBatch b{Tensor({n, T}), Tensor({n, T}), {}};
  for (Tensor* side : {&b.a, &b.b})
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t len = 2 + r.below(T - 1), start = r.below(2) ? T - len : 0;
      for (std::size_t t = 0; t < T; ++t)
        (*side)[i * T + t] = t >= start && t < start + len ? float(1 + r.below(vocab - 1)) : 0.0f;
    }
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float(i % 2));
  return b;
}

template <class M>
std::vector<float> grads_of(const M& m) {
  std::vector<float> v(m.gradients().size());
  M::backend_type::to_host(v.data(), m.gradients().data(), v.size());
  return v;
}
template <class M>
std::vector<float> params_of(const M& m) {
  std::vector<float> v(m.parameters().size());
  M::backend_type::to_host(v.data(), m.parameters().data(), v.size());
  return v;
}
template <class M>
std::vector<float> states_of(const M& m) {
  std::vector<float> v(m.states().size());
  M::backend_type::to_host(v.data(), m.states().data(), v.size());
  return v;
}
std::vector<float> values(const Tensor& t) { return {t.begin(), t.end()}; }

/// One step (learning rate 0) of both models on the same batch: losses and every gradient agree.
template <class MB, class MR, class Batch, class Loss>
void compare_step(const std::string& what, MB& mb, MR& mr, const Batch& batch, const Loss& loss, double rtol = 2e-4,
                  double atol = 2e-5) {
  INFO(what);
  rtol *= model_tol;
  atol *= model_tol;
  expect_equal("initial parameters", params_of(mb), params_of(mr));
  SGD still;
  still.learning_rate = 0.0f;
  const float lb = mb.train_step(batch, loss, still), lr = mr.train_step(batch, loss, still);
  expect_close("loss", lb, lr, 1e-5, 1e-7);
  const auto gb = grads_of(mb), gr = grads_of(mr);
  for (const auto& t : mr.parameter_info())
    expect_close("gradient of " + t.name, std::vector<float>(gb.begin() + t.offset, gb.begin() + t.offset + t.size),
                 std::vector<float>(gr.begin() + t.offset, gr.begin() + t.offset + t.size), rtol, atol);
  expect_close("evaluate", mb.evaluate(batch, loss), mr.evaluate(batch, loss), 1e-5, 1e-7);
}

TEST_CASE("Siamese CNN: loss and gradients (BCE through a head with dropout), predictions, embeddings") {
  Siamese<SmallCnn, PairHead, B> mb(7);
  Siamese<SmallCnn, PairHead, backend::Reference> mr(7);
  const auto batch = pair_batch<decltype(mr)>(13, 3);
  compare_step("binary cross-entropy", mb, mr, batch, BinaryCrossEntropy{});
  expect_close("predict", values(mb.predict(batch.a, batch.b)), values(mr.predict(batch.a, batch.b)), 1e-5, 1e-6);
  expect_close("embed", values(mb.embed(batch.a)), values(mr.embed(batch.a)), 1e-5, 1e-6);
  compare_step("contrastive", mb, mr, pair_batch<decltype(mr)>(9, 5), Contrastive{2.0f});
}

TEST_CASE("Triplet and Embedder models: triplet loss, in-batch mining through the host") {
  Triplet<SmallCnn, B> tb(11);
  Triplet<SmallCnn, backend::Reference> tr(11);
  compare_step("triplet squared Euclidean", tb, tr, triplet_batch<decltype(tr)>(10, 21), TripletLoss{1.0f});
  compare_step("triplet cosine", tb, tr, triplet_batch<decltype(tr)>(7, 22),
               TripletLoss{0.5f, Distance::Cosine});
  Embedder<SmallCnn, B> eb(12);
  Embedder<SmallCnn, backend::Reference> er(12);
  LabeledBatch lb{random_tensor<decltype(er)::input_shape>(12, 23), {}};
  for (std::size_t i = 0; i < 12; ++i) lb.labels.push_back(float(i % 3));
  compare_step("batch-hard mining", eb, er, lb, BatchHard{0.5f});
}

TEST_CASE("BatchNorm model: moving statistics and gradients over training steps") {
  Siamese<NormCnn, Head<AbsDiff, Product, Classifier<Dense<1>>>, B> mb(5);
  Siamese<NormCnn, Head<AbsDiff, Product, Classifier<Dense<1>>>, backend::Reference> mr(5);
  compare_step("batchnorm", mb, mr, pair_batch<decltype(mr)>(6, 31), BinaryCrossEntropy{}, 1e-3, 1e-4);
  Adam opt;
  opt.learning_rate = 1e-2f;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const auto batch = pair_batch<decltype(mr)>(6, 40 + s);
    expect_close("loss of step " + std::to_string(s), mb.train_step(batch, BinaryCrossEntropy{}, opt),
                 mr.train_step(batch, BinaryCrossEntropy{}, opt), 1e-3, 1e-5);
  }
  expect_close("moving statistics", states_of(mb), states_of(mr), 1e-3, 1e-5);
  expect_close("parameters after training", params_of(mb), params_of(mr), 1e-3, 1e-4);
}

TEST_CASE("Siamese text models: Embedding + LSTM, GRU, bidirectional LSTM with time pooling") {
  using Lstm = Sequential<Input<7>, Embedding<30, 5>, LSTM<6>>;
  using Head1 = Head<SqDiff, DiffSq, Cosine, Classifier<Dense<4, ReLU>, Dense<1>>>;
  Siamese<Lstm, Head1, B> lb(3);
  Siamese<Lstm, Head1, backend::Reference> lr(3);
  compare_step("LSTM", lb, lr, token_pairs(9, 7, 30, 41), BinaryCrossEntropy{});
  using Gru = Sequential<Input<7>, Embedding<30, 4>, GRU<5, true>, GlobalAvgPool1D>;
  Siamese<Gru, Head1, B> gb(4);
  Siamese<Gru, Head1, backend::Reference> gr(4);
  compare_step("GRU", gb, gr, token_pairs(8, 7, 30, 42), BinaryCrossEntropy{});
  using Bi = Sequential<Input<7>, Embedding<30, 4>, Bidirectional<LSTM<3, true>>, GlobalMaxPool1D>;
  Siamese<Bi, Head1, B> bb(6);
  Siamese<Bi, Head1, backend::Reference> br(6);
  compare_step("bidirectional LSTM", bb, br, token_pairs(8, 7, 30, 43), Contrastive{1.5f});
}

TEST_CASE("training: the loss curve of 25 Adam steps matches backend::Cpu") {
  Siamese<SmallCnn, PairHead, B> mb(21);
  Siamese<SmallCnn, PairHead, backend::Cpu> mc(21);
  Adam opt;
  opt.learning_rate = 3e-3f;
  opt.clip_norm = 5.0f;
  std::vector<float> cb, cc;
  for (std::uint64_t s = 0; s < 25; ++s) {
    const auto batch = pair_batch<decltype(mc)>(16, 100 + s % 5);
    cb.push_back(mb.train_step(batch, BinaryCrossEntropy{}, opt));
    cc.push_back(mc.train_step(batch, BinaryCrossEntropy{}, opt));
  }
  expect_close("loss curve", cb, cc, 2e-3, 1e-4);
  CHECK(cb.back() < cb.front());  // it trains
  expect_close("parameters after training", params_of(mb), params_of(mc), 5e-3, 5e-4);
}

TEST_CASE("training step on the device: one host wait per step; a failed step changes nothing") {
  using NormHead = Head<AbsDiff, Product, Classifier<Dense<1>>>;
  Siamese<NormCnn, NormHead, B> mb(5);  // BatchNorm: moving statistics that a failed step must restore
  Siamese<NormCnn, NormHead, backend::Cpu> mc(5);
  SGD sgd;
  sgd.learning_rate = 0.05f;
  sgd.momentum = 0.9f;
  sgd.clip_norm = 0.5f;
  sgd.clip_value = 0.02f;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const auto batch = pair_batch<decltype(mc)>(6, 50 + s);
    const std::size_t w0 = B::host_waits();
    const float lb = mb.train_step(batch, BinaryCrossEntropy{}, sgd);
    if (s > 0) CHECK(B::host_waits() - w0 == 1);  // the first step also grows scratch memory
    expect_close("SGD loss of step " + std::to_string(s), lb, mc.train_step(batch, BinaryCrossEntropy{}, sgd), 1e-3,
                 1e-5);
  }
  expect_close("parameters after clipped SGD", params_of(mb), params_of(mc), 1e-3, 1e-4);
  expect_close("moving statistics", states_of(mb), states_of(mc), 1e-3, 1e-5);

  Triplet<SmallCnn, B> tb(3);
  Triplet<SmallCnn, backend::Cpu> tc(3);
  AdamW adamw;
  adamw.learning_rate = 1e-2f;
  // cosine: a translation of all embeddings changes the loss, so the last bias has a gradient that is
  // not rounding noise (Adam would amplify that noise into updates of either sign)
  const TripletLoss triplet{0.2f, Distance::Cosine};
  for (std::uint64_t s = 0; s < 3; ++s) {
    const auto batch = triplet_batch<decltype(tc)>(5, 70 + s);
    const std::size_t w0 = B::host_waits();
    const float lb = tb.train_step(batch, triplet, adamw);
    if (s > 0) CHECK(B::host_waits() - w0 == 1);
    expect_close("AdamW triplet loss of step " + std::to_string(s), lb, tc.train_step(batch, triplet, adamw),
                 1e-3, 1e-5);
  }
  expect_close("parameters after AdamW", params_of(tb), params_of(tc), 2e-3, 2e-4);

  // A NaN input: BatchNorm's statistics turn NaN, the ReLU after it maps them to 0, so the loss is finite
  // and the gradients are not. Nothing moves (parameters, moving statistics, step count).
  auto bad = pair_batch<decltype(mc)>(6, 60);
  bad.a[3] = std::numeric_limits<float>::quiet_NaN();
  const auto p0 = params_of(mb), st0 = states_of(mb);
  CHECK_THROWS_WITH_AS(mb.train_step(bad, BinaryCrossEntropy{}, sgd),
                       doctest::Contains("Siamese::train_step: the gradient of 'encoder/1_conv2d/kernel' is not finite at step 5"),
                       NumericError);
  expect_equal("parameters after a failed step", params_of(mb), p0);
  expect_equal("moving statistics after a failed step", states_of(mb), st0);
  CHECK(mb.step() == 4);
  const auto good = pair_batch<decltype(mc)>(6, 61);
  expect_close("the step after a failed one", mb.train_step(good, BinaryCrossEntropy{}, sgd),
               mc.train_step(good, BinaryCrossEntropy{}, sgd), 1e-3, 1e-5);

  // A finite loss with a NaN gradient (ReLU maps the NaN input to 0): the tensor is named.
  Siamese<SmallCnn, Head<SqDiff>, B> r(2);
  auto nan_in = pair_batch<decltype(r)>(3, 9);
  nan_in.a[5] = std::numeric_limits<float>::quiet_NaN();
  const auto r0 = params_of(r);
  CHECK_THROWS_WITH_AS(r.train_step(nan_in, BinaryCrossEntropy{}, Adam{}),
                       doctest::Contains("the gradient of 'encoder/1_conv2d/kernel' is not finite at step 1"),
                       NumericError);
  expect_equal("parameters after a NaN gradient", params_of(r), r0);
  CHECK(r.step() == 0);
  auto nan_label = pair_batch<decltype(r)>(3, 10);
  nan_label.labels[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(r.train_step(nan_label, BinaryCrossEntropy{}, Adam{}),
                       doctest::Contains("Siamese::train_step: the loss is NaN at step 1"), NumericError);
  expect_equal("parameters after a NaN loss", params_of(r), r0);
  CHECK(r.step() == 0);
}

TEST_CASE("weight files: saved from a Reference model, loaded into a B model (and back)") {
  Siamese<SmallCnn, PairHead, backend::Reference> mr(8);
  Siamese<SmallCnn, PairHead, B> mb(99);
  const auto batch = pair_batch<decltype(mr)>(5, 61);
  Adam opt;
  mr.train_step(batch, BinaryCrossEntropy{}, opt);
  const auto dir = std::filesystem::temp_directory_path() / ("siamese_cuda_" + std::string(B::name));
  std::filesystem::create_directories(dir);
  save_weights(mr, dir / "ref.weights");
  load_weights(mb, dir / "ref.weights");
  expect_equal("parameters", params_of(mb), params_of(mr));
  expect_close("predict", values(mb.predict(batch.a, batch.b)), values(mr.predict(batch.a, batch.b)), 1e-5, 1e-6);
  save_weights(mb, dir / "dev.weights");
  Siamese<SmallCnn, PairHead, backend::Reference> back(1);
  load_weights(back, dir / "dev.weights");
  expect_equal("round trip", params_of(back), params_of(mr));
  std::filesystem::remove_all(dir);
}

}  // namespace
