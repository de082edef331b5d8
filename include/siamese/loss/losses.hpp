#pragma once
// Losses. A head loss works on the logits of a Siamese head; an embedding loss works on the encoder's
// embeddings directly (contrastive, triplet, online mining). Each returns the mean loss of the batch
// and writes the gradient of that mean. An embedding loss's `arity` is how many embeddings make one sample
// of it: 2 (pairs), 3 (triplets) or 1 (labelled samples mined in the batch); the models check it.
#include <concepts>
#include <cstddef>

#include "../backend/kinds.hpp"

namespace siamese {

/// Binary cross-entropy computed from the logit z (numerically stable for any z); label 1 = same.
struct BinaryCrossEntropy {
  static constexpr bool on_logits = true;
  template <class B>
  float operator()(const float* logits, const float* labels, float* dlogits, std::size_t n) const {
    return B::bce_logits({.z = logits, .t = labels, .dz = dlogits, .n = n});
  }
};

/// Contrastive loss (Hadsell, Chopra, LeCun 2006) on the Euclidean distance d of the two embeddings:
/// 0.5 * (y d^2 + (1 - y) max(0, margin - d)^2), y = 1 for a similar pair.
struct Contrastive {
  float margin = 1.0f;
  static constexpr std::size_t arity = 2;  // embeddings per sample: a pair
  /// emb: 2n rows (first the n left embeddings, then the n right ones).
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    return B::contrastive({.a = emb,
                           .b = emb + n * d,
                           .t = labels,
                           .da = demb,
                           .db = demb ? demb + n * d : nullptr,
                           .n = n,
                           .d = d,
                           .margin = margin});
  }
};

/// Triplet loss max(d(a, p) - d(a, n) + margin, 0), squared Euclidean or cosine distance.
struct TripletLoss {
  float margin = 0.2f;
  Distance distance = Distance::SquaredEuclidean;
  static constexpr std::size_t arity = 3;  // embeddings per sample: a triplet
  /// emb: 3n rows (anchors, positives, negatives).
  template <class B>
  float operator()(const float* emb, const float*, float* demb, std::size_t n, std::size_t d) const {
    return B::triplet({.a = emb,
                       .p = emb + n * d,
                       .q = emb + 2 * n * d,
                       .da = demb,
                       .dp = demb ? demb + n * d : nullptr,
                       .dq = demb ? demb + 2 * n * d : nullptr,
                       .n = n,
                       .d = d,
                       .margin = margin,
                       .distance = distance});
  }
};

/// A loss on embeddings of K-tuples (K = L::arity): `float operator()<B>(emb, labels, demb, n, d)` where emb holds
/// the n first members' rows, then the n second members', ...; demb (null at evaluation) receives the gradient of
/// the mean loss.
template <class L, class B, std::size_t K>
concept EmbeddingLoss = requires {
  { L::arity } -> std::convertible_to<std::size_t>;
} && (L::arity == K) && requires(const L l, const float* e, const float* y, float* g, std::size_t n) {
  { l.template operator()<B>(e, y, g, n, n) } -> std::convertible_to<float>;
};

/// A loss a Siamese model trains with: on the head's logits (`on_logits`, `float operator()<B>(logits, labels,
/// dlogits, n)`, as BinaryCrossEntropy) or on the pair's two embeddings (arity 2, as Contrastive).
template <class L, class B>
concept PairLoss = (requires { L::on_logits; } && requires(const L l, const float* z, const float* y, float* g,
                                                          std::size_t n) {
  { l.template operator()<B>(z, y, g, n) } -> std::convertible_to<float>;
}) || EmbeddingLoss<L, B, 2>;

/// A loss a Triplet model trains with: on (anchor, positive, negative) embeddings, arity 3, as TripletLoss.
template <class L, class B>
concept TripletLossType = EmbeddingLoss<L, B, 3>;

}  // namespace siamese
