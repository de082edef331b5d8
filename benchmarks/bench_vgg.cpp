// VGGFace on backend::Cpu: inference against PyTorch, and what freezing all but the last block saves
// in a training step. Prints:
//   vgg16_infer: siamese <x> images/s, pytorch <y> images/s, speedup <x/y>x
//   vggface_frozen_step: trainable <a> ms, frozen <b> ms, speedup <a/b>x (8 pairs at 64x64)
// VGG16 forward is VGGFaceTop (13 convolutions, fc6, fc7, fc8) at 224x224x3, batch 8, best of 3 after
// a warm-up. PyTorch runs benchmarks/torch_vgg.py through /usr/bin/python3 (Debian's python3-torch)
// with 2 threads and OPENBLAS_NUM_THREADS=1, before and after ours (the mean of the two); without it
// the line says "pytorch unavailable".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

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

/// PyTorch's images/s from benchmarks/torch_vgg.py, or a negative value when it cannot run.
double pytorch_images_per_second() {
  const std::string cmd = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 " +
                          std::string(BENCH_DIR) + "/torch_vgg.py --batch 8 --size 224 --reps 3 --threads 2 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  double v = -1;
  if (!p || std::fscanf(p.get(), "pytorch %lf", &v) != 1) return -1;
  return v;
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

int main() {
  {
    auto m = std::make_unique<Siamese<VGGFaceTop, Head<SqDiff, Classifier<Dense<1>>>>>(1);
    const Tensor x = images(8, 224, 3);
    const double torch_before = pytorch_images_per_second();
    const double s = best_seconds([&] { m->embed(x); }, 3);
    const double torch_after = pytorch_images_per_second();
    // PyTorch before and after ours: a drifting machine speed biases neither side.
    const double ours = 8 / s, torch = torch_before > 0 && torch_after > 0 ? 0.5 * (torch_before + torch_after) : -1;
    if (torch > 0)
      std::printf("vgg16_infer: siamese %.3f images/s, pytorch %.3f images/s, speedup %.2fx\n", ours, torch, ours / torch);
    else
      std::printf("vgg16_infer: siamese %.3f images/s, pytorch unavailable (python3-torch)\n", ours);
    std::fflush(stdout);
  }
  const double full = train_step_seconds<VGGFaceEncoderAt<64>>();
  const double frozen = train_step_seconds<VGGFaceEncoderFrozenAt<64>>();
  std::printf("vggface_frozen_step: trainable %.1f ms, frozen %.1f ms, speedup %.2fx (8 pairs at 64x64)\n",
              1e3 * full, 1e3 * frozen, full / frozen);
}
