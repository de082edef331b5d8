#pragma once
// ResNet-50 as keras-vggface defines it for VGGFace2 (Cao et al. 2018): the Caffe layout of ResNet-50 (stride in
// the first 1x1 convolution of a block, no convolution bias, BatchNorm with 4 values per channel), as types; its
// input preprocessing; and the mapping from keras-vggface's layer names to the library's parameters.
#include <array>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../../core/errors.hpp"
#include "../../core/tensor.hpp"
#include "../../io/hdf5.hpp"
#include "../../io/npz.hpp"
#include "../../layers/activation.hpp"
#include "../../layers/batchnorm.hpp"
#include "../../layers/concat.hpp"
#include "../../layers/conv2d.hpp"
#include "../../layers/conv_bn.hpp"
#include "../../layers/pooling.hpp"
#include "../../layers/residual.hpp"
#include "../sequential.hpp"
#include "../train_last.hpp"
#include "vggface.hpp"  // bgr_mean_preprocess

namespace siamese {

/// Widths of a ResNet-50-shaped network: the stem's filters and the bottleneck width of stages 2..5 (each block
/// outputs 4x its bottleneck width). ResNet50Widths are the real ones; tests use small widths, same topology.
template <std::size_t Stem, std::size_t W2, std::size_t W3, std::size_t W4, std::size_t W5>
struct ResNetWidths {};
using ResNet50Widths = ResNetWidths<64, 64, 128, 256, 512>;

namespace detail {
/// A convolution of a residual block with its BatchNorm (ConvBN: folded into one convolution at inference); 3x3
/// ones keep the size.
template <std::size_t F, std::size_t K, std::size_t S = 1, class A = Linear>
using ResConv = ConvBN<F, K, S, K == 3 ? Padding::Same : Padding::Valid, A>;
template <std::size_t W, std::size_t S>
using ResMain = Main<ResConv<W, 1, S, ReLU>, ResConv<W, 3, 1, ReLU>, ResConv<4 * W, 1>>;
}  // namespace detail

/// The first block of a stage: 1x1 (stride S) -> 3x3 -> 1x1 (4W) bottleneck, each convolution followed by
/// BatchNorm, beside a projection shortcut (1x1 convolution of stride S to 4W, BatchNorm); added, then ReLU
/// (keras-vggface's resnet_conv_block). Each convolution and its BatchNorm is one ConvBN layer.
template <std::size_t W, std::size_t S = 2>
using ResNetConvBlock = ResidualBlock<detail::ResMain<W, S>, Shortcut<detail::ResConv<4 * W, 1, S>>, ReLU>;
/// The other blocks of a stage: the same bottleneck beside the identity (resnet_identity_block).
template <std::size_t W>
using ResNetIdentityBlock = ResidualBlock<detail::ResMain<W, 1>, Shortcut<>, ReLU>;

namespace detail {
template <std::size_t Size, class Widths, class... Top>
struct resnet50 {
  static_assert(sizeof(Widths) == 0, "ResNet50: the widths must be a ResNetWidths<...>");
  using type = Sequential<Input<32, 32, 3>>;
};
template <std::size_t Size, std::size_t S0, std::size_t A, std::size_t B, std::size_t C, std::size_t D, class... Top>
struct resnet50<Size, ResNetWidths<S0, A, B, C, D>, Top...> {
  static_assert(Size >= 32, "ResNet50: the stem and three strided stages need an input of at least 32x32");
  static constexpr std::size_t S = Size >= 32 ? Size : 32;  // no further errors after the assert
  using type = Sequential<Input<S, S, 3>,
                          // conv1/7x7_s2, its BatchNorm and ReLU; 3x3/2 max pooling ('valid', as keras-vggface)
                          ConvBN<S0, 7, 2, Padding::Same, ReLU>, MaxPool2D<3, 2>,
                          // stage 2 (stride 1), 3 (2), 4 (2), 5 (2): 3, 4, 6 and 3 blocks
                          ResNetConvBlock<A, 1>, ResNetIdentityBlock<A>, ResNetIdentityBlock<A>,  //
                          ResNetConvBlock<B>, ResNetIdentityBlock<B>, ResNetIdentityBlock<B>, ResNetIdentityBlock<B>,
                          ResNetConvBlock<C>, ResNetIdentityBlock<C>, ResNetIdentityBlock<C>, ResNetIdentityBlock<C>,
                          ResNetIdentityBlock<C>, ResNetIdentityBlock<C>,  //
                          ResNetConvBlock<D>, ResNetIdentityBlock<D>, ResNetIdentityBlock<D>, Top...>;
};
}  // namespace detail

/// The ResNet-50 encoder of a Siamese model: the stem, the 16 bottleneck blocks, then the per-channel maximum and
/// mean side by side (2 * 4 * W5 wide: 4096 for ResNet-50), as VGGFace's encoder ends. Input: Size x Size RGB
/// images preprocessed by vggface2_preprocess. Requires Size >= 32; the weights do not depend on Size.
template <std::size_t Size = 224, class Widths = ResNet50Widths>
using ResNet50EncoderAt = typename detail::resnet50<Size, Widths, Concat<GlobalMaxPool2D, GlobalAvgPool2D>>::type;

/// The number of bottleneck blocks in the last k stages of ResNet-50 (stages 5, 4, 3, 2 hold 3, 6, 4, 3).
constexpr std::size_t resnet50_blocks_in_last_stages(std::size_t k) {
  constexpr std::size_t blocks[] = {0, 3, 9, 13, 16};
  return blocks[k < 4 ? k : 4];
}

/// ResNet50EncoderAt with only its last K bottleneck blocks (and the pooling) trainable: the stem and the blocks
/// before them are one Frozen group, whose BatchNorms keep their moving statistics.
template <std::size_t K, std::size_t Size = 224, class Widths = ResNet50Widths>
using ResNet50EncoderTrainLastBlocks = TrainLast<K + 1, ResNet50EncoderAt<Size, Widths>>;
/// The same by stages: Stages = 1 trains stage 5 (3 blocks), 2 stages 4-5 (9 blocks), ..., 4 every block (the stem
/// stays frozen).
template <std::size_t Stages, std::size_t Size = 224, class Widths = ResNet50Widths>
using ResNet50EncoderTrainLastStages =
    ResNet50EncoderTrainLastBlocks<resnet50_blocks_in_last_stages(Stages), Size, Widths>;

/// The 224x224x3 network; ResNet50 is the encoder to put in a Siamese model:
/// Siamese<ResNet50, Head<SqDiff, DiffSq, Product>>.
using ResNet50Encoder = ResNet50EncoderAt<>;
using ResNet50 = ResNet50Encoder;
/// Stage 5 trainable, the rest frozen: the usual way to fine-tune the VGGFace2 model on a small data set.
using ResNet50EncoderFrozen = ResNet50EncoderTrainLastStages<1>;

/// Per-channel means subtracted from B, G, R pixel values (0..255) in VGGFace2's preprocessing.
inline constexpr std::array<float, 3> vggface2_bgr_mean{91.4953f, 103.8827f, 131.0912f};

/// VGGFace2's preprocessing (keras_vggface.utils.preprocess_input with version=2), in place: channels-last RGB
/// pixels in 0..255 become BGR with each channel's mean subtracted.
inline void vggface2_preprocess(float* hwc, std::size_t pixels) {
  bgr_mean_preprocess(hwc, pixels, vggface2_bgr_mean);
}
/// The same over a tensor of images (..., 3).
inline void vggface2_preprocess(Tensor& images) {
  bgr_mean_preprocess(images, vggface2_bgr_mean, "vggface2_preprocess");
}

/// keras-vggface's names of ResNet-50's 53 convolutions, in the library's parameter order: conv1/7x7_s2, then per
/// block conv{stage}_{block}_1x1_reduce, _3x3, _1x1_increase and, for the first block of a stage, _1x1_proj (the
/// shortcut's parameters follow the main branch's). Each convolution's BatchNorm is named "<conv>/bn".
inline const std::vector<std::string>& resnet50_conv_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n{"conv1/7x7_s2"};
    const std::size_t blocks[] = {3, 4, 6, 3};
    for (std::size_t s = 0; s < 4; ++s)
      for (std::size_t b = 1; b <= blocks[s]; ++b) {
        const std::string p = "conv" + std::to_string(s + 2) + "_" + std::to_string(b) + "_";
        for (const char* leaf : {"1x1_reduce", "3x3", "1x1_increase"}) n.push_back(p + leaf);
        if (b == 1) n.push_back(p + "1x1_proj");
      }
    return n;
  }();
  return names;
}

/// Pairs each ResNet-50 parameter and state under `prefix` with its array in a keras-vggface weight file (.h5 read
/// by read_keras_h5, or the .npz of scripts/convert_vggface.py --model resnet50): the i-th kernel takes
/// "<names[i]>/kernel"; the gamma and beta after it "<names[i]>/bn/gamma", ".../bn/beta"; the i-th pair of moving
/// statistics "<names[i]>/bn/moving_mean", ".../bn/moving_variance". Works for the whole encoder, plain or partly
/// frozen. Throws std::invalid_argument when the model's layers under `prefix` are not ResNet-50's.
inline std::vector<std::pair<std::string, std::string>> resnet50_weight_map(const std::vector<ParamInfo>& params,
                                                                           const std::vector<ParamInfo>& states,
                                                                           const std::string& prefix = "encoder/") {
  const auto& names = resnet50_conv_names();
  std::vector<std::pair<std::string, std::string>> links;
  const auto leaf_of = [&](const std::string& p) { return p.substr(p.rfind('/') + 1); };
  const auto fail = [](const std::string& why) {
    throw std::invalid_argument("resnet50_weight_map: " + why + " (the model under the prefix is not ResNet-50)");
  };
  std::size_t conv = 0;
  for (const auto& p : params) {
    if (p.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string leaf = leaf_of(p.name);
    if (leaf == "kernel") {
      if (conv == names.size()) fail("more than " + std::to_string(names.size()) + " kernels; '" + p.name + "'");
      links.emplace_back(p.name, names[conv++] + "/kernel");
    } else if (leaf == "gamma" || leaf == "beta") {
      if (conv == 0) fail("'" + p.name + "' comes before any convolution");
      links.emplace_back(p.name, names[conv - 1] + "/bn/" + leaf);
    } else {
      fail("parameter '" + p.name + "' is neither a kernel nor a BatchNorm's gamma or beta");
    }
  }
  std::size_t bn = 0;
  for (const auto& s : states) {
    if (s.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string leaf = leaf_of(s.name);
    if (leaf == "moving_mean") ++bn;
    else if (leaf != "moving_variance") fail("state '" + s.name + "' is not a BatchNorm's moving statistic");
    if (bn == 0 || bn > names.size()) fail("state '" + s.name + "' has no BatchNorm to belong to");
    links.emplace_back(s.name, names[bn - 1] + "/bn/" + leaf);
  }
  if (conv != names.size() || bn != names.size())
    fail(std::to_string(conv) + " kernels and " + std::to_string(bn) + " BatchNorms under '" + prefix + "', not " +
         std::to_string(names.size()));
  return links;
}

/// Loads keras-vggface's ResNet-50 weights (rcmalli_vggface_tf_resnet50[_notop].h5, read directly, or the .npz of
/// scripts/convert_vggface.py --model resnet50) into the ResNet-50 encoder of `model` under `prefix`. Returns the
/// number of arrays loaded (265: 53 kernels and 53 BatchNorms of 4 arrays).
template <class Model>
std::size_t import_resnet50(Model& model, const std::filesystem::path& file, const std::string& prefix = "encoder/") {
  const std::string ext = file.extension().string();
  const ArrayFile f = ext == ".h5" || ext == ".hdf5" ? read_keras_h5(file) : read_npz(file);
  return import_arrays(model, f, resnet50_weight_map(model.parameter_info(), model.state_info(), prefix));
}

// keras-vggface's RESNET50 without its top: 53 convolutions and 53 BatchNorms of 4 values per channel.
static_assert(bind_model<ResNet50Encoder>::param_count + bind_model<ResNet50Encoder>::state_count == 23'561'152,
              "ResNet-50 without its top holds 23,561,152 values (BatchNorm's moving statistics included)");
static_assert(bind_model<ResNet50Encoder>::out_shape::size == 4096);

}  // namespace siamese
