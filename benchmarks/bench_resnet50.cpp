// keras-vggface's VGGFace2 ResNet-50 on backend::Cpu against PyTorch 2.x from PyPI (benchmarks/torch_resnet50.py in
// the environment of scripts/peers_venv) and Keras 3 on TensorFlow (benchmarks/keras_peers.py, scripts/keras_venv),
// the same topology and the same thread count (2, or the first argument) on all sides:
//   resnet50_infer: images/s, batches of 8 at 224x224x3, inference (BatchNorm on its moving statistics)
//   resnet50_train: pairs/s of a Siamese training step on 8 pairs at 112x112x3, every layer trainable, head
//                   (a-b)^2, a^2-b^2, cosine -> Dense 100 ReLU -> Dropout 0.1 -> Dense 1, BCE, Adam
// The peers run before and after ours; their rates are the means of the two.
#include <tbb/global_control.h>

#include <cmath>
#include <cstdio>
#include <utility>
#include <cstdlib>
#include <memory>
#include <string>

#include <siamese/backend/backend.hpp>
#include <siamese/core/random.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/zoo/resnet50.hpp>
#include <siamese/optim/optimizers.hpp>

#include "bench_common.hpp"

using namespace siamese;

namespace {
Tensor images(std::size_t n, std::size_t size, std::uint64_t seed) {
  Tensor t({n, size, size, 3});
  detail::Rng r(seed);
  for (auto& v : t) v = r.uniform(0.0f, 255.0f);
  vggface2_preprocess(t);
  return t;
}
/// Forward FLOPs of the encoder on one image of size x size x 3: conv1 7x7/2 'same', 3x3/2 max pooling without
/// padding, then 3, 4, 6, 3 bottleneck blocks (stride in the first 1x1 convolution, a projection in each stage's first).
double resnet50_flops(double size) {
  double side = std::ceil(size / 2);
  double flops = bench::conv_flops(side, side, 64, 7, 3), in = 64;
  side = std::floor((side - 3) / 2) + 1;
  const std::pair<double, int> stages[] = {{64, 3}, {128, 4}, {256, 6}, {512, 3}};
  for (int s = 0; s < 4; ++s) {
    const auto [width, blocks] = stages[s];
    for (int b = 0; b < blocks; ++b) {
      if (b == 0 && s > 0) side = std::floor((side - 1) / 2) + 1;
      flops += bench::conv_flops(side, side, width, 1, in) + bench::conv_flops(side, side, width, 3, width) +
               bench::conv_flops(side, side, 4 * width, 1, width);
      if (b == 0) flops += bench::conv_flops(side, side, 4 * width, 1, in);
      in = 4 * width;
    }
  }
  return flops;
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2, rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
  const bench::Peers peers("torch_resnet50.py", "keras_peers.py", "resnet50_infer resnet50_train", threads, rounds);
  std::map<std::string, double> ours;
  {
    auto m = std::make_unique<Siamese<ResNet50, Head<SqDiff, DiffSq, Cosine>>>(1);
    const Tensor x = images(8, 224, 3);
    ours["resnet50_infer"] = bench::median_rate([&] { m->embed(x); }, 8, rounds, 1);
  }
  {
    using Model = Siamese<ResNet50EncoderAt<112>, Head<SqDiff, DiffSq, Cosine>>;  // default classifier, as PyTorch's
    auto m = std::make_unique<Model>(1);
    PairBatch b{images(8, 112, 1), images(8, 112, 2), {1, 0, 1, 0, 1, 0, 1, 0}};
    Adam opt;
    opt.learning_rate = 1e-5f;
    ours["resnet50_train"] = bench::median_rate([&] { m->train_step(b, BinaryCrossEntropy{}, opt); }, 8, rounds, 1);
  }
  const auto [torch, keras] = peers.after();
  const double head = bench::dense_flops(2 * 4096 + 1, 100) + bench::dense_flops(100, 1);
  bench::report({{"resnet50_infer", "images", resnet50_flops(224)},
                 {"resnet50_train", "pairs", 3 * (2 * resnet50_flops(112) + head)}},
                ours, torch, keras, threads);
}
