// Training throughput of a Siamese text model on backend::Cuda: batches of 1024 pairs of 30 token
// ids (vocabulary 20000), Embedding 100, LSTM 128, the pair head; BCE, Adam. Counterpart: torch_cuda.py.
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/lstm.hpp>
#include <siamese/siamese.hpp>

#include "timing.cuh"

using namespace siamese;

constexpr std::size_t steps = 30, vocab = 20000;
using Encoder = Sequential<Input<steps>, Embedding<vocab, 100>, LSTM<128>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>,
                      backend::Cuda>;

int main(int argc, char** argv) {
  return bench::guarded("siamese_lstm_train", [&] {
    constexpr std::size_t batch = 1024;
    const int rounds = bench::rounds_arg(argc, argv, 5);
    Model model(1);
    // Ids in [1, vocab): no padding, so that every step runs, as in PyTorch's unpacked LSTM.
    PairBatch b{bench::random_tensor({batch, steps}, 4, 1.0f, float(vocab), true),
                bench::random_tensor({batch, steps}, 5, 1.0f, float(vocab), true), {}};
    for (std::size_t i = 0; i < batch; ++i) b.labels.push_back(float(i % 2));
    Adam opt;
    opt.epsilon = 1e-7f;
    float last = 0;
    const double rate = bench::median_rate([&] { last = model.train_step(b, BinaryCrossEntropy{}, opt); }, batch,
                                           rounds, 5);
    std::fprintf(stderr, "siamese_lstm_train: last loss %.4f\n", last);
    bench::report("siamese_lstm_train", rate, "pairs/s");
  });
}
