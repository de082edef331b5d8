#pragma once
// Arguments of the loss kernels: each returns the mean loss over n and writes the gradient of that
// mean where a gradient pointer is not null.
#include <cstddef>

#include "../kinds.hpp"

namespace siamese::backend {

/// bce_logits: binary cross-entropy from logits z with targets t in [0, 1].
struct BceArgs {
  const float* z;
  const float* t;
  float* dz;
  std::size_t n;
};

/// contrastive: 0.5 (t d^2 + (1 - t) max(0, margin - d)^2) over rows a[i], b[i] of width d.
struct ContrastiveArgs {
  const float* a;
  const float* b;
  const float* t;
  float* da;
  float* db;
  std::size_t n, d;
  float margin;
};

/// triplet: max(dist(a, p) - dist(a, q) + margin, 0) over anchors a, positives p, negatives q.
struct TripletArgs {
  const float* a;
  const float* p;
  const float* q;
  float* da;
  float* dp;
  float* dq;
  std::size_t n, d;
  float margin;
  Distance distance;
};

}  // namespace siamese::backend

namespace siamese::backend {

/// The losses similarity_loss computes from a matrix of similarities (pytorch-metric-learning's definitions).
enum class SimilarityLossKind : int { NTXent, SupCon, MultiSimilarity };

/// similarity_loss: a loss of queries (rows) against references (cols) from their similarities s (rows x cols,
/// row-major; cosines, for the three kinds) and class labels (whole numbers as floats). Reference j is a positive
/// of query i when their labels are equal, a negative otherwise; with self_column, reference i is query i itself
/// and neither. Returns the loss; ds (rows x cols, null at evaluation) receives dL/ds.
///   NTXent           mean over positive pairs (i, p) of -log(e^{s_ip/T} / (e^{s_ip/T} + sum_n e^{s_in/T}))
///   SupCon           mean over the queries with a positive loss of -(1/P_i) sum_p (s_ip/T - log sum_{j != i} e^{s_ij/T})
///   MultiSimilarity  mean over queries of (1/alpha) log(1 + sum_p e^{-alpha (s_ip - base)})
///                    + (1/beta) log(1 + sum_n e^{beta (s_in - base)}); with epsilon >= 0 only the pairs
///                    MultiSimilarityMiner keeps: positives with s_ip - epsilon < max_n s_in, negatives with
///                    s_in + epsilon > min_p s_ip
/// A batch without a positive and a negative pair gives 0 (MultiSimilarity: without two of either kind once mined).
struct SimilarityLossArgs {
  const float* s = nullptr;
  const float* row_labels = nullptr;
  const float* col_labels = nullptr;
  float* ds = nullptr;
  std::size_t rows = 0, cols = 0;
  bool self_column = false;
  SimilarityLossKind kind = SimilarityLossKind::NTXent;
  float temperature = 0.1f;                           // NTXent, SupCon
  float alpha = 2.0f, beta = 50.0f, base = 0.5f;      // MultiSimilarity
  float epsilon = -1.0f;                              // MultiSimilarity's miner; negative: every pair
};

}  // namespace siamese::backend

namespace siamese::backend {

/// The target-class margins class_margin_loss applies (ArcFace: additive angular; CosFace: additive cosine).
enum class ClassMarginKind : int { ArcFace, CosFace };

/// class_margin_loss: softmax cross-entropy over classes of scale * logits, from the cosines c (rows x classes,
/// row-major) of each query with each class's weight vector and the queries' class labels (whole numbers in
/// [0, classes), as floats). The logit of a query's own class y is its cosine c_y changed by the margin
/// (pytorch-metric-learning's ArcFaceLoss and CosFaceLoss), the others are their cosines:
///   ArcFace  cos(theta + margin), theta = acos(clamp(c_y, -1, 1)), while theta <= pi - margin;
///            past that, c_y - margin sin(margin) (keeps the logit decreasing in theta). margin in radians.
///   CosFace  c_y - margin
/// Returns the mean over queries of -log softmax_y; dc (rows x classes, null at evaluation) receives dL/dc.
struct ClassMarginLossArgs {
  const float* c = nullptr;
  const float* labels = nullptr;
  float* dc = nullptr;
  std::size_t rows = 0, classes = 0;
  ClassMarginKind kind = ClassMarginKind::ArcFace;
  float scale = 64.0f, margin = 0.5f;
};

}  // namespace siamese::backend
