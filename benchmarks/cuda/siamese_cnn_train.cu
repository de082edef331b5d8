// Training throughput of the README's pair model on backend::Cuda: batches of 1024 pairs of 28x28
// images, binary cross-entropy, Adam. Counterpart: torch_cuda.py siamese_cnn_train.
#include <siamese/siamese.hpp>

#include "timing.cuh"

using namespace siamese;

using Encoder = Sequential<Input<28, 28, 1>, Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Flatten, Dense<128>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>,
                      backend::Cuda>;

int main(int argc, char** argv) {
  return bench::guarded("siamese_cnn_train", [&] {
    constexpr std::size_t batch = 1024;
    const int rounds = bench::rounds_arg(argc, argv, 5);
    Model model(1);
    PairBatch b{bench::random_tensor({batch, 28, 28, 1}, 1, 0.0f, 1.0f),
                bench::random_tensor({batch, 28, 28, 1}, 2, 0.0f, 1.0f), {}};
    for (std::size_t i = 0; i < batch; ++i) b.labels.push_back(float(i % 2));
    Adam opt;
    opt.epsilon = 1e-7f;
    float last = 0;
    const double rate = bench::median_rate([&] { last = model.train_step(b, BinaryCrossEntropy{}, opt); }, batch,
                                           rounds, 10);
    std::fprintf(stderr, "siamese_cnn_train: last loss %.4f\n", last);
    bench::report("siamese_cnn_train", rate, "pairs/s");
  });
}
