// Fashion-MNIST verification with a Siamese CNN: are two images of the same kind of garment?
// Shared CNN encoder (three 3x3 convolutions, 32-64-128 filters, two max-poolings, a 128-wide
// embedding); head (a-b)^2, a^2-b^2, cos(a,b), then Dense, Dropout and a sigmoid; binary
// cross-entropy on balanced pairs. Validation comes from the training files; the threshold is
// calibrated there and applied unchanged to pairs of the official test set.
// The pairs are scored from xtensor views of the embeddings (siamese/xtensor.hpp).
// Under mpirun (`mpirun -np 2 build/examples/fashion_mnist_siamese`) the ranks split every batch; rank 0 evaluates.
#include <siamese/siamese.hpp>
#include <siamese/xtensor.hpp>

#include <xtensor/xview.hpp>

#include "common/distributed.hpp"
#include "common/fashion.hpp"

using namespace siamese;

using Encoder = Sequential<Input<28, 28, 1>,
                           Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<128, 3, 1, Padding::Valid, ReLU>,
                           Flatten, Dense<128>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>>;

int main(int argc, char** argv) try {
  example::Distributed dist;  // mpirun: data-parallel over the ranks
  auto o = example::parse(argc, argv, /*epochs=*/36, /*steps=*/150, /*batch=*/128, "fashion_mnist_siamese_results");
  example::Timer clock;
  const example::Data d = example::load(o);

  Model model(o.seed);
  std::fputs(Model::summary().c_str(), stdout);
  example::PairBatches train{&d.train, o.steps, o.batch, o.seed, o.augment};
  example::FixedPairs validation(d.validation, 4000, 500, o.seed + 1);

  Adam adam;
  adam.learning_rate = 1e-3f;
  FitOptions fo;
  fo.epochs = o.epochs;
  fo.out = stdout;
  fo.checkpoint = o.out / "checkpoint.bin";
  if (o.fresh && dist.primary()) std::filesystem::remove(fo.checkpoint);
  fo.communicator = dist.comm;
  fo.metrics = {"auc", "accuracy"};  // on the validation pairs, each epoch
  fo.monitor = "val_auc";            // what the example reports: early stopping and the best epoch follow it
  fo.patience = 10;  // the cosine schedule keeps improving late; stop only on a long plateau
  fo.schedule = CosineDecay{o.epochs, 0.05f};
  const History h = fit(model, BinaryCrossEntropy{}, adam, train, validation, fo);
  const double train_secs = clock.seconds();
  if (!dist.primary()) return dist.finish(), 0;
  save_weights(model, o.out / "model.bin");
  example::plot_history(o.out / "loss.svg", h.loss, h.val_loss);

  // Every image is embedded once; pairs are scored by the head alone on those embeddings.
  const auto train_emb = example::embed_all(model, d.train), val_emb = example::embed_all(model, d.validation),
             test_emb = example::embed_all(model, d.test);
  // The pairs' rows are gathered by xtensor index views, which the model evaluates once into its input.
  auto scores = [&](const std::vector<float>& emb, const IndexPairs& pairs) {
    constexpr std::size_t D = Model::embedding_width;
    const auto e = xt::adapt(emb, std::array<std::size_t, 2>{emb.size() / D, D});  // a view of emb, no copy
    const xt::xtensor<float, 1> p = xt_predict_embeddings(model, xt::view(e, xt::keep(pairs.left), xt::all()),
                                                          xt::view(e, xt::keep(pairs.right), xt::all()));
    return std::vector<float>(p.begin(), p.end());
  };
  // Calibrate the threshold on validation pairs, then apply it unchanged to test pairs.
  const IndexPairs test = PairSampler(d.test.labels, o.seed + 2).sample(10000);
  const example::Verification v = example::verify(scores(val_emb, validation.pairs), validation.pairs.target,
                                                  scores(test_emb, test), test.target, o.out / "roc.svg");
  // Retrieval: each test image against the training embeddings.
  const RetrievalMetrics rm =
      example::retrieval(train_emb, d.train, test_emb, d.test, Model::embedding_width, o.out / "index.bin");

  std::printf("training: %zu epochs in %.1f s; total %.1f s\n", h.loss.size(), train_secs, clock.seconds());
  example::report(v, rm, o.out);
  dist.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
