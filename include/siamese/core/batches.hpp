#pragma once
// What a training or evaluation step consumes: pairs, triplets, or labelled samples.
#include <vector>

#include "tensor.hpp"

namespace siamese {

/// n pairs: a and b are (n, input shape...), labels[i] = 1 when a[i] and b[i] match, else 0.
struct PairBatch {
  Tensor a, b;
  std::vector<float> labels;
};

/// n triplets: anchor and positive match, anchor and negative do not.
struct TripletBatch {
  Tensor anchor, positive, negative;
};

/// n samples with class labels, for losses that mine pairs or triplets inside the batch.
struct LabeledBatch {
  Tensor x;
  std::vector<float> labels;
};

}  // namespace siamese
