// VGGFace as types (shapes and counts at 224, checked at compile time), TrainLast, preprocessing and
// the Keras name mapping; run-time checks use the same topology with tiny widths at 32x32.
#include <doctest/doctest.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include <siamese/core/random.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/train_last.hpp>
#include <siamese/model/zoo/vggface.hpp>
#include <siamese/optim/optimizers.hpp>

using namespace siamese;

// ---- compile-time facts at 224x224x3 ------------------------------------------------------------
using Enc = bind_model<VGGFaceEncoder>;
static_assert(std::is_same_v<Enc::in_shape, Shape<224, 224, 3>>);
static_assert(Enc::count == 1 + 13 + 5 + 1);
static_assert(std::is_same_v<Enc::layer<3>::out_shape, Shape<112, 112, 64>>);     // pool1
static_assert(std::is_same_v<Enc::layer<6>::out_shape, Shape<56, 56, 128>>);      // pool2
static_assert(std::is_same_v<Enc::layer<10>::out_shape, Shape<28, 28, 256>>);     // pool3
static_assert(std::is_same_v<Enc::layer<14>::out_shape, Shape<14, 14, 512>>);     // pool4
static_assert(std::is_same_v<Enc::layer<18>::out_shape, Shape<7, 7, 512>>);       // pool5
static_assert(std::is_same_v<Enc::out_shape, Shape<1024>>);
// 3x3 convolutions: 9 * in * out + out each, summed by hand over the thirteen layers.
constexpr std::size_t conv(std::size_t in, std::size_t out) { return 9 * in * out + out; }
static_assert(Enc::param_count == conv(3, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) +
                                      2 * conv(256, 256) + conv(256, 512) + 5 * conv(512, 512));
using Top = bind_model<VGGFaceTop>;
static_assert(std::is_same_v<Top::layer<19>::out_shape, Shape<25088>>);
static_assert(std::is_same_v<Top::out_shape, Shape<2622>>);
static_assert(Top::param_count == Enc::param_count + (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 2622 + 2622));

using VGGSiamese = Siamese<VGGFace, Head<SqDiff, DiffSq, Cosine>>;
static_assert(VGGSiamese::embedding_width == 1024);
static_assert(VGGSiamese::head::width == 1024 + 1024 + 1);

// The frozen encoder: Input, one Frozen group of blocks 1-4, then conv5_1..conv5_3, pool5, pooling.
using Froz = bind_model<VGGFaceEncoderFrozen>;
static_assert(Froz::count == 1 + 1 + 5);
static_assert(!Froz::layer<1>::has_trainable_params && Froz::layer<1>::count == 10 + 4);
static_assert(std::is_same_v<Froz::layer<1>::out_shape, Shape<14, 14, 512>>);
static_assert(Froz::first_trainable == 2);
static_assert(Froz::param_count == Enc::param_count);
// Trainable: conv5_1 ... conv5_3 only, the table's 7,079,424.
static_assert(Froz::param_count - Froz::layer<1>::param_count == 3 * conv(512, 512));
static_assert(3 * conv(512, 512) == 7079424);

// ---- TrainLast as list manipulation --------------------------------------------------------------
using Net = Sequential<Input<4>, Dense<3>, ReLU, Dense<2>>;
static_assert(std::is_same_v<TrainLast<1, Net>, Sequential<Input<4>, Frozen<Dense<3>, ReLU>, Dense<2>>>);
static_assert(std::is_same_v<TrainLast<2, Net>, Sequential<Input<4>, Frozen<Dense<3>>, ReLU, Dense<2>>>);
static_assert(std::is_same_v<TrainLast<0, Net>, Sequential<Input<4>, Frozen<Dense<3>, ReLU, Dense<2>>>>);
static_assert(std::is_same_v<TrainLast<3, Net>, Net>);
static_assert(std::is_same_v<TrainLast<9, Net>, Net>);
static_assert(std::is_same_v<TrainLast<1, Sequential<Dense<3>, Dense<2>>>, Sequential<Frozen<Dense<3>>, Dense<2>>>);

// ---- run time, on the same topology with tiny widths ------------------------------------------------
using TinyWidths = VGGWidths<2, 3, 4, 4, 5>;
using TinyEnc = VGGFaceEncoderAt<32, TinyWidths>;
using TinyFrozen = VGGFaceEncoderFrozenAt<32, TinyWidths>;
using Classify = Head<SqDiff, DiffSq, Cosine, Classifier<Dense<4, Tanh>, Dense<1>>>;

namespace {
PairBatch random_pairs(std::size_t n, std::uint64_t seed) {
  PairBatch b{Tensor({n, 32, 32, 3}), Tensor({n, 32, 32, 3}), {}};
  detail::Rng r(seed);
  for (auto& v : b.a) v = r.uniform(0.0f, 255.0f);
  for (auto& v : b.b) v = r.uniform(0.0f, 255.0f);
  vggface_preprocess(b.a);
  vggface_preprocess(b.b);
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float(i % 2));
  return b;
}
template <class M>
std::vector<float> params_of(const M& m) {
  return {m.parameters().data(), m.parameters().data() + m.parameters().size()};
}
}  // namespace

TEST_CASE("vggface_preprocess: RGB becomes BGR minus the channel means") {
  Tensor t({1, 1, 2, 3});
  const float px[] = {10, 20, 30, 200, 100, 0};
  std::copy(px, px + 6, t.begin());
  vggface_preprocess(t);
  const float want[] = {30 - 93.5940f, 20 - 104.7624f, 10 - 129.1863f, 0 - 93.5940f, 100 - 104.7624f, 200 - 129.1863f};
  for (int i = 0; i < 6; ++i) CHECK(t[i] == doctest::Approx(want[i]));
  Tensor grey({2, 2, 1});
  CHECK_THROWS_WITH_AS(vggface_preprocess(grey), doctest::Contains("(2, 2, 1) do not end in 3 channels"), ShapeError);
}

TEST_CASE("Keras names map onto the encoder's parameters in order, frozen groups included") {
  Siamese<TinyFrozen, Classify, backend::Reference> m(1);
  const auto links = vggface_weight_map(m.parameter_info());
  REQUIRE(links.size() == 26);
  CHECK(links[0] == std::pair<std::string, std::string>{"encoder/1_conv2d/kernel", "conv1_1/kernel"});
  CHECK(links[1] == std::pair<std::string, std::string>{"encoder/1_conv2d/bias", "conv1_1/bias"});
  CHECK(links[19].second == "conv4_3/bias");
  CHECK(links[20] == std::pair<std::string, std::string>{"encoder/15_conv2d/kernel", "conv5_1/kernel"});
  CHECK(links[25] == std::pair<std::string, std::string>{"encoder/17_conv2d/bias", "conv5_3/bias"});
  // Every mapped name is a real parameter whose shape matches the layer that Keras names so.
  for (std::size_t i = 0; i < links.size(); i += 2) {
    const auto it = std::find_if(m.parameter_info().begin(), m.parameter_info().end(),
                                 [&](const ParamInfo& p) { return p.name == links[i].first; });
    REQUIRE(it != m.parameter_info().end());
    CHECK(it->shape.size() == 4);
    CHECK(it->shape[0] == 3);
  }
  CHECK_THROWS_WITH_AS(keras_weight_map(m.parameter_info(), "encoder/", {"a", "b"}),
                       doctest::Contains("more than 2 layers with a kernel under 'encoder/'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(vggface_weight_map(m.parameter_info(), "nothing/"), doctest::Contains("has no kernel"),
                       std::invalid_argument);
}

TEST_CASE("the classifier network maps all sixteen Keras layers") {
  using TinyTop = VGGFaceTopAt<32, TinyWidths, 6, 7>;
  static_assert(bind_model<TinyTop>::out_shape::size == 7);
  Siamese<TinyTop, Classify, backend::Reference> m(2);
  const auto links = vggface_weight_map(m.parameter_info());
  REQUIRE(links.size() == 32);
  CHECK(links[26] == std::pair<std::string, std::string>{"encoder/20_dense/kernel", "fc6/kernel"});
  CHECK(links[31] == std::pair<std::string, std::string>{"encoder/22_dense/bias", "fc8/bias"});
}

TEST_CASE("freezing all but the last block: same embeddings, same gradients there, nothing else moves") {
  Siamese<TinyEnc, Classify, backend::Reference> full(5);
  Siamese<TinyFrozen, Classify, backend::Reference> frozen(9);
  REQUIRE(full.parameters().size() == frozen.parameters().size());
  CHECK(decltype(full)::signature() == decltype(frozen)::signature());  // freezing changes no file
  // Same weights: the frozen model lays its parameters out in the same order.
  const auto w = params_of(full);
  std::copy(w.begin(), w.end(), frozen.parameters().data());
  const auto batch = random_pairs(3, 17);
  const Tensor ea = full.embed(batch.a), eb = frozen.embed(batch.a);
  for (std::size_t i = 0; i < ea.size(); ++i) CHECK(ea[i] == eb[i]);

  SGD still;
  still.learning_rate = 0.0f;
  full.train_step(batch, BinaryCrossEntropy{}, still);
  frozen.train_step(batch, BinaryCrossEntropy{}, still);
  const auto& info = frozen.parameter_info();
  std::size_t trainable = 0;
  for (std::size_t t = 0; t < info.size(); ++t) {
    const bool last_block = t > 19;  // after conv4_3's bias, info[19]
    CHECK(info[t].trainable == last_block);
    if (!last_block) continue;
    trainable += info[t].size;
    for (std::size_t i = info[t].offset; i < info[t].offset + info[t].size; ++i)
      CHECK(frozen.gradients()[i] == doctest::Approx(full.gradients()[i]).epsilon(1e-4));
  }
  // conv5_1..conv5_3 (4 -> 5, 5 -> 5, 5 -> 5) and the head's classifier.
  CHECK(trainable == conv(4, 5) + 2 * conv(5, 5) + (21 * 4 + 4) + (4 + 1));  // head width 10 + 10 + 1

  Adam opt;
  for (int i = 0; i < 3; ++i) frozen.train_step(batch, BinaryCrossEntropy{}, opt);
  const auto after = params_of(frozen);
  const std::size_t frozen_end = info[19].offset + info[19].size;  // conv4_3's bias
  REQUIRE(info[19].name == "encoder/13_conv2d/bias");
  for (std::size_t i = 0; i < frozen_end; ++i) REQUIRE(after[i] == w[i]);
  std::size_t moved = 0;
  for (std::size_t i = frozen_end; i < after.size(); ++i) moved += after[i] != w[i];
  CHECK(moved > trainable / 2);
}
