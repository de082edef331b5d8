// Fashion-MNIST metric learning: a CNN embedding trained on P classes x K samples batches with an in-batch loss,
// `--loss semihard` (default), `batchhard`, `ntxent`, `supcon` or `multisimilarity`, or with a classification loss
// with a margin whose class weights the model holds, `arcface` or `cosface` (Embedder<..., ClassWeights<10>>). Pair
// verification scores are negative embedding distances (of L2-normalised embeddings for the cosine losses, all but
// semihard and batchhard); the threshold is calibrated on
// validation pairs (from the training files) and applied unchanged to test pairs; precision@1 queries test images
// against training ones, and accuracy_report adds MAP@R and NMI over the same sets. --index-report compares int8 and
// binary indexes of the training embeddings with the exact one (recall@10, memory).
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
/// ArcFace and CosFace train a weight vector per class of Fashion-MNIST's 10 beside the encoder.
using ClassModel = Embedder<Encoder, backend::Cpu, ClassWeights<10>>;

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

/// Rows of e (width dim) scaled to unit length: the cosine losses' embeddings are compared by angle.
void normalize_rows(std::vector<float>& e, std::size_t dim) {
  for (std::size_t r = 0; r < e.size() / dim; ++r) {
    double s = 0;
    for (std::size_t j = 0; j < dim; ++j) s += double(e[r * dim + j]) * e[r * dim + j];
    const float inv = float(1.0 / std::max(std::sqrt(s), 1e-12));
    for (std::size_t j = 0; j < dim; ++j) e[r * dim + j] *= inv;
  }
}
}  // namespace

/// Trains Model with the loss named `loss` and reports.
template <class Model>
void run(const std::string& loss, bool index_report, const example::Options& o) {
  const bool cosine = loss != "semihard" && loss != "batchhard";
  example::Timer clock;
  const example::Data d = example::load(o);
  Model model(o.seed);
  std::fputs(Model::summary().c_str(), stdout);
  std::printf("model: %zu parameters, embedding width %zu, loss %s\n", Model::param_count, Model::embedding_width,
              loss.c_str());
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
  if constexpr (Model::loss_classes > 0) {
    // Scale 30 rather than pytorch-metric-learning's 64: with 10 classes, 64 saturates the softmax from the start.
    if (loss == "arcface") h = fit(model, ArcFace{30.0f, 0.5f}, adam, train, validation, fo);
    else h = fit(model, CosFace{30.0f, 0.35f}, adam, train, validation, fo);
  } else if (loss == "semihard") {
    h = fit(model, SemiHard{0.5f, Distance::SquaredEuclidean}, adam, train, validation, fo);
  } else if (loss == "batchhard") {
    adam.learning_rate = 1e-4f;
    h = fit(model, BatchHard{0.5f, Distance::Euclidean}, adam, train, validation, fo);
  } else if (loss == "ntxent") {
    h = fit(model, NTXent{0.1f}, adam, train, validation, fo);
  } else if (loss == "supcon") {
    h = fit(model, SupCon{0.1f}, adam, train, validation, fo);
  } else {
    h = fit(model, MultiSimilarity{}, adam, train, validation, fo);
  }
  const double train_secs = clock.seconds();
  save_weights(model, o.out / "model.bin");
  example::plot_history(o.out / "loss.svg", h.loss, h.val_loss);

  auto train_emb = example::embed_all(model, d.train), val_emb = example::embed_all(model, d.validation),
       test_emb = example::embed_all(model, d.test);
  if (cosine)
    for (auto* e : {&train_emb, &val_emb, &test_emb}) normalize_rows(*e, Model::embedding_width);
  const IndexPairs vp = PairSampler(d.validation.labels, o.seed + 2).sample(4000);
  const IndexPairs tp = PairSampler(d.test.labels, o.seed + 3).sample(10000);
  const example::Verification v =
      example::verify(pair_scores(val_emb, vp, Model::embedding_width), vp.target,
                      pair_scores(test_emb, tp, Model::embedding_width), tp.target, o.out / "roc.svg");
  const RetrievalMetrics rm =
      example::retrieval(train_emb, d.train, test_emb, d.test, Model::embedding_width, o.out / "index.bin");

  const auto train_labels = example::int_labels(d.train), test_labels = example::int_labels(d.test);
  const AccuracyReport acc = accuracy_report(test_emb, test_labels, train_emb, train_labels, Model::embedding_width);
  std::printf("accuracy_report (test against training): p@1=%.4f r@1=%.4f r@8=%.4f r_precision=%.4f map@r=%.4f "
              "nmi=%.4f\n",
              acc.precision_at_1, acc.recall(1), acc.recall(8), acc.r_precision, acc.map_at_r, acc.nmi);
  // With --index-report, the index over the training embeddings with float, int8 and binary codes: recall@10
  // against the exact float search, for 2000 test queries, and memory.
  if (index_report) {
    const Distance metric = cosine ? Distance::Cosine : Distance::SquaredEuclidean;
    const std::size_t nq = std::min<std::size_t>(2000, d.test.count), k = 10;
    const std::span<const float> q(test_emb.data(), nq * Model::embedding_width);
    auto exact = EmbeddingIndex::for_model<Model>(metric);
    exact.add(train_emb, train_labels);
    const SearchResult truth = exact.search(q, k, {.model_signature = Model::signature()});
    auto recall = [&](const SearchResult& r) {
      std::size_t hit = 0;
      for (std::size_t i = 0; i < nq; ++i)
        for (std::size_t a : r.neighbours(i))
          for (std::size_t b : truth.neighbours(i)) hit += a == b;
      return double(hit) / double(nq * k);
    };
    std::printf("index (%zu rows, %zu queries): float %.2f MB", exact.size(), nq, exact.code_bytes() / 1e6);
    for (IndexCodes codes : {IndexCodes::Int8, IndexCodes::Binary}) {
      auto idx = EmbeddingIndex::for_model<Model>(metric, {.codes = codes, .keep_float = true});
      idx.add(train_emb, train_labels);
      const char* name = codes == IndexCodes::Int8 ? "int8" : "binary";
      std::printf("; %s %.2f MB recall@10=%.4f, rescoring the best 100: %.4f", name, idx.code_bytes() / 1e6,
                  recall(idx.search(q, k, {.model_signature = Model::signature()})),
                  recall(idx.search(q, k, {.rescore = 100, .model_signature = Model::signature()})));
    }
    std::printf("\n");
  }
  std::printf("training: %zu epochs in %.1f s; total %.1f s\n", h.loss.size(), train_secs, clock.seconds());
  example::report(v, rm, o.out);
}

int main(int argc, char** argv) try {
  std::string loss = "semihard";  // batch-hard with a large learning rate can collapse every embedding to one point
  bool index_report = false;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batch-hard") == 0) loss = "batchhard";
    else if (std::strcmp(argv[i], "--loss") == 0 && i + 1 < argc) loss = argv[++i];
    else if (std::strcmp(argv[i], "--index-report") == 0) index_report = true;
    else args.push_back(argv[i]);
  }
  if (loss != "semihard" && loss != "batchhard" && loss != "ntxent" && loss != "supcon" && loss != "multisimilarity" &&
      loss != "arcface" && loss != "cosface") {
    std::fprintf(stderr, "--loss: semihard, batchhard, ntxent, supcon, multisimilarity, arcface or cosface, not '%s'\n",
                 loss.c_str());
    return 2;
  }
  const auto o = example::parse(int(args.size()), args.data(), /*epochs=*/40, /*steps=*/150, /*batch=*/160,
                                "fashion_mnist_triplet_results");
  if (loss == "arcface" || loss == "cosface") run<ClassModel>(loss, index_report, o);
  else run<Model>(loss, index_report, o);
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
