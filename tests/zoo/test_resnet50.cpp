// ResNet-50 (keras-vggface's VGGFace2 model) as types: shapes and counts at 224 checked at compile time, the
// keras-vggface name map, freezing by stage, and a golden test against PyTorch on the same topology at reduced
// widths (tests/zoo/data/resnet50_small.npz from scripts/make_resnet_golden.py: torchvision-style weights through
// scripts/convert_vggface.py, the network's output in inference and training mode).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <siamese/backend/backend.hpp>
#include <siamese/core/random.hpp>
#include <siamese/io/hdf5.hpp>
#include <siamese/io/npz.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/zoo/resnet50.hpp>
#include <siamese/optim/optimizers.hpp>

using namespace siamese;

// ---- compile-time facts at 224x224x3 ------------------------------------------------------------
using Enc = bind_model<ResNet50Encoder>;
static_assert(std::is_same_v<Enc::in_shape, Shape<224, 224, 3>>);
static_assert(Enc::count == 1 + 2 + 16 + 1);  // Input, stem (ConvBN, pool), 16 blocks, pooling
static_assert(std::is_same_v<Enc::layer<1>::out_shape, Shape<112, 112, 64>>);  // conv1/7x7_s2, 'same'
static_assert(std::is_same_v<Enc::layer<2>::out_shape, Shape<55, 55, 64>>);    // 3x3/2 'valid' max pooling
static_assert(std::is_same_v<Enc::layer<5>::out_shape, Shape<55, 55, 256>>);   // stage 2
static_assert(std::is_same_v<Enc::layer<9>::out_shape, Shape<28, 28, 512>>);   // stage 3
static_assert(std::is_same_v<Enc::layer<15>::out_shape, Shape<14, 14, 1024>>); // stage 4
static_assert(std::is_same_v<Enc::layer<18>::out_shape, Shape<7, 7, 2048>>);   // stage 5
static_assert(std::is_same_v<Enc::out_shape, Shape<4096>>);
// Weights summed by hand: the stem, then per stage the projection block and the identity blocks.
constexpr std::size_t bn(std::size_t c) { return 2 * c; }  // gamma, beta (the moving statistics are states)
constexpr std::size_t bottleneck(std::size_t in, std::size_t w) {
  return in * w + bn(w) + 9 * w * w + bn(w) + w * 4 * w + bn(4 * w);
}
constexpr std::size_t stage(std::size_t in, std::size_t w, std::size_t blocks) {
  return bottleneck(in, w) + in * 4 * w + bn(4 * w) + (blocks - 1) * bottleneck(4 * w, w);
}
static_assert(Enc::param_count ==
              49 * 3 * 64 + bn(64) + stage(64, 64, 3) + stage(256, 128, 4) + stage(512, 256, 6) + stage(1024, 512, 3));
// Moving mean and variance per BatchNorm channel: the stem's, then per stage n blocks of w + w + 4w and the shortcut's 4w.
constexpr std::size_t bn_channels(std::size_t w, std::size_t blocks) { return blocks * 6 * w + 4 * w; }
static_assert(Enc::state_count ==
              2 * (64 + bn_channels(64, 3) + bn_channels(128, 4) + bn_channels(256, 6) + bn_channels(512, 3)));
static_assert(Enc::param_count + Enc::state_count == 23'561'152);

// Freezing by stage: the stem and stages 2-4 in one Frozen group, stage 5 and the pooling trainable.
using Froz = bind_model<ResNet50EncoderFrozen>;
static_assert(Froz::count == 1 + 1 + 3 + 1);
static_assert(!Froz::layer<1>::has_trainable_params && Froz::first_trainable == 2);
static_assert(Froz::param_count == Enc::param_count);
static_assert(std::is_same_v<ResNet50EncoderTrainLastStages<2>, ResNet50EncoderTrainLastBlocks<9>>);
static_assert(bind_model<ResNet50EncoderTrainLastStages<4>>::count == 1 + 1 + 16 + 1);  // the stem alone frozen

using ResNetSiamese = Siamese<ResNet50, Head<SqDiff, DiffSq, Product>>;
static_assert(ResNetSiamese::embedding_width == 4096);

TEST_CASE("resnet50_conv_names: keras-vggface's 53 convolutions in parameter order") {
  const auto& n = resnet50_conv_names();
  REQUIRE(n.size() == 53);
  CHECK(n[0] == "conv1/7x7_s2");
  CHECK(n[1] == "conv2_1_1x1_reduce");
  CHECK(n[4] == "conv2_1_1x1_proj");
  CHECK(n[5] == "conv2_2_1x1_reduce");
  CHECK(n[52] == "conv5_3_1x1_increase");
}

// ---- run time, on the same topology with small widths ----------------------------------------------
using SmallWidths = ResNetWidths<8, 4, 8, 16, 32>;
using SmallEnc = ResNet50EncoderAt<64, SmallWidths>;
using SmallSiamese = Siamese<SmallEnc, Head<SqDiff, DiffSq, Product>, backend::Cpu>;

TEST_CASE("the name map covers every parameter and state of the encoder, plain or frozen, and nothing else") {
  auto m = std::make_unique<SmallSiamese>(1);
  const auto links = resnet50_weight_map(m->parameter_info(), m->state_info());
  CHECK(links.size() == 53 * 5);  // kernel, gamma, beta, moving mean, moving variance
  CHECK(links.front() == std::pair<std::string, std::string>{m->parameter_info()[0].name, "conv1/7x7_s2/kernel"});
  CHECK(std::count_if(links.begin(), links.end(), [](auto& l) { return l.second == "conv3_1_1x1_proj/bn/moving_variance"; }) == 1);
  auto frozen = std::make_unique<Siamese<ResNet50EncoderTrainLastStages<1, 64, SmallWidths>, Head<SqDiff>, backend::Cpu>>(1);
  const auto frozen_links = resnet50_weight_map(frozen->parameter_info(), frozen->state_info());
  CHECK(frozen_links == links);  // freezing renames nothing
  // A model that is not ResNet-50 is refused with the reason.
  using Small = Siamese<Sequential<Input<8, 8, 3>, Conv2D<2, 3>, GlobalAvgPool2D>, Head<SqDiff>, backend::Cpu>;
  auto other = std::make_unique<Small>(1);
  CHECK_THROWS_WITH_AS(resnet50_weight_map(other->parameter_info(), other->state_info()),
                       doctest::Contains("neither a kernel nor a BatchNorm"), std::invalid_argument);
}

namespace {
const NamedArray& array(const ArrayFile& f, const std::string& name) {
  const NamedArray* a = f.find(name);
  REQUIRE_MESSAGE(a, "the golden file has no array " << name);
  return *a;
}
/// Largest |got - want| relative to the largest |want|.
double relative_error(const float* got, const std::vector<float>& want) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return worst / scale;
}
}  // namespace

TEST_CASE("golden: the encoder equals PyTorch's on the same weights, in inference and in training mode") {
  const ArrayFile f = read_npz(ZOO_DATA "/resnet50_small.npz");
  auto m = std::make_unique<SmallSiamese>(1);
  CHECK(import_resnet50(*m, ZOO_DATA "/resnet50_small.npz") == 53 * 5);
  const NamedArray& in = array(f, "input");
  REQUIRE(in.shape == std::vector<std::size_t>{2, 64, 64, 3});
  Tensor x({2, 64, 64, 3});
  std::copy(in.data.begin(), in.data.end(), x.data());
  const Tensor e = m->embed(x);  // inference: BatchNorm uses the moving statistics
  const NamedArray& want_eval = array(f, "output_eval");
  REQUIRE(e.size() == want_eval.data.size());
  CHECK(relative_error(e.data(), want_eval.data) < 1e-3);

  // Training mode (batch statistics), on the bound encoder with the model's buffers.
  using E = SmallSiamese::encoder;
  std::vector<float> states(m->states().data(), m->states().data() + m->states().size()), y(2 * E::out_shape::size),
      scratch(E::scratch(2));
  E::forward<backend::Cpu>(
      Forward{x.data(), y.data(), 2, m->parameters().data(), states.data(), scratch.data(), true, 1});
  CHECK(relative_error(y.data(), array(f, "output_train").data) < 1e-3);
}

TEST_CASE("the keras-vggface .h5 layout loads directly, to the same weights as the converted .npz") {
  auto a = std::make_unique<SmallSiamese>(1), b = std::make_unique<SmallSiamese>(2);
  import_resnet50(*a, ZOO_DATA "/resnet50_small.npz");
  CHECK(import_resnet50(*b, ZOO_DATA "/resnet50_small_keras.h5") == 53 * 5);
  // Differently seeded models: every encoder parameter comes from the files (the head's are not in them).
  std::size_t compared = 0;
  for (const auto& p : a->parameter_info())
    if (p.name.rfind("encoder/", 0) == 0) {
      CHECK_MESSAGE(std::equal(a->parameters().data() + p.offset, a->parameters().data() + p.offset + p.size,
                               b->parameters().data() + p.offset),
                    p.name);
      compared += p.size;
    }
  CHECK(compared == bind_model<SmallEnc>::param_count);
  CHECK(std::equal(a->states().data(), a->states().data() + a->states().size(), b->states().data()));
}

TEST_CASE("training with the stem and stages 2-4 frozen: their weights and BatchNorm statistics stay put") {
  using FrozenSmall = Siamese<ResNet50EncoderTrainLastStages<1, 64, SmallWidths>, Head<SqDiff, DiffSq, Product>,
                              backend::Cpu>;
  auto m = std::make_unique<FrozenSmall>(3);
  PairBatch batch{Tensor({4, 64, 64, 3}), Tensor({4, 64, 64, 3}), {0, 1, 0, 1}};
  detail::Rng r(5);
  for (auto& v : batch.a) v = r.uniform(0.0f, 255.0f);
  for (auto& v : batch.b) v = r.uniform(0.0f, 255.0f);
  vggface2_preprocess(batch.a);
  vggface2_preprocess(batch.b);
  const std::vector<float> p0(m->parameters().data(), m->parameters().data() + m->parameters().size()),
      s0(m->states().data(), m->states().data() + m->states().size());
  Adam adam;
  adam.learning_rate = 1e-3f;
  for (int step = 0; step < 2; ++step) CHECK(std::isfinite(m->train_step(batch, BinaryCrossEntropy{}, adam)));
  std::size_t changed_frozen = 0, changed_trainable = 0, moved_frozen_stats = 0, moved_trainable_stats = 0;
  for (const auto& p : m->parameter_info())
    for (std::size_t i = p.offset; i < p.offset + p.size; ++i)
      (p.trainable ? changed_trainable : changed_frozen) += m->parameters().data()[i] != p0[i];
  const std::size_t frozen_states = bind_model<ResNet50EncoderTrainLastStages<1, 64, SmallWidths>>::layer<1>::state_count;
  for (std::size_t i = 0; i < s0.size(); ++i)
    (i < frozen_states ? moved_frozen_stats : moved_trainable_stats) += m->states().data()[i] != s0[i];
  CHECK(changed_frozen == 0);
  CHECK(moved_frozen_stats == 0);
  CHECK(changed_trainable > 0);
  CHECK(moved_trainable_stats > 0);  // stage 5's BatchNorms train on batch statistics and update theirs
}

TEST_CASE("vggface2_preprocess: RGB to BGR minus VGGFace2's means; a wrong shape is refused") {
  Tensor t({1, 1, 3});
  t.data()[0] = 200, t.data()[1] = 100, t.data()[2] = 50;
  vggface2_preprocess(t);
  CHECK(t.data()[0] == doctest::Approx(50 - 91.4953));
  CHECK(t.data()[1] == doctest::Approx(100 - 103.8827));
  CHECK(t.data()[2] == doctest::Approx(200 - 131.0912));
  Tensor bad({2, 4});
  CHECK_THROWS_AS(vggface2_preprocess(bad), ShapeError);
}
