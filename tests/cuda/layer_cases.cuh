#pragma once
// Every layer of the library run through a CUDA-backend type B and through backend::Reference on the
// same input, parameters and states: outputs, input and parameter gradients, updated states.
// Included after `using B = ...;`.
#include <siamese/layers/activation.hpp>
#include <siamese/layers/batchnorm.hpp>
#include <siamese/layers/conv_bn.hpp>
#include <siamese/layers/zero_padding.hpp>
#include <siamese/model/zoo/resnet50.hpp>
#include <siamese/layers/concat.hpp>
#include <siamese/layers/conv2d.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/dropout.hpp>
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/pooling.hpp>
#include <siamese/layers/recurrent.hpp>
#include <siamese/layers/reshape.hpp>
#include <siamese/layers/time_pooling.hpp>
#include <siamese/model/sequential.hpp>

#include "support.cuh"

using namespace siamese;
using namespace siamese::test;

namespace {

// cuBLAS sums in float where Reference sums in double (so does the host emulation's SGEMM).
constexpr double layer_tol = B::exec::on_device ? 5.0 : 1.0;

/// Spec bound to input shape In at position 0.
template <class Spec, class In>
using Bound = typename Spec::template bind<In, LayerIndex<0>>;

/// Runs bound layer L forward and backward on B and on Reference; `x` is the input (random when empty).
template <class L>
void compare_layer(const std::string& name, std::size_t n, bool training, std::vector<float> x = {},
                   double rtol = 1e-4, double atol = 1e-5) {
  INFO("layer " << name << " (" << L::describe() << "), batch " << n << (training ? ", training" : ", inference"));
  rtol *= layer_tol;
  atol *= layer_tol;
  const std::size_t in = n * L::in_shape::size, out = n * L::out_shape::size;
  const std::size_t pc = detail::param_count_of<L>(), sc = detail::state_count_of<L>();
  if (x.empty()) x = random_values(in, 101);
  REQUIRE(x.size() == in);
  const auto w = random_values(pc, 102, -0.5f, 0.5f), dy = random_values(out, 103);
  std::vector<float> state = random_values(sc, 104, 0.5f, 1.5f);
  std::vector<float> y(out), dx(in, 7.0f), dw(pc, 7.0f), scratch(L::scratch(n) + 1);
  Dev<B> bx(x), bw(w), bdy(dy), bstate(state), by(out), bdx(in, 7.0f), bdw(pc, 7.0f), bscratch(L::scratch(n) + 1);
  L::template forward<B>(Forward{bx.p(), by.p(), n, bw.p(), bstate.p(), bscratch.p(), training, 77});
  L::template forward<Ref>(Forward{x.data(), y.data(), n, w.data(), state.data(), scratch.data(), training, 77});
  expect_close(name + " forward", by.host(), y, rtol, atol);
  expect_close(name + " states", bstate.host(), state, rtol, atol);
  L::template backward<B>(
      Backward{bx.p(), by.p(), bdy.p(), bdx.p(), n, bw.p(), bdw.p(), bstate.p(), bscratch.p(), nullptr, 0, training});
  L::template backward<Ref>(
      Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), dw.data(), state.data(), scratch.data(), nullptr, 0,
               training});
  expect_close(name + " dx", bdx.host(), dx, rtol, atol);
  if (pc) expect_close(name + " dw", bdw.host(), dw, rtol, atol);
}

/// Sequences of n samples of T rows (width F) whose rows are zero (padding) with probability 1/4.
inline std::vector<float> padded_sequences(std::size_t n, std::size_t T, std::size_t F, std::uint64_t seed) {
  auto x = random_values(n * T * F, seed);
  detail::Rng r(seed + 1);
  for (std::size_t row = 0; row < n * T; ++row)
    if (r.below(4) == 0)
      for (std::size_t k = 0; k < F; ++k) x[row * F + k] = 0.0f;
  return x;
}

TEST_CASE("layers: Dense, Conv2D, pooling, activations, Dropout, BatchNorm, Concat") {
  compare_layer<Bound<Dense<7, ReLU>, Shape<13>>>("Dense relu", 9, true);
  compare_layer<Bound<Dense<5>, Shape<3>>>("Dense linear", 1, true);
  compare_layer<Bound<Dense<3, Sigmoid>, Shape<40>>>("Dense sigmoid", 17, true);
  compare_layer<Bound<Dense<4, Tanh>, Shape<6>>>("Dense tanh", 5, true);
  compare_layer<Bound<Conv2D<4, 3, 1, Padding::Valid, ReLU>, Shape<7, 8, 3>>>("Conv2D valid relu", 3, true);
  compare_layer<Bound<Conv2D<3, 3, 2, Padding::Same>, Shape<9, 9, 2>>>("Conv2D same stride 2", 2, true);
  compare_layer<Bound<Conv2D<5, 1, 1, Padding::Valid, Tanh>, Shape<4, 4, 3>>>("Conv2D 1x1 tanh", 2, true);
  compare_layer<Bound<MaxPool2D<2>, Shape<6, 7, 3>>>("MaxPool2D", 3, true, random_ints(3 * 6 * 7 * 3, 5, -2, 2));
  compare_layer<Bound<AvgPool2D<3, 2, Padding::Same>, Shape<7, 7, 2>>>("AvgPool2D same", 2, true);
  compare_layer<Bound<GlobalMaxPool2D, Shape<5, 4, 3>>>("GlobalMaxPool2D", 4, true);
  compare_layer<Bound<GlobalAvgPool2D, Shape<5, 4, 3>>>("GlobalAvgPool2D", 4, true);
  compare_layer<Bound<ReLU, Shape<11>>>("ReLU", 6, true);
  compare_layer<Bound<Tanh, Shape<2, 3>>>("Tanh", 6, true);
  compare_layer<Bound<Dropout<0.3f>, Shape<50>>>("Dropout training", 8, true);
  compare_layer<Bound<Dropout<0.3f>, Shape<50>>>("Dropout inference", 8, false);
  compare_layer<Bound<BatchNorm, Shape<5, 5, 3>>>("BatchNorm training", 4, true, {}, 1e-3, 1e-4);
  compare_layer<Bound<BatchNorm, Shape<6>>>("BatchNorm inference", 4, false, {}, 1e-3, 1e-4);
  compare_layer<Bound<Conv2DNoBias<4, 7, 2, Padding::Same>, Shape<9, 9, 3>>>("Conv2D without bias, 7x7/2", 2, true);
  compare_layer<Bound<ZeroPadding2D<1, 2, 0, 3>, Shape<4, 5, 3>>>("ZeroPadding2D", 3, true);
  compare_layer<Bound<ConvBN<4, 3, 2, Padding::Same, ReLU>, Shape<7, 7, 3>>>("ConvBN training", 2, true, {}, 1e-3, 1e-4);
  compare_layer<Bound<Sequential<Frozen<ConvBN<4, 3, 1, Padding::Same, ReLU>>, Conv2D<2, 1>>, Shape<5, 5, 2>>>(
      "ConvBN folded (frozen)", 2, true, {}, 1e-3, 1e-4);
  compare_layer<Bound<ResNetConvBlock<2, 2>, Shape<5, 5, 3>>>("ResNet projection block", 2, true, {}, 1e-3, 1e-4);
  compare_layer<Bound<Sequential<Frozen<ResNetIdentityBlock<2>>, Conv2D<2, 1>>, Shape<4, 4, 8>>>(
      "ResNet identity block, frozen (inference mode)", 2, true, {}, 1e-3, 1e-4);
  compare_layer<Bound<Concat<GlobalMaxPool2D, GlobalAvgPool2D>, Shape<3, 4, 5>>>("Concat of global pools", 3, true);
  compare_layer<Bound<Concat<Sequential<Dense<3, ReLU>>, Dense<2>>, Shape<7>>>("Concat of dense branches", 5, true);
}

TEST_CASE("layers: Embedding, LSTM, GRU, Bidirectional, masked time pooling") {
  const std::size_t n = 4, T = 6;
  auto ids = random_ints(n * T, 111, 0, 19);
  compare_layer<Bound<Embedding<20, 4>, Shape<T>>>("Embedding", n, true, ids);
  compare_layer<Bound<Embedding<20, 4, true, false>, Shape<T>>>("Embedding without mask", n, true, ids);
  compare_layer<Bound<LSTM<5>, Shape<T, 4>>>("LSTM last state", n, true, padded_sequences(n, T, 4, 112));
  compare_layer<Bound<LSTM<3, true>, Shape<T, 4>>>("LSTM sequences", n, true, padded_sequences(n, T, 4, 113));
  compare_layer<Bound<LSTM<3, false, false>, Shape<T, 2>>>("LSTM unmasked", n, true, padded_sequences(n, T, 2, 114));
  compare_layer<Bound<GRU<4>, Shape<T, 3>>>("GRU last state", n, true, padded_sequences(n, T, 3, 115));
  compare_layer<Bound<GRU<2, true>, Shape<T, 3>>>("GRU sequences", n, true, padded_sequences(n, T, 3, 116));
  compare_layer<Bound<Bidirectional<LSTM<3, true>>, Shape<T, 4>>>("Bidirectional LSTM", n, true,
                                                                  padded_sequences(n, T, 4, 117));
  compare_layer<Bound<Bidirectional<GRU<2>, Merge::Sum>, Shape<T, 4>>>("Bidirectional GRU sum", n, true,
                                                                       padded_sequences(n, T, 4, 118));
  compare_layer<Bound<GlobalMaxPool1D, Shape<T, 5>>>("GlobalMaxPool1D", n, true, padded_sequences(n, T, 5, 119));
  compare_layer<Bound<GlobalAvgPool1D, Shape<T, 5>>>("GlobalAvgPool1D", n, true, padded_sequences(n, T, 5, 120));
}

}  // namespace
