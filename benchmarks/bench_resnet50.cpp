// keras-vggface's VGGFace2 ResNet-50 on backend::Cpu against PyTorch 2.x from PyPI (benchmarks/torch_resnet50.py in
// the peers' environment of scripts/peers_venv; Debian's python3-torch when that is absent), the same topology and
// the same thread count (2, or the first argument) on both sides:
//   resnet50_infer: images/s, batches of 8 at 224x224x3, inference (BatchNorm on its moving statistics)
//   resnet50_train: pairs/s of a Siamese training step on 8 pairs at 112x112x3, every layer trainable, head
//                   (a-b)^2, a^2-b^2, cosine -> Dense 100 ReLU -> Dropout 0.1 -> Dense 1, BCE, Adam
// PyTorch runs before and after ours; its rate is the mean of the two.
#include <tbb/global_control.h>

#include <cstdio>
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
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2, rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
  const std::string py = bench::peers_python();
  std::printf("resnet50: %d threads; PyTorch through %s\n", threads, py.c_str());
  std::fflush(stdout);
  const auto before = bench::pytorch_rates("torch_resnet50.py", threads, rounds, py);
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
  const auto after = bench::pytorch_rates("torch_resnet50.py", threads, rounds, py);
  bench::report({{"resnet50_infer", "images"}, {"resnet50_train", "pairs"}}, ours, bench::mean_rates(before, after));
}
