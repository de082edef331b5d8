#include <siamese/backend/reference/reference.hpp>
#include <siamese/loss/mining.hpp>
#include <siamese/loss/online.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <random>
#include <tuple>
#include <vector>

using siamese::Distance;

namespace {

constexpr Distance all_distances[] = {Distance::SquaredEuclidean, Distance::Euclidean, Distance::Cosine};

// Independent distance, written from the definitions.
double dist(const std::vector<double>& e, std::size_t dim, std::size_t i, std::size_t j, Distance d) {
  double sq = 0, dot = 0, ni = 0, nj = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    const double a = e[i * dim + k], b = e[j * dim + k];
    sq += (a - b) * (a - b);
    dot += a * b;
    ni += a * a;
    nj += b * b;
  }
  if (d == Distance::SquaredEuclidean) return sq;
  if (d == Distance::Euclidean) return std::sqrt(sq);
  return 1.0 - dot / std::sqrt(ni * nj);
}

struct Batch {
  std::vector<double> e;
  std::vector<int> labels;
  std::size_t n, dim;
};

Batch random_batch(std::size_t classes, std::size_t per_class, std::size_t dim, unsigned seed) {
  Batch b{{}, {}, classes * per_class, dim};
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  for (std::size_t i = 0; i < b.n * dim; ++i) b.e.push_back(normal(rng));
  for (std::size_t i = 0; i < b.n; ++i) b.labels.push_back(static_cast<int>((i * 7 + 3) % classes));  // mixed order
  return b;
}

using Triplet = std::tuple<std::size_t, std::size_t, std::size_t>;

double brute_batch_all(const Batch& b, double m, Distance d, std::size_t* active_out) {
  double sum = 0;
  std::size_t active = 0;
  for (std::size_t a = 0; a < b.n; ++a)
    for (std::size_t p = 0; p < b.n; ++p)
      for (std::size_t q = 0; q < b.n; ++q) {
        if (a == p || b.labels[a] != b.labels[p] || b.labels[q] == b.labels[a]) continue;
        const double l = dist(b.e, b.dim, a, p, d) - dist(b.e, b.dim, a, q, d) + m;
        if (l > 0) sum += l, ++active;
      }
  *active_out = active;
  return active ? sum / static_cast<double>(active) : 0.0;
}

// Batch-hard as "the triplet of the anchor with the largest d(a,p) - d(a,n)", searched over all pairs.
std::vector<Triplet> brute_batch_hard(const Batch& b, Distance d, double m, double* loss) {
  std::vector<Triplet> out;
  double sum = 0;
  for (std::size_t a = 0; a < b.n; ++a) {
    double best = -INFINITY;
    Triplet t{};
    for (std::size_t p = 0; p < b.n; ++p)
      for (std::size_t q = 0; q < b.n; ++q) {
        if (a == p || b.labels[a] != b.labels[p] || b.labels[q] == b.labels[a]) continue;
        const double v = dist(b.e, b.dim, a, p, d) - dist(b.e, b.dim, a, q, d);
        if (v > best) best = v, t = {a, p, q};
      }
    if (best > -INFINITY) out.push_back(t), sum += std::max(0.0, best + m);
  }
  *loss = out.empty() ? 0 : sum / static_cast<double>(out.size());
  return out;
}

// Semi-hard from the FaceNet wording: collect the negatives in the window, take the closest; else the closest.
std::vector<Triplet> brute_semi_hard(const Batch& b, Distance d, double m, double* loss) {
  std::vector<Triplet> out;
  double sum = 0;
  for (std::size_t a = 0; a < b.n; ++a)
    for (std::size_t p = 0; p < b.n; ++p) {
      if (a == p || b.labels[a] != b.labels[p]) continue;
      const double dap = dist(b.e, b.dim, a, p, d);
      std::vector<std::pair<double, std::size_t>> window, all;
      for (std::size_t q = 0; q < b.n; ++q) {
        if (b.labels[q] == b.labels[a]) continue;
        const double daq = dist(b.e, b.dim, a, q, d);
        all.emplace_back(daq, q);
        if (dap < daq && daq < dap + m) window.emplace_back(daq, q);
      }
      if (all.empty()) continue;
      const auto pick = window.empty() ? *std::min_element(all.begin(), all.end())
                                       : *std::min_element(window.begin(), window.end());
      out.emplace_back(a, p, pick.second);
      sum += std::max(0.0, dap - pick.first + m);
    }
  *loss = out.empty() ? 0 : sum / static_cast<double>(out.size());
  return out;
}

std::vector<Triplet> as_tuples(const std::vector<siamese::MinedTriplet>& v) {
  std::vector<Triplet> out;
  for (const auto& t : v) out.emplace_back(t.anchor, t.positive, t.negative);
  return out;
}

using LossFn = std::function<double(const double*, double*)>;

// Central differences against the analytic gradient; `same_choice` guards that no mining decision flips.
void check_gradient(const Batch& b, const LossFn& f, const std::function<bool(const std::vector<double>&)>& same_choice) {
  std::vector<double> grad(b.e.size());
  f(b.e.data(), grad.data());
  const double h = 1e-6;
  double worst = 0;
  for (std::size_t i = 0; i < b.e.size(); ++i) {
    auto plus = b.e, minus = b.e;
    plus[i] += h;
    minus[i] -= h;
    REQUIRE(same_choice(plus));
    REQUIRE(same_choice(minus));
    const double fd = (f(plus.data(), nullptr) - f(minus.data(), nullptr)) / (2 * h);
    const double err = std::abs(fd - grad[i]) / std::max(1.0, std::abs(fd));
    worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : std::max(worst, err);  // NaN fails
  }
  CHECK(worst < 1e-6);
}

}  // namespace

TEST_CASE("hand-derived 1-D case, squared Euclidean") {
  // e = 0, 1, 3 with labels 0, 0, 1: d01 = 1, d02 = 9, d12 = 4; margin 5.
  const std::vector<float> e{0, 1, 3};
  const std::vector<int> l{0, 0, 1};
  std::vector<float> g(3);
  siamese::MiningStats st;
  // Only (a=1, p=0, n=2) is active: L = (e1-e0)^2 - (e1-e2)^2 + 5 = 2, dL/de = (-2, 6, -4).
  CHECK(siamese::batch_all_triplet_loss(e.data(), l.data(), 3, 1, 5.0f, Distance::SquaredEuclidean, g.data(), &st) ==
        doctest::Approx(2.0));
  CHECK(st.valid == 2);
  CHECK(st.active == 1);
  CHECK(g == std::vector<float>{-2, 6, -4});
  // Batch-hard: anchors 0 (loss 0) and 1 (loss 2); anchor 2 has no positive.
  CHECK(siamese::batch_hard_triplet_loss(e.data(), l.data(), 3, 1, 5.0f, Distance::SquaredEuclidean, g.data(), &st) ==
        doctest::Approx(1.0));
  CHECK(st.valid == 2);
  CHECK(g == std::vector<float>{-1, 3, -2});
  // Semi-hard: pair (0,1) has no negative in (1, 6) and falls back to 2 (loss 0); pair (1,0) takes 2 (4 in (1, 6)).
  CHECK(siamese::semi_hard_triplet_loss(e.data(), l.data(), 3, 1, 5.0f, Distance::SquaredEuclidean, g.data(), &st) ==
        doctest::Approx(1.0));
  CHECK(st.valid == 2);
  CHECK(st.active == 1);
  const auto mined = siamese::mine_semi_hard(e.data(), l.data(), 3, 1, 5.0f, Distance::SquaredEuclidean);
  CHECK(as_tuples(mined) == std::vector<Triplet>{{0, 1, 2}, {1, 0, 2}});
}

TEST_CASE("losses and mined triplets match brute force") {
  for (unsigned seed : {1u, 2u, 3u})
    for (Distance d : all_distances) {
      CAPTURE(seed);
      CAPTURE(static_cast<int>(d));
      const auto b = random_batch(4, 4, 5, seed);
      const double m = d == Distance::Cosine ? 0.3 : d == Distance::Euclidean ? 0.8 : 2.0;
      siamese::MiningStats st;
      std::size_t active = 0;
      const double ba = brute_batch_all(b, m, d, &active);
      CHECK(siamese::batch_all_triplet_loss(b.e.data(), b.labels.data(), b.n, b.dim, m, d, nullptr, &st) ==
            doctest::Approx(ba).epsilon(1e-12));
      CHECK(st.active == active);
      CHECK(st.valid == 16 * 3 * 12);  // anchors x positives x negatives
      CHECK(active > 0);

      double loss = 0, hard_loss = 0;
      const auto hard = brute_batch_hard(b, d, m, &hard_loss);
      loss = hard_loss;
      CHECK(as_tuples(siamese::mine_batch_hard(b.e.data(), b.labels.data(), b.n, b.dim, m, d)) == hard);
      CHECK(siamese::batch_hard_triplet_loss(b.e.data(), b.labels.data(), b.n, b.dim, m, d, nullptr, &st) ==
            doctest::Approx(loss).epsilon(1e-12));
      CHECK(st.valid == 16);

      const auto semi = brute_semi_hard(b, d, m, &loss);
      CHECK(as_tuples(siamese::mine_semi_hard(b.e.data(), b.labels.data(), b.n, b.dim, m, d)) == semi);
      CHECK(siamese::semi_hard_triplet_loss(b.e.data(), b.labels.data(), b.n, b.dim, m, d, nullptr, &st) ==
            doctest::Approx(loss).epsilon(1e-12));
      CHECK(st.valid == 16 * 3);

      // Float embeddings give the same loss to float precision.
      std::vector<float> ef(b.e.begin(), b.e.end());
      std::vector<float> gf(ef.size());
      CHECK(siamese::batch_hard_triplet_loss(ef.data(), b.labels.data(), b.n, b.dim, static_cast<float>(m), d,
                                             gf.data()) == doctest::Approx(hard_loss).epsilon(1e-4));
    }
}

TEST_CASE("gradients match central differences") {
  for (Distance d : all_distances) {
    CAPTURE(static_cast<int>(d));
    const auto b = random_batch(3, 4, 6, 17);
    const double m = d == Distance::Cosine ? 0.4 : d == Distance::Euclidean ? 1.0 : 3.0;
    const auto* lab = b.labels.data();
    const auto mined_hard = as_tuples(siamese::mine_batch_hard(b.e.data(), lab, b.n, b.dim, m, d));
    const auto mined_semi = as_tuples(siamese::mine_semi_hard(b.e.data(), lab, b.n, b.dim, m, d));
    siamese::MiningStats base;
    siamese::batch_all_triplet_loss(b.e.data(), lab, b.n, b.dim, m, d, static_cast<double*>(nullptr), &base);
    REQUIRE(base.active > 0);
    REQUIRE(base.active < base.valid);  // the hinge is exercised on both sides

    {
      INFO("batch-all");
      check_gradient(
          b, [&](const double* e, double* g) { return siamese::batch_all_triplet_loss(e, lab, b.n, b.dim, m, d, g); },
          [&](const std::vector<double>& e) {
            siamese::MiningStats st;
            siamese::batch_all_triplet_loss(e.data(), lab, b.n, b.dim, m, d, static_cast<double*>(nullptr), &st);
            return st.active == base.active;
          });
    }
    {
      INFO("batch-hard");
      check_gradient(
          b, [&](const double* e, double* g) { return siamese::batch_hard_triplet_loss(e, lab, b.n, b.dim, m, d, g); },
          [&](const std::vector<double>& e) {
            return as_tuples(siamese::mine_batch_hard(e.data(), lab, b.n, b.dim, m, d)) == mined_hard;
          });
    }
    {
      INFO("semi-hard");
      check_gradient(
          b, [&](const double* e, double* g) { return siamese::semi_hard_triplet_loss(e, lab, b.n, b.dim, m, d, g); },
          [&](const std::vector<double>& e) {
            return as_tuples(siamese::mine_semi_hard(e.data(), lab, b.n, b.dim, m, d)) == mined_semi;
          });
    }
  }
}

TEST_CASE("degenerate batches") {
  std::vector<float> g(8, 123.0f);
  siamese::MiningStats st{9, 9};
  SUBCASE("one class: nothing to average, zero gradient") {
    const std::vector<float> e{1, 2, 3, 4, 5, 6, 7, 8};
    const std::vector<int> l{2, 2, 2, 2};
    for (Distance d : all_distances) {
      CHECK(siamese::batch_all_triplet_loss(e.data(), l.data(), 4, 2, 1.0f, d, g.data(), &st) == 0.0f);
      CHECK(st.valid == 0);
      CHECK(std::all_of(g.begin(), g.end(), [](float v) { return v == 0.0f; }));
      CHECK(siamese::batch_hard_triplet_loss(e.data(), l.data(), 4, 2, 1.0f, d, g.data()) == 0.0f);
      CHECK(siamese::semi_hard_triplet_loss(e.data(), l.data(), 4, 2, 1.0f, d, g.data()) == 0.0f);
    }
  }
  SUBCASE("duplicate points and a zero vector keep the gradient finite") {
    const std::vector<float> e{0, 0, 0, 0, 1, 1, 1, 1};  // rows 0 and 1 coincide and are zero
    const std::vector<int> l{0, 0, 1, 1};
    for (Distance d : all_distances) {
      const float loss = siamese::batch_hard_triplet_loss(e.data(), l.data(), 4, 2, 0.5f, d, g.data());
      CHECK(std::isfinite(loss));
      CHECK(std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); }));
    }
  }
  SUBCASE("bad input is refused") {
    std::vector<float> e{0, 1, std::nanf(""), 2};
    const std::vector<int> l{0, 1};
    CHECK_THROWS_WITH_AS(siamese::batch_hard_triplet_loss(e.data(), l.data(), 2, 2, 0.5f, Distance::Cosine, g.data()),
                         "siamese::batch_hard_triplet_loss: the embedding of sample 1 (row 1, column 0) is NaN",
                         siamese::NumericError);
    e[2] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(siamese::semi_hard_triplet_loss(e.data(), l.data(), 2, 2, 0.5f, Distance::Cosine, g.data()),
                         "siamese::semi_hard_triplet_loss: the embedding of sample 1 (row 1, column 0) is infinite",
                         siamese::NumericError);
    CHECK_THROWS_AS(siamese::batch_all_triplet_loss(e.data(), l.data(), 2, 2, 0.5f, Distance::Cosine, g.data()),
                    siamese::NumericError);
    CHECK_THROWS_AS(siamese::mine_batch_hard(e.data(), l.data(), 2, 2, 0.5f, Distance::Cosine), siamese::NumericError);
    CHECK_THROWS_AS(siamese::mine_semi_hard(e.data(), l.data(), 2, 2, 0.5f, Distance::Cosine), siamese::NumericError);
    e[2] = 0;
    CHECK_THROWS_AS(siamese::batch_all_triplet_loss(e.data(), l.data(), 2, 2, -1.0f, Distance::Cosine, g.data()),
                    std::invalid_argument);
    CHECK(siamese::semi_hard_triplet_loss(e.data(), l.data(), 0, 2, 0.5f, Distance::Cosine, g.data()) == 0.0f);
  }
}

TEST_CASE("BatchHard, SemiHard, BatchAll: a non-finite embedding or label is a NumericError naming the loss and sample") {
  using B = siamese::backend::Reference;
  std::vector<float> e{0, 1, 2, 3, 4, 5, 6, 7}, y{0, 0, 1, 1}, g(8);
  CHECK(std::isfinite(siamese::BatchHard{}.operator()<B>(e.data(), y.data(), g.data(), 4, 2)));
  e[5] = std::nanf("");
  CHECK_THROWS_WITH_AS(siamese::BatchHard{}.operator()<B>(e.data(), y.data(), g.data(), 4, 2),
                       "siamese::batch_hard_triplet_loss: the embedding of sample 2 (row 2, column 1) is NaN",
                       siamese::NumericError);
  CHECK_THROWS_AS(siamese::SemiHard{}.operator()<B>(e.data(), y.data(), nullptr, 4, 2), siamese::NumericError);
  CHECK_THROWS_AS(siamese::BatchAll{}.operator()<B>(e.data(), y.data(), nullptr, 4, 2), siamese::NumericError);
  e[5] = 5;
  y[3] = std::nanf("");
  CHECK_THROWS_WITH_AS(siamese::BatchHard{}.operator()<B>(e.data(), y.data(), g.data(), 4, 2),
                       "siamese::BatchHard: the label of sample 3 is NaN", siamese::NumericError);
  y[3] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(siamese::SemiHard{}.operator()<B>(e.data(), y.data(), g.data(), 4, 2),
                       "siamese::SemiHard: the label of sample 3 is infinite", siamese::NumericError);
  y[3] = 1e10f;
  CHECK_THROWS_WITH_AS(siamese::BatchAll{}.operator()<B>(e.data(), y.data(), g.data(), 4, 2),
                       "siamese::BatchAll: the label of sample 3 is out of the int range", siamese::NumericError);
}
