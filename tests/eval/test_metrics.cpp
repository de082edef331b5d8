#include <siamese/eval/metrics.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

namespace {

struct Scored {
  std::vector<float> scores, labels;
};

// Scores on a coarse grid, so that ties between positives and negatives are common.
Scored random_scored(std::size_t n, unsigned seed, int grid) {
  std::mt19937 rng(seed);
  Scored s;
  for (std::size_t i = 0; i < n; ++i) {
    const float label = static_cast<float>(rng() % 2);
    s.labels.push_back(label);
    s.scores.push_back(static_cast<float>(static_cast<int>(rng() % grid) + static_cast<int>(label) * grid / 3) / 10.0f);
  }
  s.labels[0] = 1;
  s.labels[1] = 0;
  return s;
}

double brute_auc(const Scored& s) {
  double sum = 0, pairs = 0;
  for (std::size_t i = 0; i < s.scores.size(); ++i)
    for (std::size_t j = 0; j < s.scores.size(); ++j)
      if (s.labels[i] == 1 && s.labels[j] == 0) {
        sum += s.scores[i] > s.scores[j] ? 1.0 : s.scores[i] == s.scores[j] ? 0.5 : 0.0;
        pairs += 1;
      }
  return sum / pairs;
}

struct Rates {
  double fpr, fnr, accuracy;
};

Rates rates_at(const Scored& s, float t) {
  double tp = 0, fp = 0, p = 0, n = 0, correct = 0;
  for (std::size_t i = 0; i < s.scores.size(); ++i) {
    const bool pred = s.scores[i] >= t;
    if (s.labels[i] == 1) p += 1, tp += pred;
    else n += 1, fp += pred;
    correct += pred == (s.labels[i] == 1);
  }
  return {fp / n, 1 - tp / p, correct / static_cast<double>(s.scores.size())};
}

}  // namespace

TEST_CASE("roc_auc: hand-derived cases with ties") {
  // Positive-negative pairs: (0.4 > 0.1) 1, (0.4 = 0.4) 1/2, (0.8 > 0.1) 1, (0.8 > 0.4) 1: 3.5 / 4.
  const std::vector<float> s{0.1f, 0.4f, 0.4f, 0.8f}, l{0, 0, 1, 1};
  CHECK(siamese::roc_auc(s, l) == doctest::Approx(0.875));
  const std::vector<float> same{2, 2, 2, 2};
  CHECK(siamese::roc_auc(same, l) == doctest::Approx(0.5));
  const std::vector<float> perfect{0, 1, 2, 3}, reversed{3, 2, 1, 0};
  CHECK(siamese::roc_auc(perfect, l) == 1.0);
  CHECK(siamese::roc_auc(reversed, l) == 0.0);
}

TEST_CASE("roc_auc and roc_curve agree with brute force") {
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    const auto s = random_scored(300, seed, 12);
    const double auc = siamese::roc_auc(s.scores, s.labels);
    CHECK(auc == doctest::Approx(brute_auc(s)).epsilon(1e-12));
    const auto curve = siamese::roc_curve(s.scores, s.labels);
    CHECK(curve.size() == std::set<float>(s.scores.begin(), s.scores.end()).size() + 1);
    CHECK(curve.front().fpr == 0.0);
    CHECK(curve.front().tpr == 0.0);
    CHECK(curve.back().fpr == 1.0);
    CHECK(curve.back().tpr == 1.0);
    double area = 0;
    for (std::size_t i = 1; i < curve.size(); ++i) {
      CHECK(curve[i].threshold < curve[i - 1].threshold);
      const auto r = rates_at(s, curve[i].threshold);
      CHECK(curve[i].fpr == doctest::Approx(r.fpr));
      CHECK(curve[i].tpr == doctest::Approx(1 - r.fnr));
      area += (curve[i].fpr - curve[i - 1].fpr) * (curve[i].tpr + curve[i - 1].tpr) / 2;  // trapezoid = ties 1/2
    }
    CHECK(area == doctest::Approx(auc).epsilon(1e-12));
  }
}

TEST_CASE("equal_error_rate") {
  // Thresholds 4, 3, 2, 1 give (FPR, FNR) = (0, .5), (.5, .5), (.5, 0), (1, 0): the rates meet at 0.5.
  const std::vector<float> s{1, 2, 3, 4}, l{0, 1, 0, 1};
  const auto e = siamese::equal_error_rate(s, l);
  CHECK(e.rate == doctest::Approx(0.5));
  CHECK(e.threshold == 3.0f);
  const std::vector<float> sep{0, 1, 2, 3}, sep_l{0, 0, 1, 1};
  CHECK(siamese::equal_error_rate(sep, sep_l).rate == 0.0);
  // In general it lies between max_t min(FPR, FNR) and min_t max(FPR, FNR) over all thresholds t.
  for (unsigned seed : {5u, 6u, 7u}) {
    const auto r = random_scored(200, seed, 20);
    const auto eer = siamese::equal_error_rate(r.scores, r.labels);
    double lo = 0, hi = 1;
    for (float t : r.scores) {
      const auto x = rates_at(r, t);
      lo = std::max(lo, std::min(x.fpr, x.fnr));
      hi = std::min(hi, std::max(x.fpr, x.fnr));
    }
    CHECK(eer.rate >= lo - 1e-12);
    CHECK(eer.rate <= hi + 1e-12);
    const auto at = rates_at(r, eer.threshold);
    CHECK(std::abs(at.fpr - at.fnr) <= 0.2);
  }
}

TEST_CASE("calibrate_threshold maximises accuracy") {
  for (unsigned seed : {8u, 9u, 10u, 11u}) {
    const auto r = random_scored(150, seed, 15);
    double best = 0;
    for (float t : r.scores) best = std::max(best, rates_at(r, t).accuracy);
    best = std::max(best, rates_at(r, std::numeric_limits<float>::infinity()).accuracy);
    const auto c = siamese::calibrate_threshold(r.scores, r.labels);
    CHECK(c.accuracy == doctest::Approx(best));
    CHECK(rates_at(r, c.threshold).accuracy == doctest::Approx(best));
    CHECK(siamese::binary_metrics(r.scores, r.labels, c.threshold).accuracy == doctest::Approx(best));
  }
  // Separable data: the threshold falls midway between the classes.
  const std::vector<float> s{0.1f, 0.2f, 0.6f, 0.9f}, l{0, 0, 1, 1};
  const auto c = siamese::calibrate_threshold(s, l);
  CHECK(c.accuracy == 1.0);
  CHECK(c.threshold == doctest::Approx(0.4f));
  // All negative: the threshold sits above every score.
  const std::vector<float> neg{0, 0, 0}, sc{1, 2, 3};
  CHECK(siamese::calibrate_threshold(sc, neg).threshold > 3.0f);
  CHECK(siamese::calibrate_threshold(sc, neg).accuracy == 1.0);
}

TEST_CASE("binary_metrics: hand-derived confusion") {
  const std::vector<float> s{0.9f, 0.8f, 0.7f, 0.3f, 0.2f, 0.6f}, l{1, 1, 0, 1, 0, 0};
  // threshold 0.65: predicted positive 0.9, 0.8, 0.7 -> tp 2, fp 1; negatives 0.3 (fn), 0.2 (tn), 0.6 (tn).
  const auto m = siamese::binary_metrics(s, l, 0.65f);
  CHECK(m.tp == 2);
  CHECK(m.fp == 1);
  CHECK(m.fn == 1);
  CHECK(m.tn == 2);
  CHECK(m.accuracy == doctest::Approx(4.0 / 6));
  CHECK(m.precision == doctest::Approx(2.0 / 3));
  CHECK(m.recall == doctest::Approx(2.0 / 3));
  CHECK(m.f1 == doctest::Approx(2.0 / 3));
  const auto none = siamese::binary_metrics(s, l, 2.0f);
  CHECK(none.precision == 0.0);
  CHECK(none.f1 == 0.0);
  CHECK(siamese::binary_metrics(s, l, 0.8f).tp == 2);  // >= threshold counts as positive
}

TEST_CASE("bad input is refused with the index") {
  const std::vector<float> s{0.1f, 0.2f}, l{1, 0}, bad_l{1, 0.5f}, nan_s{0.1f, NAN}, one_class{1, 1};
  CHECK_THROWS_WITH_AS(siamese::roc_auc(s, bad_l), doctest::Contains("label 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(siamese::roc_auc(nan_s, l), doctest::Contains("score 1"), std::invalid_argument);
  CHECK_THROWS_AS(siamese::roc_auc(s, one_class), std::invalid_argument);
  CHECK_THROWS_AS(siamese::roc_curve(std::vector<float>{1}, l), std::invalid_argument);
  CHECK_THROWS_AS(siamese::calibrate_threshold({}, {}), std::invalid_argument);
}
