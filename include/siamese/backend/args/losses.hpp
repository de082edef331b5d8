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
