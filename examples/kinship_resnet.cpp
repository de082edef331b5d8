// The ResNet-50 (VGGFace2) backbone of the kinship example: `kinship --backbone resnet50`. Its own translation unit,
// so that the VGGFace and ResNet-50 models compile in parallel and each compile stays short.
#include <siamese/io/hdf5.hpp>
#include <siamese/io/npz.hpp>
#include <siamese/model/zoo/resnet50.hpp>

#include "common/kinship_run.hpp"

namespace kinship {

/// keras-vggface's VGGFace2 ResNet-50 with stage 5 trainable, the head of the strong kinship entries.
struct ResNet50Backbone {
  template <std::size_t Size>
  using encoder = ResNet50EncoderTrainLastStages<1, Size>;
  using head = Head<SqDiff, DiffSq, Product>;
  static constexpr const char* name = "ResNet-50";
  static constexpr const char* frozen = "stem and stages 2-4 frozen (BatchNorm statistics fixed)";
  static void preprocess(Tensor& t) { vggface2_preprocess(t); }
  template <class M>
  static std::size_t load(M& model, const fs::path& weights) {
    return import_resnet50(model, weights);
  }
};

int run_resnet50(const Options& o, const fs::path& dir) { return run_sized<ResNet50Backbone>(o, dir); }

}  // namespace kinship
