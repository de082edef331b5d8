#pragma once
// In-batch mining losses for Embedder models: BatchHard, SemiHard and BatchAll over a batch of
// labelled embeddings (drawn by a P classes x K samples sampler).
#include <cmath>
#include <string>
#include <vector>

#include "losses.hpp"
#include "mining.hpp"

namespace siamese {

namespace detail {
/// Runs a host mining loss over embeddings in backend memory (copied to the host when B is a device).
template <class B, class F>
float run_mining(F&& f, const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d,
                 const char* who) {
  thread_local std::vector<float> e, y, g;
  thread_local std::vector<int> lab;
  e.resize(n * d);
  y.resize(n);
  lab.resize(n);
  B::to_host(e.data(), emb, n * d);
  B::to_host(y.data(), labels, n);
  for (std::size_t i = 0; i < n; ++i) {
    // Converting a non-finite or out-of-range float to int is undefined: refuse it first.
    if (!(std::abs(y[i]) < 2147483648.0f))
      throw NumericError(std::string("siamese::") + who + ": the label of sample " + std::to_string(i) + " is " +
                         (std::isnan(y[i]) ? "NaN" : std::isinf(y[i]) ? "infinite" : "out of the int range"));
    lab[i] = int(y[i]);
  }
  if (demb) g.resize(n * d);
  const float l = f(e.data(), lab.data(), demb ? g.data() : nullptr);
  if (demb) B::to_device(demb, g.data(), n * d);
  return l;
}
}  // namespace detail

namespace detail {
// Chosen by specialisation, not by comparing function addresses (which g++ 12 cannot do in a constant
// expression under -fsanitize=undefined).
template <auto Loss>
inline constexpr const char* mined_loss_name = "MiningLoss";
template <>
inline constexpr const char* mined_loss_name<&batch_hard_triplet_loss<float>> = "BatchHard";
template <>
inline constexpr const char* mined_loss_name<&semi_hard_triplet_loss<float>> = "SemiHard";
template <>
inline constexpr const char* mined_loss_name<&batch_all_triplet_loss<float>> = "BatchAll";
}  // namespace detail

/// An in-batch mining loss over labelled embeddings: `Loss` is one of mining.hpp's triplet losses.
template <auto Loss, Distance Default>
struct MinedTripletLoss {
  float margin = 0.2f;
  Distance distance = Default;
  static constexpr std::size_t arity = 1;  // one embedding per labelled sample; tuples are mined in the batch
  /// The loss's name in error messages.
  static constexpr const char* name = detail::mined_loss_name<Loss>;
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    return detail::run_mining<B>([&](const float* e, const int* l, float* g) {
      return Loss(e, l, n, d, margin, distance, g, nullptr);
    }, emb, labels, demb, n, d, name);
  }
};

/// Batch-hard triplet loss (Hermans et al. 2017): each anchor with its farthest positive and nearest negative.
using BatchHard = MinedTripletLoss<&batch_hard_triplet_loss<float>, Distance::Euclidean>;
/// Semi-hard triplet loss (Schroff et al. 2015, FaceNet): negatives farther than the positive but
/// within the margin.
using SemiHard = MinedTripletLoss<&semi_hard_triplet_loss<float>, Distance::SquaredEuclidean>;
/// Batch-all triplet loss: the mean over every valid triplet of the batch with a positive loss.
using BatchAll = MinedTripletLoss<&batch_all_triplet_loss<float>, Distance::SquaredEuclidean>;

/// A loss an Embedder trains with: on the embeddings of labelled samples (arity 1, labels are class numbers),
/// mining its pairs or triplets inside the batch, as BatchHard, SemiHard and BatchAll.
template <class L, class B>
concept MiningLoss = EmbeddingLoss<L, B, 1>;

}  // namespace siamese
