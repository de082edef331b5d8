// Optimizer steps against their published update rules, computed here independently in double.
#include <siamese/backend/reference/reference.hpp>
#include <siamese/optim/optimizers.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace siamese;
using Ref = backend::Reference;

namespace {
const std::vector<Segment> all{{0, 3}};
}

TEST_CASE("SGD: plain, momentum, Nesterov, weight decay") {
  std::vector<float> w{1, -2, 3}, g{0.5f, 0.5f, -1}, v(3, 0.0f);
  SGD plain;
  plain.learning_rate = 0.1f;
  plain.update<Ref>(w.data(), g.data(), v.data(), 3, all, 1);
  CHECK(w[0] == doctest::Approx(0.95));
  CHECK(w[2] == doctest::Approx(3.1));

  SGD mom;
  mom.learning_rate = 0.1f;
  mom.momentum = 0.9f;
  mom.nesterov = true;
  mom.weight_decay = 0.01f;
  w = {1, -2, 3};
  std::fill(v.begin(), v.end(), 0.0f);
  double wd = 1, vd = 0;
  for (int t = 0; t < 3; ++t) {
    std::vector<float> gg = g;
    mom.update<Ref>(w.data(), gg.data(), v.data(), 3, all, std::size_t(t + 1));
    const double gi = 0.5 + 0.01 * wd;
    vd = 0.9 * vd - 0.1 * gi;
    wd += 0.9 * vd - 0.1 * gi;
  }
  CHECK(w[0] == doctest::Approx(wd).epsilon(1e-5));
}

TEST_CASE("Adam and AdamW follow Kingma & Ba with bias correction") {
  for (bool decoupled : {false, true}) {
    Adam opt;
    if (decoupled) opt = AdamW{};
    opt.learning_rate = 0.01f;
    opt.weight_decay = 0.1f;
    std::vector<float> w{0.5f, -1, 2}, slots(6, 0.0f);
    double wd = 0.5, m = 0, v = 0;
    for (int t = 1; t <= 5; ++t) {
      const double graw = 0.3 * t - 0.5;
      std::vector<float> g{float(graw), 0, 0};
      opt.update<Ref>(w.data(), g.data(), slots.data(), 3, all, std::size_t(t));
      const double gi = decoupled ? graw : graw + 0.1 * wd;
      m = 0.9 * m + 0.1 * gi;
      v = 0.999 * v + 0.001 * gi * gi;
      const double mh = m / (1 - std::pow(0.9, t)), vh = v / (1 - std::pow(0.999, t));
      if (decoupled) wd -= 0.01 * 0.1 * wd;
      wd -= 0.01 * mh / (std::sqrt(vh) + 1e-7);
    }
    CHECK(w[0] == doctest::Approx(wd).epsilon(1e-5));
  }
}

TEST_CASE("gradient clipping by global norm and by value") {
  std::vector<float> g{3, 4, 0}, w(3, 0.0f), s(3, 0.0f);
  SGD opt;
  opt.learning_rate = 1.0f;
  opt.clip_norm = 1.0f;
  opt.update<Ref>(w.data(), g.data(), s.data(), 3, all, 1);
  CHECK(w[0] == doctest::Approx(-0.6));
  CHECK(w[1] == doctest::Approx(-0.8));
  std::vector<float> g2{3, -0.1f, -5};
  w.assign(3, 0.0f);
  opt.clip_norm = 0;
  opt.clip_value = 0.5f;
  opt.update<Ref>(w.data(), g2.data(), s.data(), 3, all, 1);
  CHECK(w == std::vector<float>{-0.5f, 0.1f, 0.5f});
}

TEST_CASE("only the trainable segments change") {
  std::vector<float> w{1, 1, 1, 1}, g{1, 1, 1, 1}, s(8, 0.0f);
  AdamW opt;
  opt.update<Ref>(w.data(), g.data(), s.data(), 4, {{1, 2}}, 1);
  CHECK(w[0] == 1.0f);
  CHECK(w[3] == 1.0f);
  CHECK(w[1] < 1.0f);
}
