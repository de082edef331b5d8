#pragma once
// Classification losses with a margin for Embedder models, as pytorch-metric-learning defines them: ArcFace
// (additive angular margin, Deng et al. 2019) and CosFace (additive cosine margin, Wang et al. 2018). Each has a
// trainable class-weight matrix (classes x embedding width) that the model holds as its loss-parameter block
// (ClassWeights<N>): counted among its parameters, updated by the optimizer, saved with the weights and in
// checkpoints. Every step runs on the backend: L2 normalisation of embeddings and class weights, one product for
// the cosines, the class_margin_loss kernel, two products and the normalisations' backward passes for the
// gradients. The workspaces are per thread and per backend, and grow only: after the first step at a batch size, a
// step allocates nothing.
#include <concepts>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../backend/args/losses.hpp"
#include "../core/buffer.hpp"
#include "../core/errors.hpp"

namespace siamese {

/// The loss-parameter block of an Embedder trained with ArcFace or CosFace: a Classes x embedding-width matrix
/// whose row c is class c's weight vector, trainable, started N(0, 1) as pytorch-metric-learning's
/// (torch.nn.init.normal_), saved as the parameter "loss/class_weights". Labels must be class numbers below Classes.
template <std::size_t Classes>
struct ClassWeights {
  static_assert(Classes >= 2, "ClassWeights<Classes>: a softmax over classes needs at least 2 classes");
  static constexpr std::size_t classes = Classes;
};

/// An Embedder without loss parameters (the default).
struct NoLossParameters {
  static constexpr std::size_t classes = 0;
};

/// The class-weight matrix a loss reads (classes x d, in the backend's memory) and where its gradient goes
/// (null at evaluation).
struct ClassWeightsRef {
  const float* w = nullptr;
  float* dw = nullptr;
  std::size_t classes = 0;
};

namespace detail {

/// The backend buffers of a class-margin loss: normalised embeddings and class weights, their norms, the cosines,
/// their gradient, and the normalised rows' gradients.
template <class B>
struct ClassMarginWorkspace {
  typename B::Buffer y, ynorm, wn, wnorm, c, dc, dy, dwn;
  static void fit(typename B::Buffer& b, std::size_t n) {
    if (b.size() < n) b.resize(n);
  }
  static ClassMarginWorkspace& get() {
    thread_local ClassMarginWorkspace w;
    return w;
  }
};

/// Labels as class numbers below `classes`, checked where they can be read (host memory): a device backend's
/// model checks them on the host before uploading them.
inline void check_class_labels(const float* labels, std::size_t n, std::size_t classes, const char* who) {
  for (std::size_t i = 0; i < n; ++i) {
    const float l = labels[i];
    if (!(l >= 0.0f && l < float(classes) && l == float(static_cast<long>(l))))
      throw ShapeError(std::string("siamese::") + who + ": label " + std::to_string(l) + " of sample " +
                       std::to_string(i) + " is not a class of the loss's " + std::to_string(classes) +
                       " class weights (a whole number in [0, " + std::to_string(classes) + "))");
  }
}

template <class B>
float class_margin_loss_on_batch(backend::ClassMarginLossArgs proto, const float* emb, const float* labels,
                                 float* demb, std::size_t n, std::size_t d, ClassWeightsRef cw, const char* who) {
  if (!cw.w || cw.classes < 2)
    throw std::invalid_argument(std::string("siamese::") + who + ": needs a class-weight matrix of at least 2 classes");
  if (demb && !cw.dw)
    throw std::invalid_argument(std::string("siamese::") + who +
                                ": a gradient of the embeddings needs one of the class weights too");
  if constexpr (std::is_same_v<typename B::Buffer, HostBuffer>) check_class_labels(labels, n, cw.classes, who);
  if (!B::all_finite(emb, n * d))
    throw NumericError(std::string("siamese::") + who + ": the batch's embeddings (" + std::to_string(n) + " x " +
                       std::to_string(d) + ") hold a NaN or infinite value");
  const std::size_t k = cw.classes;
  auto& w = ClassMarginWorkspace<B>::get();
  w.fit(w.y, n * d);
  w.fit(w.ynorm, n);
  w.fit(w.wn, k * d);
  w.fit(w.wnorm, k);
  w.fit(w.c, n * k);
  if (demb) w.fit(w.dc, n * k), w.fit(w.dy, n * d), w.fit(w.dwn, k * d);
  constexpr float eps = 1e-12f;  // torch.nn.functional.normalize's, as pytorch-metric-learning's CosineSimilarity
  B::l2_normalize_forward({.x = emb, .y = w.y.data(), .norm = w.ynorm.data(), .rows = n, .cols = d, .eps = eps});
  B::l2_normalize_forward({.x = cw.w, .y = w.wn.data(), .norm = w.wnorm.data(), .rows = k, .cols = d, .eps = eps});
  B::gemm({.trans_b = true, .m = n, .n = k, .k = d, .a = w.y.data(), .lda = d, .b = w.wn.data(), .ldb = d,
           .c = w.c.data(), .ldc = k});
  proto.c = w.c.data();
  proto.labels = labels;
  proto.dc = demb ? w.dc.data() : nullptr;
  proto.rows = n;
  proto.classes = k;
  const float l = B::class_margin_loss(proto);
  if (demb) {
    // c = Y Wn^T, so dY = G Wn and dWn = G^T Y.
    B::gemm({.m = n, .n = d, .k = k, .a = w.dc.data(), .lda = k, .b = w.wn.data(), .ldb = d, .c = w.dy.data(),
             .ldc = d});
    B::gemm({.trans_a = true, .m = k, .n = d, .k = n, .a = w.dc.data(), .lda = k, .b = w.y.data(), .ldb = d,
             .c = w.dwn.data(), .ldc = d});
    B::l2_normalize_backward({.y = w.y.data(), .dy = w.dy.data(), .norm = w.ynorm.data(), .dx = demb, .rows = n,
                              .cols = d, .eps = eps});
    B::l2_normalize_backward({.y = w.wn.data(), .dy = w.dwn.data(), .norm = w.wnorm.data(), .dx = cw.dw, .rows = k,
                              .cols = d, .eps = eps});
  }
  return l;
}

inline void check_scale_margin(float scale, float margin, const char* who, float margin_max) {
  if (!(scale > 0.0f) || !(scale < 3.0e38f))
    throw std::invalid_argument(std::string("siamese::") + who + ": the scale must be positive and finite, got " +
                                std::to_string(scale));
  if (!(margin >= 0.0f) || !(margin < margin_max))
    throw std::invalid_argument(std::string("siamese::") + who + ": the margin must be in [0, " +
                                std::to_string(margin_max) + "), got " + std::to_string(margin));
}

}  // namespace detail

/// ArcFace (Deng et al. 2019; pytorch-metric-learning's ArcFaceLoss): softmax cross-entropy over the classes of
/// scale * cos(theta_c), theta_c the angle between a sample's embedding and class c's weight vector, with the own
/// class's logit scale * cos(theta_y + margin) (scale * (cos theta_y - margin sin margin) once theta_y > pi -
/// margin); averaged over the batch. `margin` is in radians (pytorch-metric-learning takes degrees: its default
/// 28.6 degrees is 0.4992 radians). Trains an Embedder<Encoder, Backend, ClassWeights<N>>, which holds the weights.
struct ArcFace {
  float scale = 64.0f;
  float margin = 0.5f;  // radians
  static constexpr std::size_t arity = 1;
  static constexpr bool in_batch = false;  // per sample: a shard's loss needs no other shard's embeddings
  static constexpr bool class_weights = true;
  static constexpr const char* name = "ArcFace";
  backend::ClassMarginLossArgs margin_args() const {
    detail::check_scale_margin(scale, margin, name, 3.14159265f);
    return {.kind = backend::ClassMarginKind::ArcFace, .scale = scale, .margin = margin};
  }
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d,
                   ClassWeightsRef w) const {
    return detail::class_margin_loss_on_batch<B>(margin_args(), emb, labels, demb, n, d, w, name);
  }
};

/// CosFace (Wang et al. 2018, large-margin cosine loss; pytorch-metric-learning's CosFaceLoss): softmax
/// cross-entropy over the classes of scale * cos(theta_c), with the own class's logit scale * (cos theta_y -
/// margin); averaged over the batch. `margin` is on the cosine (no unit). Trains an Embedder<Encoder, Backend,
/// ClassWeights<N>>, which holds the weights.
struct CosFace {
  float scale = 64.0f;
  float margin = 0.35f;
  static constexpr std::size_t arity = 1;
  static constexpr bool in_batch = false;
  static constexpr bool class_weights = true;
  static constexpr const char* name = "CosFace";
  backend::ClassMarginLossArgs margin_args() const {
    detail::check_scale_margin(scale, margin, name, 2.0f);
    return {.kind = backend::ClassMarginKind::CosFace, .scale = scale, .margin = margin};
  }
  template <class B>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d,
                   ClassWeightsRef w) const {
    return detail::class_margin_loss_on_batch<B>(margin_args(), emb, labels, demb, n, d, w, name);
  }
};

/// A loss an Embedder trains with whose parameters the model holds as its ClassWeights block: arity 1, called with
/// the labelled embeddings and the class weights (ArcFace, CosFace).
template <class L, class B>
concept ClassWeightLoss = requires { L::arity; L::class_weights; } && (L::arity == 1) && bool(L::class_weights) &&
    requires(const L l, const float* e, const float* y, float* g, std::size_t n, ClassWeightsRef w) {
      { l.template operator()<B>(e, y, g, n, n, w) } -> std::convertible_to<float>;
    };

}  // namespace siamese
