// The text pair model of examples/text_similarity on backend::Cpu against the same model in PyTorch:
//   siamese_lstm_train: siamese <x> pairs/s, pytorch <y> pairs/s, speedup <x/y>x
//   siamese_lstm_infer: siamese <x> pairs/s, pytorch <y> pairs/s, speedup <x/y>x
// Encoder: Input<30> token ids, Embedding 20000 x 100, LSTM 64 (last state). Head SqDiff, DiffSq,
// Cosine, then Dense 100 ReLU, Dropout 0.1, Dense 1; binary cross-entropy; Adam. Batches of 128
// pairs of 30 tokens each, drawn uniformly from ids 1..19999, so that no step is padding: PyTorch's
// nn.LSTM (which has no mask) then computes the same function as the masked LSTM here. The table is
// updated row-sparse here; PyTorch's rate is the faster of its dense update and its row-sparse one
// (nn.Embedding(sparse=True) with SparseAdam).
// Both sides use the same number of threads (2, or the first argument); timing as in bench_models
// (3 warm-up steps, median of `rounds` rounds, second argument, default 7). The peers run
// benchmarks/torch_text.py (PyTorch 2.x) and benchmarks/keras_peers.py (Keras 3 on TensorFlow) before and after
// our runs; their rates are the means of the two.
#include <tbb/global_control.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <siamese/backend/backend.hpp>
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/lstm.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/optim/optimizers.hpp>

#include "bench_common.hpp"

using namespace siamese;

namespace {
constexpr std::size_t batch = 128, length = 30, vocabulary = 20000;
using Encoder = Sequential<Input<length>, Embedding<vocabulary, 100>, LSTM<64>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>>;

Tensor token_ids(std::size_t n, std::uint64_t seed) {
  Tensor t({n, length});
  detail::Rng r(seed);
  for (auto& v : t) v = float(1 + r.below(vocabulary - 1));
  return t;
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  const bench::Peers peers("torch_text.py", "keras_peers.py", "siamese_lstm_train siamese_lstm_infer", threads, rounds);
  std::map<std::string, double> ours;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
    std::vector<float> labels(batch);
    for (std::size_t i = 0; i < batch; ++i) labels[i] = float(i % 2);
    const PairBatch pairs{token_ids(batch, 1), token_ids(batch, 2), labels};
    Model m(1);
    Adam opt;
    ours["siamese_lstm_train"] =
        bench::median_rate([&] { m.train_step(pairs, BinaryCrossEntropy{}, opt); }, batch, rounds, 5);
    ours["siamese_lstm_infer"] = bench::median_rate([&] { m.predict(pairs.a, pairs.b); }, batch, rounds, 10);
  }
  // Forward FLOPs of one sentence (the LSTM; the embedding is a lookup) and of the pair head.
  const double sentence = bench::lstm_flops(length, 100, 64);
  const double head = bench::dense_flops(2 * 64 + 1, 100) + bench::dense_flops(100, 1);
  const auto [torch, keras] = peers.after();
  bench::report({{"siamese_lstm_train", "pairs", 3 * (2 * sentence + head)},
                 {"siamese_lstm_infer", "pairs", 2 * sentence + head}},
                ours, torch, keras, threads);
}
