// fit() with validation metrics, a monitored quantity (early stopping, best weights) and callbacks, for pair,
// triplet and labelled-sample models; a resumed run keeps its metric history bit for bit.
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace siamese;

namespace {
using Small = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<8>>;
using PairModel = Siamese<Small, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<8, ReLU>, Dense<1>>>>;

// Noisy copies of one of four bar patterns; class c.
void draw(float* img, int cls, detail::Rng& r, float noise) {
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      const bool on = cls == 0 ? y < 4 : cls == 1 ? x < 4 : cls == 2 ? (x + y) % 2 == 0 : (y == x || y == 7 - x);
      img[y * 8 + x] = (on ? 1.0f : 0.0f) + noise * (r.uniform() - 0.5f);
    }
}
struct Pairs {
  std::size_t batches = 6, n = 16, offset = 0;
  float noise = 0.6f;
  std::size_t size() const { return batches; }
  void batch(std::size_t epoch, std::size_t index, PairBatch& b) const {
    detail::Rng r(offset + epoch * 1000 + index);
    b.a = Tensor({n, 8, 8, 1});
    b.b = Tensor({n, 8, 8, 1});
    b.labels.assign(n, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
      const int ca = int(r.below(4)), cb = i % 2 ? ca : int((ca + 1 + r.below(3)) % 4);
      draw(b.a.data() + i * 64, ca, r, noise);
      draw(b.b.data() + i * 64, cb, r, noise);
      b.labels[i] = ca == cb;
    }
  }
};
struct Triplets {
  std::size_t batches = 4, n = 12, offset = 0;
  std::size_t size() const { return batches; }
  void batch(std::size_t epoch, std::size_t index, TripletBatch& b) const {
    detail::Rng r(offset + epoch * 1000 + index);
    b.anchor = Tensor({n, 8, 8, 1});
    b.positive = Tensor({n, 8, 8, 1});
    b.negative = Tensor({n, 8, 8, 1});
    for (std::size_t i = 0; i < n; ++i) {
      const int c = int(r.below(4)), d = int((c + 1 + r.below(3)) % 4);
      draw(b.anchor.data() + i * 64, c, r, 0.6f);
      draw(b.positive.data() + i * 64, c, r, 0.6f);
      draw(b.negative.data() + i * 64, d, r, 0.6f);
    }
  }
};
struct Labeled {
  std::size_t batches = 4, n = 16, offset = 0;
  std::size_t size() const { return batches; }
  void batch(std::size_t epoch, std::size_t index, LabeledBatch& b) const {
    detail::Rng r(offset + epoch * 1000 + index);
    b.x = Tensor({n, 8, 8, 1});
    b.labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const int c = int(i % 4);
      draw(b.x.data() + i * 64, c, r, 0.6f);
      b.labels[i] = float(c);
    }
  }
};
FitOptions quiet(std::size_t epochs) {
  FitOptions o;
  o.epochs = epochs;
  o.progress = false;
  return o;
}
std::vector<float> params(const PairModel& m) { return m.parameters().to_host(); }

double pair_auc(PairModel& m, const Pairs& v, double* accuracy = nullptr) {
  std::vector<float> s, l;
  PairBatch b;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v.batch(0, i, b);
    const Tensor p = m.predict(b.a, b.b);
    s.insert(s.end(), p.begin(), p.end());
    l.insert(l.end(), b.labels.begin(), b.labels.end());
  }
  if (accuracy) *accuracy = calibrate_threshold(s, l).accuracy;
  return roc_auc(s, l);
}
}  // namespace

TEST_CASE("fit: validation AUC and calibrated accuracy each epoch, on the epoch line and in History") {
  const Pairs train, val{3, 32, 50000};
  PairModel m(3);
  Adam adam;
  adam.learning_rate = 3e-3f;
  FitOptions o = quiet(4);
  o.metrics = {"auc", "accuracy"};
  char* text = nullptr;
  std::size_t len = 0;
  o.out = open_memstream(&text, &len);
  o.progress = true;
  o.monitor = "val_auc";
  const History h = fit(m, BinaryCrossEntropy{}, adam, train, val, o);
  std::fclose(o.out);
  const std::string printed(text, len);
  std::free(text);
  REQUIRE(h["val_auc"].size() == 4);
  REQUIRE(h["val_accuracy"].size() == 4);
  CHECK(h["loss"] == h.loss);
  CHECK(h["val_loss"] == h.val_loss);
  CHECK_THROWS_WITH_AS(h["val_precision_at_1"], doctest::Contains("val_auc"), std::invalid_argument);
  // The last epoch's values are those of the final model (no early stopping, nothing restored).
  double acc = 0;
  const double auc = pair_auc(m, val, &acc);
  CHECK(h["val_auc"].back() == auc);
  CHECK(h["val_accuracy"].back() == acc);
  CHECK(h["val_auc"].back() > h["val_auc"].front());
  CHECK(h["val_auc"].back() > 0.8);
  char expect[64];
  std::snprintf(expect, sizeof expect, "val_auc %.4f", auc);
  CHECK(printed.find(expect) != std::string::npos);
  CHECK(printed.find("val_accuracy ") != std::string::npos);
  CHECK(printed.find("; data ") != std::string::npos);
  CHECK(h.data_seconds.size() == 4);
  CHECK(h.compute_seconds.size() == 4);
  CHECK(h.compute_seconds[0] > 0);
}

TEST_CASE("fit: monitor chooses what early stopping, restore_best and best_weights follow") {
  // Noisy training pairs make validation AUC go up and down; the best epoch is the maximum of val_auc (max mode),
  // not the minimum of val_loss.
  const auto best_path = std::filesystem::temp_directory_path() / "siamese_fit_best.bin";
  std::filesystem::remove(best_path);
  Pairs train;
  train.noise = 1.6f;
  const Pairs val{2, 32, 70000};
  PairModel m(11);
  Adam adam;
  adam.learning_rate = 2e-2f;
  FitOptions o = quiet(12);
  o.metrics = {"auc"};
  o.monitor = "val_auc";
  o.patience = 3;
  o.best_weights = best_path;
  const History h = fit(m, BinaryCrossEntropy{}, adam, train, val, o);
  const auto& aucs = h["val_auc"];
  const std::size_t best = std::size_t(std::max_element(aucs.begin(), aucs.end()) - aucs.begin());
  CHECK(h.best_epoch == best);
  // In this run val_loss keeps falling after val_auc has peaked: following val_loss would choose a later epoch.
  CHECK(std::min_element(h.val_loss.begin(), h.val_loss.end()) - h.val_loss.begin() > std::ptrdiff_t(best));
  CHECK(h.best == aucs[best]);
  CHECK(h.monitor == "val_auc");
  // Keras' rule: stop after `patience` epochs without a better value.
  if (h.stopped_early) CHECK(aucs.size() == best + 1 + 3);
  else CHECK(aucs.size() == 12);
  // restore_best put the best epoch's weights back, and best_weights holds the same.
  CHECK(pair_auc(m, val) == aucs[best]);
  PairModel back(99);
  load_weights(back, best_path);
  CHECK(params(back) == params(m));

  // Min mode on the training loss works without validation data.
  PairModel m2(11);
  Adam a2;
  FitOptions o2 = quiet(3);
  o2.monitor = "loss";
  o2.patience = 1;
  const History h2 = fit(m2, BinaryCrossEntropy{}, a2, Pairs{}, o2);
  CHECK(h2.best == *std::min_element(h2.loss.begin(), h2.loss.end()));
}

TEST_CASE("fit: callbacks see the logs and can stop training or save the weights") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_fit_callback.bin";
  std::filesystem::remove(path);
  const Pairs train, val{2, 16, 90000};
  PairModel m(5);
  Adam adam;
  std::vector<std::size_t> batches;
  std::vector<double> epoch_aucs;
  LambdaCallback cb;
  cb.batch_end = [&](std::size_t b, const Logs& logs, FitControl&) {
    batches.push_back(b);
    CHECK(logs.has("loss"));
  };
  cb.epoch_end = [&](std::size_t e, const Logs& logs, FitControl& fit) {
    epoch_aucs.push_back(logs["val_auc"]);
    CHECK(logs.has("val_loss"));
    CHECK(logs["lr"] == doctest::Approx(1e-3));
    if (e == 1) {
      fit.save_weights(path);
      fit.stop_training();
    }
  };
  FitOptions o = quiet(10);
  o.metrics = {"auc"};
  o.callbacks = {&cb};
  const History h = fit(m, BinaryCrossEntropy{}, adam, train, val, o);
  CHECK(h.stopped_by_callback);
  CHECK(h.loss.size() == 2);
  CHECK(batches.size() == 2 * train.size());
  CHECK(epoch_aucs == h["val_auc"]);
  PairModel back(1);
  load_weights(back, path);
  CHECK(params(back) == params(m));

  // A stop at the end of a batch ends training there: the epoch is not counted.
  struct StopAt : Callback {
    void on_batch_end(std::size_t b, const Logs&, FitControl& fit) override {
      if (b == 2) fit.stop_training();
    }
  } stop;
  PairModel m2(5);
  Adam a2;
  FitOptions o2 = quiet(3);
  o2.callbacks = {&stop};
  const History h2 = fit(m2, BinaryCrossEntropy{}, a2, train, o2);
  CHECK(h2.stopped_by_callback);
  CHECK(h2.loss.empty());
  CHECK(m2.step() == 3);
}

TEST_CASE("fit: triplet AUC and an embedder's precision@1 and MAP@R") {
  using T = Triplet<Small>;
  T t(2);
  Adam a1;
  FitOptions o = quiet(3);
  o.metrics = {"auc", "accuracy"};
  o.monitor = "val_auc";
  const Triplets tv{2, 12, 40000};
  const History ht = fit(t, TripletLoss{}, a1, Triplets{}, tv, o);
  REQUIRE(ht["val_auc"].size() == 3);
  {  // recomputed from the embeddings: anchor-positive against anchor-negative, by negative squared distance
    std::vector<float> s, l;
    TripletBatch b;
    for (std::size_t i = 0; i < tv.size(); ++i) {
      tv.batch(0, i, b);
      const Tensor ea = t.embed(b.anchor), ep = t.embed(b.positive), en = t.embed(b.negative);
      for (std::size_t r = 0; r < ea.dim(0); ++r) {
        double dp = 0, dn = 0;
        for (std::size_t k = 0; k < 8; ++k) {
          dp += (double(ea.data()[r * 8 + k]) - ep.data()[r * 8 + k]) * (double(ea.data()[r * 8 + k]) - ep.data()[r * 8 + k]);
          dn += (double(ea.data()[r * 8 + k]) - en.data()[r * 8 + k]) * (double(ea.data()[r * 8 + k]) - en.data()[r * 8 + k]);
        }
        s.insert(s.end(), {float(-dp), float(-dn)});
        l.insert(l.end(), {1.0f, 0.0f});
      }
    }
    CHECK(ht["val_auc"].back() == roc_auc(s, l));
  }

  using E = Embedder<Small>;
  E e(4);
  Adam a2;
  FitOptions oe = quiet(3);
  oe.metrics = {"precision_at_1", "map_at_r"};
  oe.monitor = "val_map_at_r";
  const Labeled lv{2, 16, 30000};
  const History he = fit(e, BatchHard{0.5f, Distance::SquaredEuclidean}, a2, Labeled{}, lv, oe);
  std::vector<float> emb;
  std::vector<int> labels;
  LabeledBatch b;
  for (std::size_t i = 0; i < lv.size(); ++i) {
    lv.batch(0, i, b);
    const Tensor x = e.embed(b.x);
    emb.insert(emb.end(), x.begin(), x.end());
    for (float v : b.labels) labels.push_back(int(v));
  }
  EmbeddingIndex index(8);
  index.add(emb, labels);
  RetrievalOptions ro;
  ro.queries_in_database = true;
  const RetrievalMetrics r = retrieval_metrics(index, emb, labels, ro);
  CHECK(he["val_precision_at_1"].back() == r.precision_at_1);
  CHECK(he["val_map_at_r"].back() == r.map_at_r);
  CHECK(r.evaluated == 32);
}

TEST_CASE("fit: a resumed run keeps its metric history and its monitor, bit for bit") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_fit_metrics_resume.ckpt";
  std::filesystem::remove(path);
  const Pairs train{3}, val{2, 16, 60000};
  auto opts = [&](std::size_t epochs) {
    FitOptions o = quiet(epochs);
    o.metrics = {"auc", "accuracy"};
    o.monitor = "val_accuracy";
    o.patience = 10;
    return o;
  };
  PairModel straight(8);
  Adam a1;
  const History full = fit(straight, BinaryCrossEntropy{}, a1, train, val, opts(4));
  PairModel first(8);
  Adam a2;
  FitOptions part = opts(2);
  part.checkpoint = path;
  fit(first, BinaryCrossEntropy{}, a2, train, val, part);
  PairModel resumed(31);
  Adam a3;
  FitOptions rest = opts(4);
  rest.checkpoint = path;
  const History h = fit(resumed, BinaryCrossEntropy{}, a3, train, val, rest);
  CHECK(h.resumed_at == 2);
  for (const char* k : {"val_auc", "val_accuracy"}) {
    const auto& a = h[k];
    const auto& b = full[k];
    REQUIRE(a.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) CHECK(float(a[i]) == float(b[i]));  // checkpoints keep float32
  }
  CHECK(h.best_epoch == full.best_epoch);
  CHECK(params(resumed) == params(straight));

  PairModel other(8);
  Adam a4;
  FitOptions wrong = opts(6);
  wrong.checkpoint = path;
  wrong.monitor = "val_auc";
  CHECK_THROWS_WITH_AS(fit(other, BinaryCrossEntropy{}, a4, train, val, wrong),
                       doctest::Contains("follows 'val_accuracy'"), std::invalid_argument);
}

TEST_CASE("fit: unknown metrics and monitors are refused before training, naming what is possible") {
  PairModel m(1);
  Adam adam;
  const Pairs train, val{1, 8, 1};
  FitOptions o = quiet(1);
  o.metrics = {"precision_at_1"};
  CHECK_THROWS_WITH_AS(fit(m, BinaryCrossEntropy{}, adam, train, val, o),
                       doctest::Contains("'precision_at_1' is not a metric of this model; it takes auc, accuracy"),
                       std::invalid_argument);
  o.metrics = {"auc"};
  o.monitor = "val_accuracy";
  CHECK_THROWS_WITH_AS(fit(m, BinaryCrossEntropy{}, adam, train, val, o),
                       doctest::Contains("it can monitor: loss, val_loss, val_auc"), std::invalid_argument);
  o.monitor = "val_auc";
  CHECK_THROWS_WITH_AS(fit(m, BinaryCrossEntropy{}, adam, train, o), doctest::Contains("validation data"),
                       std::invalid_argument);
  CHECK(m.step() == 0);
}
