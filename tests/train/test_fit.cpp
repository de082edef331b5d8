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
