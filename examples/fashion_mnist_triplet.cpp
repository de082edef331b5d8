// Fashion-MNIST metric learning with triplet loss: a CNN embedding trained with online mining
// (batch-hard or semi-hard) over P classes x K samples batches. Pair verification scores are
// negative embedding distances; the threshold is calibrated on validation pairs (from the training
// files) and applied unchanged to test pairs; precision@1 queries test images against training ones.
#include <siamese/siamese.hpp>

#include <cmath>
#include <cstring>

#include "common/fashion.hpp"

using namespace siamese;

using Encoder = Sequential<Input<28, 28, 1>,
                           Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Flatten, Dense<128, ReLU>, Dense<64>>;
using Model = Embedder<Encoder>;

namespace {
/// P classes x K samples per batch, a fresh draw for every (epoch, index).
struct PKBatches {
  const ImageSet* set;
  std::size_t steps, p, k;
  std::uint64_t seed;
  std::size_t size() const { return steps; }
  void batch(std::size_t epoch, std::size_t index, LabeledBatch& b) const {
    PKSampler s(set->labels, p, k, derive_seed(seed, epoch * 1000003 + index));
    const PKBatch pk = s.next();
    b.x = example::images(*set, pk.indices);
    b.labels.assign(pk.labels.begin(), pk.labels.end());
  }
};

/// Validation batches of the same form (fixed draws), for the validation loss.
struct PKValidation : PKBatches {
  void batch(std::size_t, std::size_t index, LabeledBatch& b) const { PKBatches::batch(999, index, b); }
};

std::vector<float> pair_scores(const std::vector<float>& emb, const IndexPairs& pairs, std::size_t dim) {
  std::vector<float> s(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    double d = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      const double t = emb[pairs.left[i] * dim + j] - emb[pairs.right[i] * dim + j];
      d += t * t;
    }
    s[i] = float(-d);  // higher = more similar
  }
  return s;
}
}  // namespace

int main(int argc, char** argv) try {
  bool semi_hard = true;  // batch-hard with a large learning rate can collapse every embedding to one point
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batch-hard") == 0) semi_hard = false;
    else args.push_back(argv[i]);
  }
  auto o = example::parse(int(args.size()), args.data(), /*epochs=*/40, /*steps=*/150, /*batch=*/160,
                          "fashion_mnist_triplet_results");
  example::Timer clock;
  const example::Data d = example::load(o);
  Model model(o.seed);
  std::fputs(Model::summary().c_str(), stdout);
  std::printf("model: %zu parameters, embedding width %zu, %s mining\n", Model::param_count, Model::embedding_width,
              semi_hard ? "semi-hard" : "batch-hard");
  const std::size_t k = std::max<std::size_t>(2, o.batch / 10);
  PKBatches train{&d.train, o.steps, 10, k, o.seed};
  PKValidation validation{{&d.validation, 10, 10, k, o.seed + 1}};

  Adam adam;
  adam.learning_rate = 1e-3f;
  FitOptions fo;
  fo.epochs = o.epochs;
  fo.out = stdout;
  fo.checkpoint = o.out / "checkpoint.bin";
  if (o.fresh) std::filesystem::remove(fo.checkpoint);
  fo.schedule = CosineDecay{o.epochs, 0.05f};
  fo.metrics = {"precision_at_1", "map_at_r"};  // leave-one-out retrieval among the validation batches
  fo.monitor = "val_precision_at_1";             // what the example reports; the best epoch's weights are kept
  fo.patience = 10;
  History h;
  if (semi_hard) h = fit(model, SemiHard{0.5f, Distance::SquaredEuclidean}, adam, train, validation, fo);
  else {
    adam.learning_rate = 1e-4f;
    h = fit(model, BatchHard{0.5f, Distance::Euclidean}, adam, train, validation, fo);
  }
  const double train_secs = clock.seconds();
  save_weights(model, o.out / "model.bin");
  example::plot_history(o.out / "loss.svg", h.loss, h.val_loss);

  const auto train_emb = example::embed_all(model, d.train), val_emb = example::embed_all(model, d.validation),
             test_emb = example::embed_all(model, d.test);
  const IndexPairs vp = PairSampler(d.validation.labels, o.seed + 2).sample(4000);
  const IndexPairs tp = PairSampler(d.test.labels, o.seed + 3).sample(10000);
  const example::Verification v =
      example::verify(pair_scores(val_emb, vp, Model::embedding_width), vp.target,
                      pair_scores(test_emb, tp, Model::embedding_width), tp.target, o.out / "roc.svg");
  const RetrievalMetrics rm =
      example::retrieval(train_emb, d.train, test_emb, d.test, Model::embedding_width, o.out / "index.bin");

  std::printf("training: %zu epochs in %.1f s; total %.1f s\n", h.loss.size(), train_secs, clock.seconds());
  example::report(v, rm, o.out);
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
