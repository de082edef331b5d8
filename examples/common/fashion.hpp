#pragma once
// Shared by the Fashion-MNIST examples: options, data, pair batches, evaluation and reporting.
#include <siamese/data/augment.hpp>
#include <siamese/data/idx.hpp>
#include <siamese/data/samplers.hpp>
#include <siamese/eval/index.hpp>
#include <siamese/eval/metrics.hpp>
#include <siamese/eval/retrieval.hpp>
#include <siamese/eval/svg.hpp>
#include <siamese/core/batches.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace example {

namespace fs = std::filesystem;
using namespace siamese;

struct Options {
  fs::path data = "/usr/share/datasets/fashion-mnist";
  fs::path out = "fashion_mnist_results";
  std::size_t epochs = 0, steps = 0, batch = 0;
  std::uint64_t seed = 1;
  bool fresh = false;  // ignore an existing checkpoint
  bool augment = false;  // --augment: shifts by up to 2 pixels, horizontal flips, random erasing
};

/// The augmentation of --augment (images in [0, 1]).
inline Augment fashion_augment() {
  Augment a;
  a.crop_padding = 2;
  a.flip = 0.5f;
  a.erase = 0.25f;
  return a;
}

inline Options parse(int argc, char** argv, std::size_t epochs, std::size_t steps, std::size_t batch, const char* out) {
  Options o;
  o.epochs = epochs;
  o.steps = steps;
  o.batch = batch;
  o.out = out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") o.data = value();
    else if (a == "--out") o.out = value();
    else if (a == "--epochs") o.epochs = std::stoul(value());
    else if (a == "--steps") o.steps = std::stoul(value());
    else if (a == "--batch") o.batch = std::stoul(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--fresh") o.fresh = true;
    else if (a == "--augment") o.augment = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--data DIR] [--out DIR] [--epochs N] [--steps N] [--batch N] [--seed N] [--fresh] [--augment]\n"
                   "  DIR holds the four (gzip) IDX files of Fashion-MNIST or MNIST\n",
                   argv[0]);
      std::exit(2);
    }
  }
  fs::create_directories(o.out);
  return o;
}

/// Training files split into training and validation (the official test set stays out of both).
struct Data {
  ImageSet train, validation, test;
};

inline Data load(const Options& o) {
  Data d;
  auto tv = train_validation_split(load_mnist(o.data, "train"), 0.1, o.seed);
  d.train = std::move(tv.train);
  d.validation = std::move(tv.validation);
  d.test = load_mnist(o.data, "t10k");
  std::printf("data: %zu training, %zu validation (from the training files), %zu test images from %s\n",
              d.train.count, d.validation.count, d.test.count, o.data.c_str());
  return d;
}

inline Tensor images(const ImageSet& set, std::span<const std::size_t> idx) {
  Tensor t({idx.size(), set.rows, set.cols, 1});
  gather(set, idx, std::span<float>(t.data(), t.size()));
  return t;
}

/// Balanced pairs, a fresh draw for every (epoch, index): reproducible and resumable.
struct PairBatches {
  const ImageSet* set;
  std::size_t steps, n;
  std::uint64_t seed;
  bool augment = false;
  std::size_t size() const { return steps; }
  void batch(std::size_t epoch, std::size_t index, PairBatch& b) const {
    PairSampler s(set->labels, derive_seed(seed, epoch * 1000003 + index));
    const IndexPairs p = s.sample(n);
    b.a = images(*set, p.left);
    b.b = images(*set, p.right);
    b.labels = p.target;
    if (augment) {  // each side from its own seeds
      augment_batch(b.a, fashion_augment(), derive_seed(seed, 0xa), epoch, index);
      augment_batch(b.b, fashion_augment(), derive_seed(seed, 0xb), epoch, index);
    }
  }
};

/// A fixed set of pairs (validation or test), in batches.
struct FixedPairs {
  const ImageSet* set;
  IndexPairs pairs;
  std::size_t n;
  FixedPairs(const ImageSet& s, std::size_t count, std::size_t batch, std::uint64_t seed)
      : set(&s), pairs(PairSampler(s.labels, seed).sample(count)), n(batch) {}
  std::size_t size() const { return (pairs.target.size() + n - 1) / n; }
  void batch(std::size_t, std::size_t index, PairBatch& b) const {
    const std::size_t lo = index * n, hi = std::min(lo + n, pairs.target.size());
    b.a = images(*set, std::span(pairs.left).subspan(lo, hi - lo));
    b.b = images(*set, std::span(pairs.right).subspan(lo, hi - lo));
    b.labels.assign(pairs.target.begin() + long(lo), pairs.target.begin() + long(hi));
  }
};

/// Embeddings of a whole set, in batches.
template <class Model>
std::vector<float> embed_all(Model& m, const ImageSet& set, std::size_t batch = 500) {
  std::vector<float> out;
  out.reserve(set.count * Model::embedding_width);
  std::vector<std::size_t> idx;
  for (std::size_t lo = 0; lo < set.count; lo += batch) {
    idx.clear();
    for (std::size_t i = lo; i < std::min(lo + batch, set.count); ++i) idx.push_back(i);
    const Tensor e = m.embed(images(set, idx));
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

inline std::vector<int> int_labels(const ImageSet& s) { return {s.labels.begin(), s.labels.end()}; }

/// Precision@1 (and recall@k, MAP@R) of test embeddings queried against training embeddings.
inline RetrievalMetrics retrieval(const std::vector<float>& train_emb, const ImageSet& train,
                                  const std::vector<float>& test_emb, const ImageSet& test, std::size_t dim,
                                  const fs::path& index_path) {
  EmbeddingIndex index(dim, Distance::SquaredEuclidean);
  const auto tl = int_labels(train), ql = int_labels(test);
  index.add(train_emb, tl);
  index.save(index_path);
  return retrieval_metrics(index, test_emb, ql);
}

inline void plot_history(const fs::path& path, const std::vector<double>& loss, const std::vector<double>& val) {
  std::vector<PlotSeries> s(1);
  s[0].name = "training loss";
  for (std::size_t i = 0; i < loss.size(); ++i) {
    s[0].xs.push_back(double(i + 1));
    s[0].ys.push_back(loss[i]);
  }
  if (!val.empty()) {
    s.push_back({"validation loss", {}, {}});
    for (std::size_t i = 0; i < val.size(); ++i) {
      s[1].xs.push_back(double(i + 1));
      s[1].ys.push_back(val[i]);
    }
  }
  write_line_plot(path, "Loss", "epoch", "loss", s);
}

inline void plot_roc(const fs::path& path, std::span<const float> scores, std::span<const float> labels) {
  std::vector<PlotSeries> s(1);
  s[0].name = "test pairs";
  for (const auto& p : roc_curve(scores, labels)) {
    s[0].xs.push_back(p.fpr);
    s[0].ys.push_back(p.tpr);
  }
  write_line_plot(path, "ROC", "false positive rate", "true positive rate", s);
}

/// Pair verification: the threshold is calibrated on validation scores and applied unchanged to test scores;
/// the test ROC curve goes to `roc_svg`.
struct Verification {
  CalibratedThreshold cal;
  BinaryMetrics test;
  double auc;
  EqualErrorRate eer;
};
inline Verification verify(std::span<const float> val_scores, std::span<const float> val_labels,
                           std::span<const float> test_scores, std::span<const float> test_labels,
                           const fs::path& roc_svg) {
  Verification v{calibrate_threshold(val_scores, val_labels), {}, roc_auc(test_scores, test_labels),
                 equal_error_rate(test_scores, test_labels)};
  v.test = binary_metrics(test_scores, test_labels, v.cal.threshold);
  plot_roc(roc_svg, test_scores, test_labels);
  return v;
}

/// The examples' closing lines; the last one is the result line scripts read.
inline void report(const Verification& v, const RetrievalMetrics& rm, const fs::path& out) {
  std::printf("validation: accuracy %.4f at threshold %.4f\n", v.cal.accuracy, double(v.cal.threshold));
  std::printf("test pairs: eer=%.4f f1=%.4f precision=%.4f recall=%.4f\n", v.eer.rate, v.test.f1, v.test.precision,
              v.test.recall);
  std::printf("test retrieval: recall@1=%.4f recall@8=%.4f map@r=%.4f\n", rm.recall_at.front().second,
              rm.recall_at.back().second, rm.map_at_r);
  std::printf("results in %s: model.bin, index.bin, checkpoint.bin, loss.svg, roc.svg\n", out.c_str());
  std::printf("test: roc_auc=%.4f accuracy=%.4f threshold=%.4f precision_at_1=%.4f\n", v.auc, v.test.accuracy,
              double(v.cal.threshold), rm.precision_at_1);
}

struct Timer {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

}  // namespace example
