#pragma once
// VGGFace (Parkhi, Vedaldi, Zisserman 2015): the VGG16 topology trained on 2,622 identities, as types,
// its input preprocessing, and the mapping from its Keras layer names to the library's parameters.
#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../../core/errors.hpp"
#include "../../core/tensor.hpp"
#include "../../layers/concat.hpp"
#include "../../layers/conv2d.hpp"
#include "../../layers/dense.hpp"
#include "../../layers/pooling.hpp"
#include "../../layers/reshape.hpp"
#include "../sequential.hpp"
#include "../train_last.hpp"

namespace siamese {

/// Filter counts of the five convolution blocks of a VGG16-shaped network. VGGFaceWidths are the
/// real ones; tests use small widths with the same topology.
template <std::size_t B1, std::size_t B2, std::size_t B3, std::size_t B4, std::size_t B5>
struct VGGWidths {};
using VGGFaceWidths = VGGWidths<64, 128, 256, 512, 512>;

namespace detail {
template <std::size_t F>
using VGGConv = Conv2D<F, 3, 1, Padding::Same, ReLU>;
using VGGPool = MaxPool2D<2>;

template <std::size_t Size, class Widths, class... Top>
struct vgg16 {
  static_assert(sizeof(Widths) == 0, "VGG16: the widths must be a VGGWidths<...>");
  using type = Sequential<Input<32, 32, 3>>;
};
template <std::size_t Size, std::size_t A, std::size_t B, std::size_t C, std::size_t D, std::size_t E, class... Top>
struct vgg16<Size, VGGWidths<A, B, C, D, E>, Top...> {
  static_assert(Size >= 32, "VGG16: five 2x2 poolings need an input of at least 32x32");
  static constexpr std::size_t S = Size >= 32 ? Size : 32;  // no further errors after the assert
  using type = Sequential<Input<S, S, 3>,                               //
                          VGGConv<A>, VGGConv<A>, VGGPool,              // block 1
                          VGGConv<B>, VGGConv<B>, VGGPool,              // block 2
                          VGGConv<C>, VGGConv<C>, VGGConv<C>, VGGPool,  // block 3
                          VGGConv<D>, VGGConv<D>, VGGConv<D>, VGGPool,  // block 4
                          VGGConv<E>, VGGConv<E>, VGGConv<E>, VGGPool,  // block 5
                          Top...>;
};
}  // namespace detail

/// The VGGFace encoder of a Siamese model: the thirteen 3x3 same-padded ReLU convolutions in five
/// blocks, each block closed by 2x2 max pooling, then the per-channel maximum and mean side by side
/// (2 * B5 wide: 1024 for VGGFace). Input: Size x Size RGB images preprocessed by vggface_preprocess.
/// Requires Size >= 32; the convolution weights do not depend on Size.
template <std::size_t Size = 224, class Widths = VGGFaceWidths>
using VGGFaceEncoderAt = typename detail::vgg16<Size, Widths, Concat<GlobalMaxPool2D, GlobalAvgPool2D>>::type;

/// The VGGFace classifier: the convolution blocks, then fc6 and fc7 (Fc ReLU units) and fc8 (one
/// logit per identity; Keras applies a softmax on top, which does not change the ranking).
template <std::size_t Size = 224, class Widths = VGGFaceWidths, std::size_t Fc = 4096, std::size_t Classes = 2622>
using VGGFaceTopAt =
    typename detail::vgg16<Size, Widths, Flatten, Dense<Fc, ReLU>, Dense<Fc, ReLU>, Dense<Classes>>::type;

/// VGGFaceEncoderAt with every layer but the last convolution block (conv5_1..conv5_3, pool5) and
/// the global pooling frozen: the usual way to fine-tune VGGFace on a small data set.
template <std::size_t Size = 224, class Widths = VGGFaceWidths>
using VGGFaceEncoderFrozenAt = TrainLast<5, VGGFaceEncoderAt<Size, Widths>>;

/// The 224x224x3 networks of the paper.
using VGGFaceEncoder = VGGFaceEncoderAt<>;
using VGGFaceTop = VGGFaceTopAt<>;
using VGGFaceEncoderFrozen = VGGFaceEncoderFrozenAt<>;
/// The encoder to put in a Siamese model: Siamese<VGGFace, Head<SqDiff, DiffSq, Cosine>>.
using VGGFace = VGGFaceEncoder;

/// Per-channel means subtracted from B, G, R pixel values (0..255) in VGGFace's preprocessing.
inline constexpr std::array<float, 3> vggface_bgr_mean{93.5940f, 104.7624f, 129.1863f};

/// Caffe-style preprocessing, in place: channels-last RGB pixels in 0..255 become BGR with `bgr_mean` subtracted.
/// `hwc` holds `pixels` pixels of 3 channels each.
inline void bgr_mean_preprocess(float* hwc, std::size_t pixels, const std::array<float, 3>& bgr_mean) {
  for (std::size_t i = 0; i < pixels; ++i) {
    float* p = hwc + 3 * i;
    const float r = p[0], b = p[2];
    p[0] = b - bgr_mean[0];
    p[1] = p[1] - bgr_mean[1];
    p[2] = r - bgr_mean[2];
  }
}
/// The same over a tensor of images (..., 3); `who` names the caller in the error for another shape.
inline void bgr_mean_preprocess(Tensor& images, const std::array<float, 3>& bgr_mean, const char* who) {
  if (images.rank() < 1 || images.dim(images.rank() - 1) != 3)
    throw ShapeError(std::string(who) + ": images of shape " + Tensor::shape_str(images.shape()) +
                     " do not end in 3 channels (RGB)");
  bgr_mean_preprocess(images.data(), images.size() / 3, bgr_mean);
}

/// VGGFace's preprocessing (keras_vggface.utils.preprocess_input, version 1), in place.
inline void vggface_preprocess(float* hwc, std::size_t pixels) { bgr_mean_preprocess(hwc, pixels, vggface_bgr_mean); }
/// The same over a tensor of images (..., 3): one image (H, W, 3) or a batch (n, H, W, 3).
inline void vggface_preprocess(Tensor& images) { bgr_mean_preprocess(images, vggface_bgr_mean, "vggface_preprocess"); }

/// The names Keras gives VGGFace's layers, in order (keras-vggface's VGG16 model).
inline const std::vector<std::string>& vggface_layer_names() {
  static const std::vector<std::string> names{"conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                                              "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
                                              "conv5_3", "fc6",     "fc7",     "fc8"};
  return names;
}

/// Pairs each parameter of a model with the array of a weight file that fills it: the i-th layer
/// holding a kernel under `prefix` (in model order, Frozen groups included) takes the arrays
/// "<names[i]>/kernel" and "<names[i]>/bias". Requires the model to have at least one and at most
/// names.size() such layers under `prefix`, each with exactly a kernel and a bias.
/// Returns (library parameter name, array name) pairs.
inline std::vector<std::pair<std::string, std::string>> keras_weight_map(const std::vector<ParamInfo>& info,
                                                                        const std::string& prefix,
                                                                        const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, std::string>> links;
  std::size_t layer = 0;
  for (std::size_t i = 0; i < info.size(); ++i) {
    const std::string& p = info[i].name;
    if (p.compare(0, prefix.size(), prefix) != 0) continue;
    const auto slash = p.rfind('/');
    const std::string leaf = p.substr(slash + 1), owner = p.substr(0, slash + 1);
    if (leaf == "bias") continue;  // taken with its kernel
    if (leaf != "kernel")
      throw std::invalid_argument("keras_weight_map: parameter '" + p + "' is neither a kernel nor a bias");
    if (layer == names.size())
      throw std::invalid_argument("keras_weight_map: the model has more than " + std::to_string(names.size()) +
                                  " layers with a kernel under '" + prefix + "'; '" + p + "' has no name to take");
    if (i + 1 == info.size() || info[i + 1].name != owner + "bias")
      throw std::invalid_argument("keras_weight_map: the kernel '" + p + "' is not followed by its bias");
    links.emplace_back(p, names[layer] + "/kernel");
    links.emplace_back(owner + "bias", names[layer] + "/bias");
    ++layer;
  }
  if (layer == 0) throw std::invalid_argument("keras_weight_map: the model has no kernel under '" + prefix + "'");
  return links;
}

/// keras_weight_map with VGGFace's layer names: a VGGFace encoder (13 convolutions) or the whole
/// classifier (13 convolutions, fc6, fc7, fc8), plain or partly frozen, under `prefix`.
inline std::vector<std::pair<std::string, std::string>> vggface_weight_map(const std::vector<ParamInfo>& info,
                                                                          const std::string& prefix = "encoder/") {
  return keras_weight_map(info, prefix, vggface_layer_names());
}

static_assert(bind_model<VGGFaceEncoder>::param_count == 14'714'688, "VGG16's convolutions hold 14,714,688 weights");
static_assert(bind_model<VGGFaceEncoder>::out_shape::size == 1024);
// fc6: 7 * 7 * 512 * 4096 + 4096, fc7: 4096 * 4096 + 4096, fc8: 4096 * 2622 + 2622.
static_assert(bind_model<VGGFaceTop>::param_count == 14'714'688 + 102'764'544 + 16'781'312 + 10'742'334);
static_assert(bind_model<VGGFaceTop>::param_count == 145'002'878);
static_assert(bind_model<VGGFaceEncoderFrozen>::param_count == 14'714'688);

}  // namespace siamese
