#pragma once
// Optimizers over the model's flat parameter buffer: SGD (momentum, Nesterov), Adam and AdamW, with
// weight decay and gradient clipping. Their per-parameter state (slots) lives in the model, so a
// checkpoint holds it and any backend keeps it in its own memory.
#include <cmath>
#include <concepts>
#include <cstddef>
#include <string>
#include <vector>

namespace siamese {

/// A contiguous run of trainable parameters in the model's buffer (frozen layers lie outside them).
/// row > 0: a row-sparse run of rows `row` wide, whose rows with an all-zero gradient are not updated.
struct Segment {
  std::size_t offset, size;
  std::size_t row = 0;
};

/// Gradient clipping shared by all optimizers: by global L2 norm, then element-wise by value (0 = off).
struct Clipping {
  float clip_norm = 0.0f;
  float clip_value = 0.0f;
  template <class B>
  void apply(float* g, const std::vector<Segment>& segs) const {
    if (clip_norm > 0) {
      double ss = 0;
      for (auto s : segs) ss += B::sum_squares(g + s.offset, s.size);
      const double norm = std::sqrt(ss);
      if (norm > clip_norm)
        for (auto s : segs) B::scale(g + s.offset, float(clip_norm / norm), s.size);
    }
    if (clip_value > 0)
      for (auto s : segs) B::clip(g + s.offset, clip_value, s.size);
  }
};

/// Stochastic gradient descent; with momentum as Keras defines it, optionally Nesterov; L2 weight decay.
struct SGD : Clipping {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  static constexpr std::size_t slots = 1;
  static constexpr const char* name = "SGD";
  template <class B>
  void update(float* w, float* g, float* state, std::size_t total, const std::vector<Segment>& segs,
              std::size_t) const {
    apply<B>(g, segs);
    for (auto s : segs)
      B::sgd_step({.w = w + s.offset,
                   .g = g + s.offset,
                   .v = state + s.offset,
                   .n = s.size,
                   .row = s.row,
                   .lr = learning_rate,
                   .momentum = momentum,
                   .nesterov = nesterov,
                   .weight_decay = weight_decay});
    (void)total;
  }
};

/// Adam (Kingma & Ba 2015). weight_decay adds wd * w to the gradient (L2), as Keras' and PyTorch's Adam do.
struct Adam : Clipping {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // true: AdamW
  /// true: a row-sparse gradient (Embedding's table) updates only the rows present in the batch (as
  /// PyTorch's SparseAdam and TensorFlow's LazyAdam); false: every row, the absent ones with a zero
  /// gradient, so their moments decay and their momentum keeps moving them (as torch.optim.Adam and
  /// Keras' Adam do on an embedding table), at the cost of a pass over the whole table per step. On the
  /// text example both reach the same test ROC AUC within run-to-run noise (docs/text_similarity.md).
  bool sparse_rows = true;
  static constexpr std::size_t slots = 2;
  static constexpr const char* name = "Adam";
  template <class B>
  void update(float* w, float* g, float* state, std::size_t total, const std::vector<Segment>& segs,
              std::size_t step) const {
    apply<B>(g, segs);
    for (auto s : segs)
      B::adam_step({.w = w + s.offset,
                    .g = g + s.offset,
                    .m = state + s.offset,
                    .v = state + total + s.offset,
                    .n = s.size,
                    .row = sparse_rows ? s.row : 0,  // 0: the whole segment, a row-sparse table too
                    .lr = learning_rate,
                    .beta1 = beta1,
                    .beta2 = beta2,
                    .eps = epsilon,
                    .step = step,
                    .weight_decay = weight_decay,
                    .decoupled = decoupled});
  }
};

/// AdamW (Loshchilov & Hutter 2019): weight decay applied to the weights, decoupled from the gradient.
struct AdamW : Adam {
  AdamW() {
    weight_decay = 0.01f;
    decoupled = true;
  }
};

/// An optimizer of a model on backend B: `slots` floats of state per parameter (kept by the model, so that
/// checkpoints hold them), a `learning_rate` that schedules set, and `update<B>(w, g, slots, total, segments,
/// step)` over the trainable segments of the packed buffers.
template <class O, class B>
concept Optimizer = requires(const O o, float* p, const std::vector<Segment>& segs, std::size_t k) {
  { O::slots } -> std::convertible_to<std::size_t>;
  { o.learning_rate } -> std::convertible_to<float>;
  o.template update<B>(p, p, p, k, segs, k);
};

}  // namespace siamese
