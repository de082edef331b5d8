// Augmentation (crop after padding, flip, brightness, contrast, erasing) seeded per (epoch, index, sample), and
// Prefetch: batches made ahead on a background thread, identical to the wrapped generator's, so that fit() with
// both stays reproducible and resumes bit for bit.
#include <siamese/siamese.hpp>
#include <siamese/data/augment.hpp>
#include <siamese/data/prefetch.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

using namespace siamese;

namespace {
Tensor ramp(std::size_t n, std::size_t h, std::size_t w, std::size_t c) {
  Tensor t({n, h, w, c});
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(i % 251) / 251.0f + 0.1f;
  return t;
}
float at(const Tensor& t, std::size_t s, std::size_t y, std::size_t x, std::size_t ch) {
  return t[((s * t.dim(1) + y) * t.dim(2) + x) * t.dim(3) + ch];
}
}  // namespace

TEST_CASE("augment: each sample draws from (seed, epoch, index, sample); the same seed gives the same batch") {
  Augment a;
  a.crop_padding = 2, a.flip = 0.5f, a.brightness = 0.1f, a.contrast = 0.2f, a.erase = 0.5f;
  Tensor x = ramp(4, 8, 8, 3), y = x, z = x, u = x;
  augment_batch(x, a, 7, 1, 2);
  augment_batch(y, a, 7, 1, 2);
  augment_batch(z, a, 7, 2, 2);
  augment_batch(u, a, 7, 1, 3);
  CHECK(std::equal(x.begin(), x.end(), y.begin()));
  CHECK(!std::equal(x.begin(), x.end(), z.begin()));
  CHECK(!std::equal(x.begin(), x.end(), u.begin()));
  // Sample 1 of the batch is what augment_image makes from its own seed.
  Tensor one = ramp(4, 8, 8, 3);
  std::vector<float> work;
  augment_image(one.data() + 192, 8, 8, 3, a, augment_seed(7, 1, 2, 1), work);
  CHECK(std::equal(one.begin() + 192, one.begin() + 384, x.begin() + 192));
  Tensor none = ramp(2, 8, 8, 3), orig = none;
  augment_batch(none, Augment{}, 7, 0, 0);
  CHECK(std::equal(none.begin(), none.end(), orig.begin()));
}

TEST_CASE("augment: flip mirrors, crop shifts with zeros, brightness adds, contrast keeps the mean, erasing fills") {
  const Tensor orig = ramp(16, 6, 7, 2);
  {
    Augment a;
    a.flip = 1;
    Tensor x = orig;
    augment_batch(x, a, 1, 0, 0);
    for (std::size_t s = 0; s < 16; ++s)
      for (std::size_t y = 0; y < 6; ++y)
        for (std::size_t c = 0; c < 7; ++c) CHECK(at(x, s, y, c, 1) == at(orig, s, y, 6 - c, 1));
  }
  {
    Augment a;
    a.crop_padding = 2;
    Tensor x = orig;
    augment_batch(x, a, 3, 0, 0);
    std::size_t shifted = 0;
    for (std::size_t s = 0; s < 16; ++s) {
      bool found = false;  // some shift (sy, sx) in [-2, 2]^2 with zero fill explains the sample
      for (int sy = -2; sy <= 2 && !found; ++sy)
        for (int sx = -2; sx <= 2 && !found; ++sx) {
          bool ok = true;
          for (int y = 0; y < 6 && ok; ++y)
            for (int c = 0; c < 7 && ok; ++c) {
              const int oy = y + sy, ox = c + sx;
              const float want = oy < 0 || oy >= 6 || ox < 0 || ox >= 7 ? 0.0f : at(orig, s, oy, ox, 0);
              ok = at(x, s, y, c, 0) == want;
            }
          found = ok;
          shifted += ok && (sy || sx);
        }
      CHECK(found);
    }
    CHECK(shifted > 8);  // 24 of the 25 shifts move the image
  }
  {
    Augment a;
    a.brightness = 0.2f, a.value_range = 255;
    Tensor x = orig;
    augment_batch(x, a, 5, 0, 0);
    for (std::size_t s = 0; s < 16; ++s) {
      const float d = x[s * 84] - orig[s * 84];
      CHECK(std::abs(d) <= 0.2f * 255 + 1e-3f);
      for (std::size_t i = 1; i < 84; ++i) CHECK(x[s * 84 + i] - orig[s * 84 + i] == doctest::Approx(d).epsilon(1e-4));
    }
  }
  {
    Augment a;
    a.contrast = 0.5f;
    Tensor x = orig;
    augment_batch(x, a, 5, 0, 0);
    for (std::size_t s = 0; s < 16; ++s)
      for (std::size_t ch = 0; ch < 2; ++ch) {
        double m0 = 0, m1 = 0;
        for (std::size_t i = ch; i < 84; i += 2) m0 += orig[s * 84 + i], m1 += x[s * 84 + i];
        CHECK(m1 == doctest::Approx(m0).epsilon(1e-5));
      }
  }
  {
    Augment a;
    a.erase = 1, a.erase_value = -3;
    Tensor x = ramp(16, 20, 20, 1);
    augment_batch(x, a, 9, 0, 0);
    for (std::size_t s = 0; s < 16; ++s) {
      std::size_t erased = 0;
      for (std::size_t i = 0; i < 400; ++i) erased += x[s * 400 + i] == -3.0f;
      CHECK(erased >= 4);   // 2% of 400 pixels, rounded sides
      CHECK(erased <= 150); // 33%, rounded sides
    }
  }
}

TEST_CASE("augment: bad settings and shapes are refused, naming them") {
  Augment a;
  a.flip = 1.5f;
  Tensor x = ramp(1, 4, 4, 1);
  CHECK_THROWS_WITH_AS(augment_batch(x, a, 0, 0, 0), doctest::Contains("Augment::flip"), std::invalid_argument);
  a.flip = 0.5f;
  Tensor v({4, 16});
  CHECK_THROWS_WITH_AS(augment_batch(v, a, 0, 0, 0), doctest::Contains("augment_batch"), ShapeError);
}

namespace {
struct Counting {
  std::size_t n = 5;
  mutable std::atomic<int> calls{0};
  mutable std::atomic<std::thread::id> thread{};
  std::atomic<std::size_t>* started = nullptr;  // the highest (epoch * 100 + index + 1) begun
  std::size_t size() const { return n; }
  void batch(std::size_t epoch, std::size_t index, LabeledBatch& b) const {
    ++calls;
    thread = std::this_thread::get_id();
    if (started) {
      std::size_t v = epoch * 100 + index + 1, cur = *started;
      while (v > cur && !started->compare_exchange_weak(cur, v)) {}
    }
    if (epoch == 9) throw DataError("batch " + std::to_string(index) + " of epoch 9 is damaged");
    b.x = Tensor({1, 1});
    b.x[0] = float(epoch * 100 + index);
  }
};
}  // namespace

TEST_CASE("Prefetch: the wrapped generator's batches, made ahead on another thread, in any order asked") {
  std::atomic<std::size_t> started{0};
  Counting g;
  g.started = &started;
  Prefetch<Counting, LabeledBatch> p(g, 2);
  CHECK(p.size() == 5);
  LabeledBatch b;
  for (std::size_t e = 0; e < 2; ++e)
    for (std::size_t i = 0; i < 5; ++i) {
      p.batch(e, i, b);
      CHECK(b.x[0] == float(e * 100 + i));
      // The next batch is begun without being asked for (read-ahead); wait for it, at most 10 s.
      const std::size_t next = i + 1 < 5 ? e * 100 + i + 2 : (e + 1) * 100 + 1;
      for (int t = 0; t < 10000 && started.load() < next; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      CHECK(started.load() >= next);
      // ...but never more than the queue's depth ahead, plus the one being made.
      CHECK(started.load() <= (i + 3 < 5 ? e * 100 + i + 4 : (e + 1) * 100 + (i + 3 - 5) + 1));
    }
  CHECK(g.thread.load() != std::this_thread::get_id());
  p.batch(0, 3, b);  // out of order: a validation pass, a resume
  CHECK(b.x[0] == 3.0f);
  p.batch(5, 0, b);
  CHECK(b.x[0] == 500.0f);
  p.batch(5, 1, b);
  CHECK(b.x[0] == 501.0f);
  CHECK_THROWS_WITH_AS(p.batch(9, 2, b), doctest::Contains("batch 2 of epoch 9"), DataError);
  p.batch(1, 4, b);  // and it goes on after an error
  CHECK(b.x[0] == 104.0f);
  CHECK(p.produce_seconds() >= 0);
  using P = Prefetch<Counting, LabeledBatch>;
  CHECK_THROWS_WITH_AS(P(g, 0), doctest::Contains("depth"), std::invalid_argument);
}

namespace {
using Small = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<8>>;
// Labelled 8x8 images, augmented per (epoch, index, sample).
struct Augmented {
  Augment aug{.crop_padding = 1, .flip = 0.5f, .brightness = 0.1f, .contrast = 0.2f, .erase = 0.3f};
  std::size_t size() const { return 4; }
  void batch(std::size_t epoch, std::size_t index, LabeledBatch& b) const {
    detail::Rng r(index);
    b.x = Tensor({12, 8, 8, 1});
    b.labels.resize(12);
    for (std::size_t i = 0; i < 12; ++i) {
      b.labels[i] = float(i % 3);
      for (std::size_t k = 0; k < 64; ++k) b.x[i * 64 + k] = (k % (i % 3 + 2) == 0 ? 1.0f : 0.0f) + 0.1f * r.uniform();
    }
    augment_batch(b.x, aug, 42, epoch, index);
  }
};
}  // namespace

TEST_CASE("fit with Prefetch and augmentation: the same run as without, and a resumed run is bit-identical") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_prefetch_resume.ckpt";
  std::filesystem::remove(path);
  const Augmented gen;
  const auto opts = [&](std::size_t epochs) {
    FitOptions o;
    o.epochs = epochs;
    o.progress = false;
    return o;
  };
  Embedder<Small> direct(3), straight(3), first(3), resumed(9);
  Adam a0, a1, a2, a3;
  fit(direct, BatchAll{0.5f}, a0, gen, opts(4));
  {
    const Prefetch<Augmented, LabeledBatch> p(gen, 3);
    const History h = fit(straight, BatchAll{0.5f}, a1, p, opts(4));
    CHECK(h.data_seconds.size() == 4);
  }
  CHECK(straight.parameters().to_host() == direct.parameters().to_host());
  {
    const Prefetch<Augmented, LabeledBatch> p(gen, 3);
    FitOptions o = opts(2);
    o.checkpoint = path;
    fit(first, BatchAll{0.5f}, a2, p, o);
  }
  {
    const Prefetch<Augmented, LabeledBatch> p(gen, 3);
    FitOptions o = opts(4);
    o.checkpoint = path;
    const History h = fit(resumed, BatchAll{0.5f}, a3, p, o);
    CHECK(h.resumed_at == 2);
  }
  CHECK(resumed.parameters().to_host() == straight.parameters().to_host());
}
