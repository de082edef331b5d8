#pragma once
// Verification metrics over scored pairs: ROC curve and AUC, equal error rate, threshold calibration,
// accuracy / precision / recall / F1.
//
// Convention: a higher score means "more likely the same"; a pair is predicted positive when
// score >= threshold. Pass the negated distance when scoring by distance. Labels are 1 (same) or 0.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace siamese {

// One point of a ROC curve: the rates obtained by predicting positive for every score >= threshold.
struct RocPoint {
  double fpr;
  double tpr;
  float threshold;  // +infinity for the first point (nothing predicted positive)
};

// The rate where false positives and false negatives balance, with the threshold nearest to it.
struct EqualErrorRate {
  double rate;
  float threshold;
};

// A decision threshold and the accuracy it reaches on the data it was calibrated on.
struct CalibratedThreshold {
  float threshold;
  double accuracy;
};

// Confusion counts and the rates derived from them; a rate with a zero denominator is 0.
struct BinaryMetrics {
  std::size_t tp = 0, fp = 0, tn = 0, fn = 0;
  double accuracy = 0, precision = 0, recall = 0, f1 = 0;
};

namespace detail {

inline void check_scored(std::span<const float> scores, std::span<const float> labels, const char* who,
                         bool need_both = true) {
  if (scores.size() != labels.size())
    throw std::invalid_argument(std::string("siamese::") + who + ": " + std::to_string(scores.size()) +
                                " scores but " + std::to_string(labels.size()) + " labels");
  std::size_t pos = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i]))
      throw std::invalid_argument(std::string("siamese::") + who + ": score " + std::to_string(i) + " is not finite");
    if (labels[i] != 0.0f && labels[i] != 1.0f)
      throw std::invalid_argument(std::string("siamese::") + who + ": label " + std::to_string(i) + " is " +
                                  std::to_string(labels[i]) + ", expected 0 or 1");
    pos += labels[i] == 1.0f;
  }
  if (need_both && (pos == 0 || pos == labels.size()))
    throw std::invalid_argument(std::string("siamese::") + who + ": needs both positive and negative labels (" +
                                std::to_string(pos) + " positive of " + std::to_string(labels.size()) + ")");
}

// Indices sorted by descending score.
inline std::vector<std::size_t> by_descending_score(std::span<const float> scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}

}  // namespace detail

// Area under the ROC curve over the whole set, exactly: the Mann-Whitney statistic from average ranks, so a
// positive-negative pair with equal scores counts 1/2. Requires at least one label of each kind.
inline double roc_auc(std::span<const float> scores, std::span<const float> labels) {
  detail::check_scored(scores, labels, "roc_auc");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double pos_rank_sum = 0, pos = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (std::size_t t = i; t < j; ++t)
      if (labels[order[t]] == 1.0f) pos_rank_sum += rank, pos += 1;
    i = j;
  }
  const double neg = static_cast<double>(scores.size()) - pos;
  return (pos_rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

// The ROC curve from (0, 0) to (1, 1), one point per distinct score in descending order.
inline std::vector<RocPoint> roc_curve(std::span<const float> scores, std::span<const float> labels) {
  detail::check_scored(scores, labels, "roc_curve");
  const auto order = detail::by_descending_score(scores);
  double p = 0, n = 0;
  for (float l : labels) (l == 1.0f ? p : n) += 1;
  std::vector<RocPoint> curve{{0.0, 0.0, std::numeric_limits<float>::infinity()}};
  double tp = 0, fp = 0;
  for (std::size_t i = 0; i < order.size();) {
    const float s = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == s; ++i) (labels[order[i]] == 1.0f ? tp : fp) += 1;
    curve.push_back({fp / n, tp / p, s});
  }
  return curve;
}

// The equal error rate, linearly interpolated between the two ROC points where the false negative rate
// (1 - TPR) crosses the false positive rate; the threshold is that of the nearer of the two points.
inline EqualErrorRate equal_error_rate(std::span<const float> scores, std::span<const float> labels) {
  const auto c = roc_curve(scores, labels);
  const auto gap = [&](std::size_t i) { return (1.0 - c[i].tpr) - c[i].fpr; };  // falls from 1 to -1
  std::size_t i = 1;
  while (gap(i) > 0) ++i;  // the last point has gap -1, so this stops
  const double g0 = gap(i - 1), g1 = gap(i);
  const double t = g0 / (g0 - g1);
  const double rate = c[i - 1].fpr + t * (c[i].fpr - c[i - 1].fpr);
  std::size_t nearer = t < 0.5 ? i - 1 : i;
  if (nearer == 0) nearer = 1;  // point 0 has an infinite threshold; the next one is as good a choice
  return {rate, c[nearer].threshold};
}

// Confusion counts and rates for "positive when score >= threshold".
inline BinaryMetrics binary_metrics(std::span<const float> scores, std::span<const float> labels, float threshold) {
  detail::check_scored(scores, labels, "binary_metrics", false);
  BinaryMetrics m;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] >= threshold, actual = labels[i] == 1.0f;
    (predicted ? (actual ? m.tp : m.fp) : (actual ? m.fn : m.tn)) += 1;
  }
  const auto ratio = [](std::size_t a, std::size_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); };
  m.accuracy = ratio(m.tp + m.tn, scores.size());
  m.precision = ratio(m.tp, m.tp + m.fp);
  m.recall = ratio(m.tp, m.tp + m.fn);
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
  return m;
}

// The threshold that maximises accuracy on (scores, labels), e.g. a validation set. Among equally accurate
// choices the lowest wins; the threshold returned lies midway between the two scores it separates, so that it
// classifies this data the same way and unseen scores near the boundary fairly.
inline CalibratedThreshold calibrate_threshold(std::span<const float> scores, std::span<const float> labels) {
  detail::check_scored(scores, labels, "calibrate_threshold", false);
  if (scores.empty()) throw std::invalid_argument("siamese::calibrate_threshold: no scores");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Start with every score predicted positive, then move one group of equal scores at a time below the
  // threshold: a positive moved loses one correct answer, a negative gains one.
  std::size_t correct = 0;
  for (float l : labels) correct += l == 1.0f;
  std::size_t best = correct;
  float best_t = scores[order.front()];
  for (std::size_t i = 0; i < order.size();) {
    const float s = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == s; ++i) labels[order[i]] == 1.0f ? --correct : ++correct;
    if (correct > best) {
      best = correct;
      if (i < order.size()) {
        const float next = scores[order[i]];
        const float mid = s + (next - s) * 0.5f;
        best_t = mid > s && mid <= next ? mid : next;
      } else {
        best_t = std::nextafter(s, std::numeric_limits<float>::infinity());
      }
    }
  }
  return {best_t, static_cast<double>(best) / static_cast<double>(scores.size())};
}

}  // namespace siamese
