// VGGFace on backend::Cpu: inference against PyTorch, and what freezing all but the last block saves
// in a training step. Prints:
//   vgg16_infer: siamese <x> images/s, pytorch <y> images/s, speedup <x/y>x
//   vggface_frozen_step: trainable <a> ms, frozen <b> ms, speedup <a/b>x (8 pairs at 64x64)
// VGG16 forward is VGGFaceTop (13 convolutions, fc6, fc7, fc8) at 224x224x3, batch 8, the median of 3 rounds
// after 3 warm-up passes, on 2 threads (or the first argument). The peers run benchmarks/torch_vgg.py (PyTorch
// 2.x) and benchmarks/keras_peers.py (Keras 3 on TensorFlow) before and after ours (the mean of the two).
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <utility>

#include "bench_common.hpp"

#include <siamese/backend/backend.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/zoo/vggface.hpp>
#include <siamese/optim/optimizers.hpp>

using namespace siamese;

namespace {
double best_seconds(const std::function<void()>& call, int reps) {
  call();  // warm-up: workspaces, page faults
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

Tensor images(std::size_t n, std::size_t size, std::uint64_t seed) {
  Tensor t({n, size, size, 3});
  detail::Rng r(seed);
  for (auto& v : t) v = r.uniform(0.0f, 255.0f);
  vggface_preprocess(t);
  return t;
}

template <class Enc>
double train_step_seconds() {
  Siamese<Enc, Head<SqDiff, DiffSq, Cosine>> m(1);
  PairBatch b{images(8, 64, 1), images(8, 64, 2), {1, 0, 1, 0, 1, 0, 1, 0}};
  Adam opt;
  opt.learning_rate = 1e-5f;
  return best_seconds([&] { m.train_step(b, BinaryCrossEntropy{}, opt); }, 3);
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2, rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
  {
    auto m = std::make_unique<Siamese<VGGFaceTop, Head<SqDiff, Classifier<Dense<1>>>>>(1);
    const Tensor x = images(8, 224, 3);
    const bench::Peers peers("torch_vgg.py", "keras_peers.py", "vgg16_infer", threads, rounds);
    std::map<std::string, double> ours;
    ours["vgg16_infer"] = bench::median_rate([&] { m->embed(x); }, 8, rounds, 1);
    // Forward FLOPs of one image: 13 'same' 3x3 convolutions, then fc6, fc7, fc8.
    double flops = 0, side = 224, in = 3;
    for (const auto& [width, reps] : {std::pair{64.0, 2}, {128.0, 2}, {256.0, 3}, {512.0, 3}, {512.0, 3}}) {
      for (int r = 0; r < reps; ++r, in = width) flops += bench::conv_flops(side, side, width, 3, in);
      side /= 2;
    }
    flops += bench::dense_flops(7 * 7 * 512, 4096) + bench::dense_flops(4096, 4096) + bench::dense_flops(4096, 2622);
    const auto [torch, keras] = peers.after();
    bench::report({{"vgg16_infer", "images", flops}}, ours, torch, keras, threads);
  }
  const double full = train_step_seconds<VGGFaceEncoderAt<64>>();
  const double frozen = train_step_seconds<VGGFaceEncoderFrozenAt<64>>();
  std::printf("vggface_frozen_step: trainable %.1f ms, frozen %.1f ms, speedup %.2fx (8 pairs at 64x64)\n",
              1e3 * full, 1e3 * frozen, full / frozen);
}
