// summary(): the constexpr table of every model type, checked against the type and against Keras' counts.
#include <siamese/siamese.hpp>
#include <siamese/model/zoo/resnet50.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace siamese;

namespace {
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Flatten, Dense<128>>;
using Pairs = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>>;
constexpr auto pairs = Pairs::summary_table;

// Keras' model.summary() of the same layers: 320, 18,496 and 204,928 parameters; the default classifier on 257
// features (SqDiff 128 + DiffSq 128 + Cosine 1) has Dense(100) 25,800 and Dense(1) 101.
static_assert(pairs.size() == 7 + 4);
static_assert(pairs.rows[0].name() == "InputLayer" && pairs.rows[0].params() == 0);
static_assert(pairs.rows[1].name() == "Conv2D" && pairs.rows[1].params() == 320 && pairs.rows[1].rank == 3 &&
              pairs.rows[1].shape[0] == 26 && pairs.rows[1].shape[2] == 32);
static_assert(pairs.rows[2].name() == "MaxPool2D" && pairs.rows[2].shape[0] == 13);
static_assert(pairs.rows[3].params() == 18'496);
static_assert(pairs.rows[5].name() == "Flatten" && pairs.rows[5].shape[0] == 1600 && pairs.rows[5].activations == 0);
static_assert(pairs.rows[6].name() == "Dense" && pairs.rows[6].params() == 204'928);
static_assert(pairs.rows[7].name() == "PairFeatures" && pairs.rows[7].shape[0] == 257 && pairs.rows[7].part == 'h');
static_assert(pairs.rows[8].params() == 25'800 && pairs.rows[9].name() == "Dropout" && pairs.rows[10].params() == 101);
static_assert(pairs.total() == Pairs::param_count + Pairs::state_count && pairs.total() == 223'744 + 25'901);
static_assert(pairs.non_trainable == 0);
// Activations of one image: 26*26*32 + 13*13*32 + 11*11*64 + 5*5*64 + 128 floats (Input and Flatten run nothing).
static_assert(pairs.encoder_activations == 21'632 + 5'408 + 7'744 + 1'600 + 128);
static_assert(pairs.activation_bytes_per_sample() == 4 * (2 * pairs.encoder_activations + 257 + 100 + 100 + 1));

/// The same counts from the run-time parameter lists that training uses.
template <class Model>
void check_against_collect() {
  using E = typename Model::encoder;
  std::vector<ParamInfo> p, s;
  detail::collect<E>(p, "", 0, true, false);
  detail::collect<E>(s, "", 0, true, true);
  std::size_t trainable = 0, frozen = 0, states = 0;
  for (const auto& t : p) (t.trainable ? trainable : frozen) += t.size;
  for (const auto& t : s) states += t.size;
  constexpr auto table = Model::summary_table;
  std::size_t head = 0;
  if constexpr (requires { typename Model::head; }) head = Model::head::param_count;
  CHECK(table.trainable == trainable + head);
  CHECK(table.non_trainable == frozen + states);
  std::size_t rows = 0;
  for (const auto& r : table.rows) rows += r.params();
  CHECK(rows == Model::param_count + Model::state_count);
}
}  // namespace

TEST_CASE("summary: a small CNN's table matches Keras' and the type") {
  check_against_collect<Pairs>();
  const std::string text = Pairs::summary();
  CHECK(text.find("Model: \"Siamese\"") == 0);
  CHECK(text.find("(None, 26, 26, 32)") != std::string::npos);
  CHECK(text.find("18,496") != std::string::npos);
  CHECK(text.find("Total params: 249,645") != std::string::npos);
  CHECK(text.find("Non-trainable params: 0") != std::string::npos);
  CHECK(text.find("head/0 (PairFeatures)") != std::string::npos);
}

TEST_CASE("summary: VGGFace (VGG16 without its top) has Keras' 14,714,688 parameters") {
  using Full = Embedder<VGGFaceEncoderAt<32>>;
  using Last = Siamese<VGGFaceEncoderFrozenAt<32>, Head<SqDiff, DiffSq, Cosine>>;
  static_assert(Full::summary_table.total() == 14'714'688 && Full::summary_table.non_trainable == 0);
  // Only block 5 trains: three 3x3 convolutions of 512 filters on 512 channels.
  static_assert(Last::summary_table.trainable - Last::head::param_count == 3 * (3 * 3 * 512 * 512 + 512));
  static_assert(Last::summary_table.non_trainable == 14'714'688 - 3 * (3 * 3 * 512 * 512 + 512));
  check_against_collect<Full>();
  check_against_collect<Last>();
  CHECK(Full::summary().find("Total params: 14,714,688 (56.13 MB)") != std::string::npos);
}

TEST_CASE("summary: ResNet-50 counts BatchNorm's moving statistics as non-trainable, as Keras does") {
  using Full = Triplet<ResNet50EncoderAt<32>>;
  using Stage5 = Embedder<ResNet50EncoderTrainLastStages<1, 32>>;
  constexpr auto t = Full::summary_table;
  static_assert(t.total() == 23'561'152);
  // Keras' ResNet50 (VGGFace2, no top): 23,508,032 trainable, 53,120 non-trainable (the moving means and variances).
  static_assert(t.trainable == 23'508'032 && t.non_trainable == 53'120);
  // The stem: conv1/7x7_s2 with its BatchNorm and ReLU as one ConvBN layer, then max pooling.
  static_assert(t.rows[0].name() == "InputLayer" && t.rows[1].name() == "ConvBN" && t.rows[2].name() == "MaxPool2D");
  static_assert(t.rows[t.size() - 1].name() == "Concat" && t.rows[t.size() - 1].shape[0] == 4096);
  static_assert(Stage5::summary_table.total() == 23'561'152);
  static_assert(Stage5::summary_table.trainable < t.trainable);
  check_against_collect<Full>();
  check_against_collect<Stage5>();
  std::size_t blocks = 0;
  for (const auto& r : t.rows) blocks += r.name() == "ResidualBlock";
  CHECK(blocks == 16);
  const std::string text = Full::summary();
  CHECK(text.find("Model: \"Triplet\"") == 0);
  CHECK(text.find("Total params: 23,561,152") != std::string::npos);
  CHECK(text.find("Non-trainable params: 53,120") != std::string::npos);
  CHECK(text.find("3 encoder passes") != std::string::npos);
}

TEST_CASE("summary: text layers name themselves") {
  using Text = Siamese<Sequential<Input<30>, Embedding<2000, 16>, Bidirectional<LSTM<8, true>>, GlobalMaxPool1D>,
                       Head<AbsDiff>>;
  constexpr auto t = Text::summary_table;
  static_assert(t.rows[1].name() == "Embedding" && t.rows[1].params() == 32'000 && t.rows[1].rank == 2);
  static_assert(t.rows[2].name() == "Bidirectional" && t.rows[2].params() == 2 * 4 * (16 * 8 + 8 * 8 + 8));
  static_assert(t.rows[3].name() == "GlobalMaxPool1D" && t.rows[3].shape[0] == 16);
  check_against_collect<Text>();
}
