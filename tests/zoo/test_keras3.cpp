// Keras 3 weight files (model.save_weights("x.weights.h5"): layers/<key>/vars/<i>) written by Keras 3 itself
// (scripts/make_keras3_golden.py): each loads into the matching siamese encoder, whose embeddings must be the
// outputs Keras computed for the same inputs. Damaged Keras 3 layouts end in a FileError naming the file.
#include <siamese/io/hdf5.hpp>
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
using Links = std::vector<std::pair<std::string, std::string>>;

fs::path data(const std::string& name) { return fs::path(ZOO_DATA) / name; }

std::vector<std::string> names_of(const ArrayFile& f) {
  std::vector<std::string> out;
  for (const auto& a : f.arrays) out.push_back(a.name);
  std::sort(out.begin(), out.end());
  return out;
}

// Loads <name>.weights.h5 into an Embedder of Enc through `links` and compares its embeddings of <name>.io.npz's
// x with the y Keras computed.
template <class Enc, class B>
void check_golden(const std::string& name, const Links& links) {
  INFO(name);
  const ArrayFile w = read_keras_h5(data(name + ".weights.h5"));
  CHECK(w.arrays.size() == links.size());  // every weight of the file has its parameter
  Embedder<Enc, B> m(1);
  CHECK(import_arrays(m, w, links) == links.size());
  const ArrayFile io = read_npz(data(name + ".io.npz"));
  const NamedArray *x = io.find("x"), *y = io.find("y");
  REQUIRE(x);
  REQUIRE(y);
  Tensor in(x->shape);
  std::copy(x->data.begin(), x->data.end(), in.data());
  const Tensor e = m.embed(in);
  REQUIRE(e.size() == y->data.size());
  double worst = 0;
  for (std::size_t i = 0; i < e.size(); ++i)
    worst = std::max(worst, std::abs(double(e[i]) - y->data[i]) / (1.0 + std::abs(double(y->data[i]))));
  MESSAGE(name, ": largest difference from Keras 3 ", worst);
  CHECK(worst < 2e-5);
}
}  // namespace

TEST_CASE("Keras 3: a convolutional encoder (Conv2D, pooling, BatchNorm, Dense)") {
  const ArrayFile w = read_keras_h5(data("keras3_conv.weights.h5"));
  CHECK(names_of(w) == std::vector<std::string>{"bn/beta", "bn/gamma", "bn/moving_mean", "bn/moving_variance",
                                                "conv_a/bias", "conv_a/kernel", "conv_b/bias", "conv_b/kernel",
                                                "embedding/bias", "embedding/kernel"});
  CHECK(w.find("conv_a/kernel")->shape == std::vector<std::size_t>{3, 3, 1, 4});
  using Enc = Sequential<Input<8, 8, 1>, Conv2D<4, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                         Conv2D<6, 3, 1, Padding::Same>, BatchNorm, ReLU, Flatten, Dense<5>>;
  const Links links{{"encoder/1_conv2d/kernel", "conv_a/kernel"},          {"encoder/1_conv2d/bias", "conv_a/bias"},
                    {"encoder/3_conv2d/kernel", "conv_b/kernel"},          {"encoder/3_conv2d/bias", "conv_b/bias"},
                    {"encoder/4_batchnorm/gamma", "bn/gamma"},             {"encoder/4_batchnorm/beta", "bn/beta"},
                    {"encoder/4_batchnorm/moving_mean", "bn/moving_mean"},
                    {"encoder/4_batchnorm/moving_variance", "bn/moving_variance"},
                    {"encoder/7_dense/kernel", "embedding/kernel"},        {"encoder/7_dense/bias", "embedding/bias"}};
  check_golden<Enc, backend::Reference>("keras3_conv", links);
  check_golden<Enc, backend::Cpu>("keras3_conv", links);
}

TEST_CASE("Keras 3: a Dense / BatchNorm stack with a nested model") {
  const ArrayFile w = read_keras_h5(data("keras3_dense.weights.h5"));
  CHECK(names_of(w) == std::vector<std::string>{"block/d2/bias", "block/d2/kernel", "block/d3/bias", "block/d3/kernel",
                                                "bn1/beta", "bn1/gamma", "bn1/moving_mean", "bn1/moving_variance",
                                                "d1/bias", "d1/kernel", "out/bias", "out/kernel"});
  using Enc = Sequential<Input<6>, Dense<8, ReLU>, BatchNorm, Sequential<Dense<4, Tanh>, Dense<4>>, Dense<3>>;
  const Links links{{"encoder/1_dense/kernel", "d1/kernel"},
                    {"encoder/1_dense/bias", "d1/bias"},
                    {"encoder/2_batchnorm/gamma", "bn1/gamma"},
                    {"encoder/2_batchnorm/beta", "bn1/beta"},
                    {"encoder/2_batchnorm/moving_mean", "bn1/moving_mean"},
                    {"encoder/2_batchnorm/moving_variance", "bn1/moving_variance"},
                    {"encoder/3_sequential/0_dense/kernel", "block/d2/kernel"},
                    {"encoder/3_sequential/0_dense/bias", "block/d2/bias"},
                    {"encoder/3_sequential/1_dense/kernel", "block/d3/kernel"},
                    {"encoder/3_sequential/1_dense/bias", "block/d3/bias"},
                    {"encoder/4_dense/kernel", "out/kernel"},
                    {"encoder/4_dense/bias", "out/bias"}};
  check_golden<Enc, backend::Reference>("keras3_dense", links);
  check_golden<Enc, backend::Cpu>("keras3_dense", links);
}

TEST_CASE("Keras 3: LSTM and GRU, whose variables Keras 3 keeps under the layer's cell") {
  const ArrayFile w = read_keras_h5(data("keras3_rnn.weights.h5"));
  CHECK(names_of(w) == std::vector<std::string>{"gru/bias", "gru/kernel", "gru/recurrent_kernel", "lstm/bias",
                                                "lstm/kernel", "lstm/recurrent_kernel", "out/bias", "out/kernel"});
  CHECK(w.find("gru/bias")->shape == std::vector<std::size_t>{2, 9});  // reset_after: input and recurrent rows
  using Enc = Sequential<Input<5, 3>, LSTM<4, true>, GRU<3>, Dense<2>>;
  Links links;
  for (const char* v : {"kernel", "recurrent_kernel", "bias"}) {
    links.emplace_back(std::string("encoder/1_lstm/") + v, std::string("lstm/") + v);
    links.emplace_back(std::string("encoder/2_gru/") + v, std::string("gru/") + v);
  }
  links.emplace_back("encoder/3_dense/kernel", "out/kernel");
  links.emplace_back("encoder/3_dense/bias", "out/bias");
  check_golden<Enc, backend::Reference>("keras3_rnn", links);
  check_golden<Enc, backend::Cpu>("keras3_rnn", links);
}

TEST_CASE("Keras 3: the layer-class table names variables only where the count fits") {
  CHECK(detail::keras3_class("dense_12") == "dense");
  CHECK(detail::keras3_class("conv2d") == "conv2d");
  CHECK(detail::keras3_class("re_lu") == "re_lu");
  CHECK(detail::keras3_class("batch_normalization_3") == "batch_normalization");
  CHECK(detail::keras3_var_name("dense", 1, 2) == "bias");
  CHECK(detail::keras3_var_name("dense", 0, 1) == "kernel");
  CHECK(detail::keras3_var_name("batch_normalization", 3, 4) == "moving_variance");
  CHECK(detail::keras3_var_name("batch_normalization", 0, 2) == "moving_mean");
  CHECK(detail::keras3_var_name("batch_normalization", 0, 3).empty());  // scale or center off: ambiguous
  CHECK(detail::keras3_var_name("my_layer", 0, 1).empty());
}
