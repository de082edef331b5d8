// fit() trains a Siamese model on generated pairs to a near-zero loss; the trained model saves and loads.
#include <siamese/siamese.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

using namespace siamese;

namespace {
// Pairs of 8x8 images, each a noisy copy of one of four bar patterns; same pattern = label 1.
struct BarPairs {
  std::size_t batches = 8, n = 16;
  std::size_t size() const { return batches; }
  static void draw(float* img, int cls, detail::Rng& r) {
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const bool on = cls == 0 ? y < 4 : cls == 1 ? x < 4 : cls == 2 ? (x + y) % 2 == 0 : (y == x || y == 7 - x);
        img[y * 8 + x] = (on ? 1.0f : 0.0f) + 0.1f * (r.uniform() - 0.5f);
      }
  }
  void batch(std::size_t epoch, std::size_t index, PairBatch& b) const {
    (void)epoch;  // the same pairs every epoch: the test is about fitting them
    detail::Rng r(1000 + index);
    b.a = Tensor({n, 8, 8, 1});
    b.b = Tensor({n, 8, 8, 1});
    b.labels.assign(n, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
      const int ca = int(r.below(4)), cb = i % 2 ? ca : int((ca + 1 + r.below(3)) % 4);
      draw(b.a.data() + i * 64, ca, r);
      draw(b.b.data() + i * 64, cb, r);
      b.labels[i] = ca == cb;
    }
  }
};
}  // namespace

TEST_CASE("fit: a Siamese CNN reaches near-zero training loss on generated pairs") {
  using Encoder = Sequential<Input<8, 8, 1>, Conv2D<8, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<16>>;
  Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>> model(3);
  BarPairs data;
  Adam opt;
  opt.learning_rate = 3e-3f;
  FitOptions o;
  o.epochs = 30;
  o.out = stdout;
  const History h = fit(model, BinaryCrossEntropy{}, opt, data, o);
  REQUIRE(h.loss.size() == 30);
  CHECK(h.loss.front() > 0.5);
  CHECK(h.loss.back() < 0.02);

  PairBatch b;
  data.batch(0, 0, b);
  const Tensor p = model.predict(b.a, b.b);
  std::size_t right = 0;
  for (std::size_t i = 0; i < b.labels.size(); ++i) right += (p[i] > 0.5f) == (b.labels[i] > 0.5f);
  CHECK(right == b.labels.size());

  const auto path = std::filesystem::temp_directory_path() / "siamese_fit_model.bin";
  save_weights(model, path);
  Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>> again(99);
  load_weights(again, path);
  const Tensor q = again.predict(b.a, b.b);
  for (std::size_t i = 0; i < b.labels.size(); ++i) CHECK(q[i] == p[i]);
}

namespace {
using Small = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<8>>;
using SmallModel = Siamese<Small, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<8, ReLU>, Dropout<0.2f>, Dense<1>>>>;

// A different draw every epoch, as a real sampler gives.
struct Fresh : BarPairs {
  void batch(std::size_t epoch, std::size_t index, PairBatch& b) const { BarPairs::batch(epoch * 100 + index, 0, b); }
  void batch_plain(std::size_t index, PairBatch& b) const { BarPairs::batch(index, 0, b); }
};
struct Validation {
  std::size_t size() const { return 2; }
  void batch(std::size_t, std::size_t index, PairBatch& b) const { BarPairs{}.batch(0, 5000 + index, b); }
};
FitOptions quiet(std::size_t epochs) {
  FitOptions o;
  o.epochs = epochs;
  o.progress = false;
  return o;
}
}  // namespace

TEST_CASE("checkpoint and resume continue to the identical state, bit for bit") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_fit_resume.ckpt";
  std::filesystem::remove(path);
  Fresh data;
  data.batches = 3;

  SmallModel straight(5);
  Adam o1;
  const History full = fit(straight, BinaryCrossEntropy{}, o1, data, Validation{}, quiet(4));

  SmallModel first(5);
  Adam o2;
  FitOptions part = quiet(2);
  part.checkpoint = path;
  fit(first, BinaryCrossEntropy{}, o2, data, Validation{}, part);
  REQUIRE(std::filesystem::exists(path));

  SmallModel resumed(77);  // another seed: everything must come from the checkpoint
  Adam o3;
  FitOptions rest = quiet(4);
  rest.checkpoint = path;
  const History h = fit(resumed, BinaryCrossEntropy{}, o3, data, Validation{}, rest);
  CHECK(h.resumed_at == 2);
  REQUIRE(h.loss.size() == 4);
  for (std::size_t e = 0; e < 4; ++e) {
    CHECK(h.loss[e] == full.loss[e]);  // exact equality: the same computation in the same order
    CHECK(h.val_loss[e] == full.val_loss[e]);
  }
  for (std::size_t i = 0; i < SmallModel::param_count; ++i) REQUIRE(resumed.parameters()[i] == straight.parameters()[i]);
}

TEST_CASE("a NaN during training stops it and leaves the last good checkpoint intact") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_fit_nan.ckpt";
  std::filesystem::remove(path);
  struct Poisoned : Fresh {
    void batch(std::size_t epoch, std::size_t index, PairBatch& b) const {
      Fresh::batch(epoch, index, b);
      if (epoch == 2) b.a[0] = std::numeric_limits<float>::infinity();
    }
  } data;
  data.batches = 2;
  SmallModel m(1);
  Adam opt;
  FitOptions o = quiet(4);
  o.checkpoint = path;
  CHECK_THROWS_AS(fit(m, BinaryCrossEntropy{}, opt, data, o), NumericError);
  SmallModel back(2);
  const TrainingState s = load_checkpoint(back, path);
  CHECK(s.epochs_done == 2);
  CHECK(back.step() == 4);
}

TEST_CASE("early stopping restores the best epoch; the schedule sets each epoch's learning rate") {
  // Training labels are the opposite of validation's: every epoch of learning makes the validation loss worse, so
  // the first epoch stays the best, training stops after `patience` more, and the weights return to the first's.
  struct Flipped : Fresh {
    void batch(std::size_t epoch, std::size_t index, PairBatch& b) const {
      Fresh::batch(epoch, index, b);
      for (float& l : b.labels) l = 1.0f - l;
    }
  } data;
  data.batches = 2;
  const auto run = [&](std::size_t epochs, bool restore, SmallModel& m) {
    SGD opt;
    opt.learning_rate = 0.05f;
    FitOptions o = quiet(epochs);
    o.patience = 2;
    o.restore_best = restore;
    return fit(m, BinaryCrossEntropy{}, opt, data, Validation{}, o);
  };
  SmallModel m(3), first(3), kept(3);
  const History h = run(10, true, m);
  CHECK(h.stopped_early);
  CHECK(h.loss.size() == 3);
  CHECK(h.best_epoch == 0);
  REQUIRE(h.val_loss.size() == 3);
  CHECK(h.val_loss[2] > h.val_loss[1]);
  CHECK(h.val_loss[1] > h.val_loss[0]);
  run(1, true, first);  // the same model after its first epoch
  const auto params = [](SmallModel& x) {
    const auto& p = x.parameters();
    return std::vector<float>(p.data(), p.data() + p.size());
  };
  CHECK(params(m) == params(first));
  run(10, false, kept);  // without restoring: the third epoch's weights
  CHECK(params(kept) != params(first));

  Adam adam;
  adam.learning_rate = 0.01f;
  FitOptions s = quiet(4);
  s.schedule = StepDecay{0.5f, 2};
  const History hs = fit(m, BinaryCrossEntropy{}, adam, Fresh{}, s);
  CHECK(hs.lr == std::vector<double>{0.01f, 0.01f, 0.005f, 0.005f});
  CHECK(adam.learning_rate == 0.01f);
  CHECK(CosineDecay{10, 0.0f}(10, 1.0f) == doctest::Approx(0.0));
  CHECK(CosineDecay{10, 0.0f}(5, 1.0f) == doctest::Approx(0.5));
}
