// The pair model of the README on backend::Cpu against the same model in PyTorch. Prints:
//   siamese_cnn_train: siamese <x> pairs/s, pytorch <y> pairs/s, speedup <x/y>x
//   siamese_cnn_infer: siamese <x> pairs/s, pytorch <y> pairs/s, speedup <x/y>x
//   triplet_cnn_train: siamese <x> triplets/s, pytorch <y> triplets/s, speedup <x/y>x
// Encoder: Input 28x28x1, Conv2D 32 3x3 ReLU, MaxPool 2, Conv2D 64 3x3 ReLU, MaxPool 2, Flatten,
// Dense 128. Pair head: SqDiff, DiffSq, Cosine, Dense 64 ReLU, Dropout 0.2, Dense 1; BCE; Adam.
// Triplets: the encoder with TripletLoss (squared Euclidean, margin 0.2); Adam. Batches of 128.
// Both sides use the same number of threads (2, or the first argument). Timing: 3 warm-up steps,
// then the median of `rounds` rounds (second argument, default 7) of a few steps each. PyTorch runs
// benchmarks/torch_models.py through /usr/bin/python3 (Debian's python3-torch) with
// OPENBLAS_NUM_THREADS=1 and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, after our runs.
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <siamese/backend/backend.hpp>
#include <siamese/layers/conv2d.hpp>
#include <siamese/layers/pooling.hpp>
#include <siamese/layers/reshape.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/optim/optimizers.hpp>

using namespace siamese;

namespace {
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Flatten, Dense<128>>;
using PairModel = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>>;
using TripletModel = Triplet<Encoder>;
constexpr std::size_t batch = 128;

/// Items per second: the median over `rounds` rounds of `reps` calls, after 3 warm-up calls.
double median_rate(const std::function<void()>& call, std::size_t items, int rounds, int reps) {
  for (int i = 0; i < 3; ++i) call();
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) call();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(double(items) * reps / s);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

Tensor images(std::size_t n, std::uint64_t seed) {
  Tensor t({n, 28, 28, 1});
  detail::Rng r(seed);
  for (auto& v : t) v = r.uniform();
  return t;
}

/// PyTorch's rate per workload, read from torch_models.py's "<name> <rate>" lines; empty when it
/// cannot run.
std::map<std::string, double> pytorch_rates(int threads, int rounds) {
  const std::string cmd = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 " +
                          std::string(BENCH_DIR) + "/torch_models.py " + std::to_string(threads) + " " +
                          std::to_string(rounds) + " 2>/dev/null";
  std::map<std::string, double> out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return out;
  char name[64];
  double v;
  while (std::fscanf(p.get(), "%63s %lf", name, &v) == 2) out[name] = v;
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  std::map<std::string, double> ours;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
    std::vector<float> labels(batch);
    for (std::size_t i = 0; i < batch; ++i) labels[i] = float(i % 2);
    const PairBatch pairs{images(batch, 1), images(batch, 2), labels};
    {
      PairModel m(1);
      Adam opt;
      ours["siamese_cnn_train"] =
          median_rate([&] { m.train_step(pairs, BinaryCrossEntropy{}, opt); }, batch, rounds, 5);
      ours["siamese_cnn_infer"] = median_rate([&] { m.predict(pairs.a, pairs.b); }, batch, rounds, 10);
    }
    {
      TripletModel m(2);
      const TripletBatch triplets{pairs.a, pairs.b, images(batch, 3)};
      Adam opt;
      ours["triplet_cnn_train"] = median_rate([&] { m.train_step(triplets, TripletLoss{}, opt); }, batch, rounds, 5);
    }
  }
  const auto torch = pytorch_rates(threads, rounds);
  const std::pair<const char*, const char*> lines[] = {
      {"siamese_cnn_train", "pairs"}, {"siamese_cnn_infer", "pairs"}, {"triplet_cnn_train", "triplets"}};
  for (const auto& [name, unit] : lines) {
    const double x = ours[name];
    const auto it = torch.find(name);
    if (it != torch.end() && it->second > 0)
      std::printf("%s: siamese %.1f %s/s, pytorch %.1f %s/s, speedup %.2fx\n", name, x, unit, it->second, unit,
                  x / it->second);
    else
      std::printf("%s: siamese %.1f %s/s, pytorch unavailable (python3-torch)\n", name, x, unit);
  }
}
