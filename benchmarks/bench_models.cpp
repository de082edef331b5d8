// The pair model of the README on backend::Cpu against the same model in PyTorch. Prints:
//   siamese_cnn_train: siamese <x> pairs/s, pytorch <y> pairs/s, speedup <x/y>x
//   siamese_cnn_infer: siamese <x> pairs/s, pytorch <y> pairs/s, speedup <x/y>x
//   triplet_cnn_train: siamese <x> triplets/s, pytorch <y> triplets/s, speedup <x/y>x
// Encoder: Input 28x28x1, Conv2D 32 3x3 ReLU, MaxPool 2, Conv2D 64 3x3 ReLU, MaxPool 2, Flatten,
// Dense 128. Pair head: SqDiff, DiffSq, Cosine, Dense 64 ReLU, Dropout 0.2, Dense 1; BCE; Adam.
// Triplets: the encoder with TripletLoss (squared Euclidean, margin 0.2); Adam. Batches of 128.
// Both sides use the same number of threads (2, or the first argument). Timing: 3 warm-up steps,
// then the median of `rounds` rounds (second argument, default 7) of a few steps each. The peers run
// benchmarks/torch_models.py (PyTorch 2.x, scripts/peers_venv) and benchmarks/keras_peers.py (Keras 3 on
// TensorFlow, scripts/keras_venv) before and after our runs (the mean of the two).
#include <tbb/global_control.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bench_common.hpp"

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

Tensor images(std::size_t n, std::uint64_t seed) {
  Tensor t({n, 28, 28, 1});
  detail::Rng r(seed);
  for (auto& v : t) v = r.uniform();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  const bench::Peers peers("torch_models.py", "keras_peers.py", "siamese_cnn_train siamese_cnn_infer triplet_cnn_train",
                           threads, rounds);
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
          bench::median_rate([&] { m.train_step(pairs, BinaryCrossEntropy{}, opt); }, batch, rounds, 5);
      ours["siamese_cnn_infer"] = bench::median_rate([&] { m.predict(pairs.a, pairs.b); }, batch, rounds, 10);
    }
    {
      TripletModel m(2);
      const TripletBatch triplets{pairs.a, pairs.b, images(batch, 3)};
      Adam opt;
      ours["triplet_cnn_train"] = bench::median_rate([&] { m.train_step(triplets, TripletLoss{}, opt); }, batch, rounds, 5);
    }
  }
  // Forward FLOPs of one image through the encoder, and of the pair head.
  const double image = bench::conv_flops(26, 26, 32, 3, 1) + bench::conv_flops(11, 11, 64, 3, 32) +
                       bench::dense_flops(5 * 5 * 64, 128);
  const double head = bench::dense_flops(2 * 128 + 1, 64) + bench::dense_flops(64, 1);
  const auto [torch, keras] = peers.after();
  bench::report({{"siamese_cnn_train", "pairs", 3 * (2 * image + head)},
                 {"siamese_cnn_infer", "pairs", 2 * image + head},
                 {"triplet_cnn_train", "triplets", 3 * 3 * image}},
                ours, torch, keras, threads);
}
