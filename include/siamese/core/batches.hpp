#pragma once
// What a training or evaluation step consumes: pairs, triplets, or labelled samples.
#include <type_traits>
#include <vector>

#include "tensor.hpp"
#include "tensor_view.hpp"

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

/// The batches above over the caller's own containers: A, B, T are ModelInputs (a Tensor or TensorView; with
/// <siamese/xtensor.hpp> xtensor containers, views and expressions, or references to them), L a contiguous range of
/// floats or a ModelInput. The models read contiguous row-major float data in place and evaluate anything else once.
template <class A, class B = A, class L = std::vector<float>>
struct PairBatchOf {
  A a;
  B b;
  L labels;
};
template <class T>
struct TripletBatchOf {
  T anchor, positive, negative;
};
template <class T, class L = std::vector<float>>
struct LabeledBatchOf {
  T x;
  L labels;
};

/// What Siamese's train_step and evaluate take: members a and b (ModelInputs) and labels.
template <class Bt>
concept PairBatchInput = requires(const Bt& b) {
  requires ModelInput<std::remove_cvref_t<decltype(b.a)>>;
  requires ModelInput<std::remove_cvref_t<decltype(b.b)>>;
  b.labels;
};
/// What Triplet's train_step and evaluate take: members anchor, positive and negative (ModelInputs).
template <class Bt>
concept TripletBatchInput = requires(const Bt& b) {
  requires ModelInput<std::remove_cvref_t<decltype(b.anchor)>>;
  requires ModelInput<std::remove_cvref_t<decltype(b.positive)>>;
  requires ModelInput<std::remove_cvref_t<decltype(b.negative)>>;
};
/// What Embedder's train_step and evaluate take: members x (a ModelInput) and labels.
template <class Bt>
concept LabeledBatchInput = requires(const Bt& b) {
  requires ModelInput<std::remove_cvref_t<decltype(b.x)>>;
  b.labels;
};

}  // namespace siamese
