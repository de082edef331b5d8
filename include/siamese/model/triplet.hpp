#pragma once
// Encoder-only models trained on embeddings: Triplet (anchor, positive, negative through one encoder)
// and Embedder (labelled samples, for losses that mine triplets inside the batch).
#include <string>

#include "../backend/backend.hpp"
#include "../loss/losses.hpp"
#include "../loss/online.hpp"
#include "batches.hpp"
#include "model_api.hpp"
#include "device_step.hpp"
#include "network.hpp"
#include "summary.hpp"

namespace siamese {

namespace detail {
/// Shared by Triplet and Embedder: an encoder with its parameters, run over k*n rows.
template <class Encoder, class BackendSpec>
class EncoderModel : public ModelBuffers<checked_backend<BackendSpec>> {
  static_assert(check_backend<BackendSpec>());
  using Backend = checked_backend<BackendSpec>;

 protected:
  using ModelBuffers<Backend>::store_;

 protected:
  using runner = EncoderRunner<Encoder, Backend>;

 public:
  using backend_type = Backend;
  using encoder = typename runner::encoder;
  using input_shape = typename runner::input_shape;
  using embedding_shape = typename runner::embedding_shape;
  static_assert(require_flat_embedding<embedding_shape>::value);
  static constexpr std::size_t embedding_width = embedding_shape::size;
  static constexpr std::size_t param_count = encoder::param_count;
  static constexpr std::size_t state_count = encoder::state_count;

  explicit EncoderModel(std::uint64_t seed) {
    std::vector<ParamInfo> p, s;
    collect<encoder>(p, "encoder/", 0, true, false);
    collect<encoder>(s, "encoder/", 0, true, true);
    store_.setup(std::move(p), std::move(s), param_count, state_count, seed);
  }

  /// Embeddings (n, embedding_width) of n inputs.
  Tensor embed(const Tensor& x) {
    const auto on_queue = store_.enter();
    const std::size_t n = check_input<encoder>(x, "embed", "input 'x'");
    run_.prepare(n, 0);
    Backend::to_device(run_.x, x.data(), x.size());
    run_.forward(store_, false, 0);
    Tensor out({n, embedding_width});
    Backend::to_host(out.data(), run_.emb, out.size());
    return out;
  }

 protected:
  /// Uploads the k tensors as one batch of k*n rows; `labels` (n floats) follow when given.
  std::size_t load(std::initializer_list<const Tensor*> parts, const std::vector<float>* labels, const char* where) {
    static constexpr const char* triplet_names[] = {"anchor", "positive", "negative"};
    const auto name = [&](std::size_t i) { return parts.size() == 3 ? triplet_names[i] : "input"; };
    std::size_t n = 0, i = 0;
    for (const Tensor* t : parts) {
      const std::size_t m = check_input<encoder>(*t, where, name(i));
      if (i && m != n)
        throw ShapeError(std::string(where) + ": the " + name(0) + " holds " + std::to_string(n) + " samples but the " +
                         name(i) + " " + std::to_string(m) + "; they must hold the same number");
      n = m;
      ++i;
    }
    if (labels && labels->size() != n)
      throw ShapeError(std::string(where) + ": the batch holds " + std::to_string(n) + " samples but " +
                       std::to_string(labels->size()) + " labels");
    if (labels)
      for (std::size_t s = 0; s < n; ++s) {
        const float l = (*labels)[s];
        if (!(l >= 0.0f && l < 16777216.0f && l == float(static_cast<long>(l))))
          throw ShapeError(std::string(where) + ": label " + std::to_string(l) + " of sample " + std::to_string(s) +
                           " is not a class number (a whole number in [0, 2^24))");
      }
    run_.prepare(parts.size() * n, align_floats(n));
    std::size_t off = 0;
    for (const Tensor* t : parts) {
      Backend::to_device(run_.x + off, t->data(), t->size());
      off += t->size();
    }
    if (labels) Backend::to_device(run_.extra, labels->data(), n);
    return n;
  }
  template <class Loss>
  float run_step(std::size_t n, const Loss& loss, bool training, const char* where) {
    run_.forward(store_, training, store_.step_seed());
    const float l =
        loss.template operator()<Backend>(run_.emb, run_.extra, training ? run_.demb : nullptr, n, embedding_width);
    check_loss(l, where, store_.step);
    if (!training) return l;
    run_.backward(store_);
    store_.check_gradients(where);
    return l;
  }

  runner run_;
};
}  // namespace detail

/// A triplet network: anchor, positive and negative run through one encoder (one batch of 3n rows),
/// trained with TripletLoss.
template <class Encoder, class Backend = backend::Cpu>
class Triplet : public detail::EncoderModel<Encoder, Backend> {
  using base = detail::EncoderModel<Encoder, Backend>;

 public:
  using batch_type = TripletBatch;
  explicit Triplet(std::uint64_t seed = 1) : base(seed) {}
  /// The table of layers, shapes and parameter counts, derived from the type (model/summary.hpp).
  static constexpr ModelSummary<detail::summary_size<typename base::encoder, void>()> summary_table =
      detail::make_summary<typename base::encoder, void>("Triplet", 3);
  /// summary_table as text, Keras' model.summary() layout.
  static std::string summary() { return summary_table.str(); }

  template <class Loss, class Opt>
  float train_step(const TripletBatch& b, const Loss& loss, const Opt& opt) {
    static_assert(TripletLossType<Loss, typename base::backend_type>,
                  "Triplet::train_step: the loss must be a triplet loss (TripletLoss, or a type of arity 3 on "
                  "(anchor, positive, negative) embeddings); pair losses train Siamese, mining losses Embedder");
    static_assert(Optimizer<Opt, typename base::backend_type>,
                  "Triplet::train_step: the optimizer must be SGD, Adam, AdamW or a type meeting Optimizer");
    if constexpr (TripletLossType<Loss, typename base::backend_type> && Optimizer<Opt, typename base::backend_type>) {
      if constexpr (detail::DeviceStep<typename base::backend_type, Loss, Opt>)
        if (detail::can_step_on_device(this->store_))
          return detail::device_step(this->store_, opt, "Triplet::train_step", [&] {
            const std::size_t n = this->load({&b.anchor, &b.positive, &b.negative}, nullptr, "Triplet::train_step");
            return this->run_step(n, loss, true, "Triplet::train_step");
          });
      const float l = this->store_.keeping_states_on_failure([&] {
        const std::size_t n = this->load({&b.anchor, &b.positive, &b.negative}, nullptr, "Triplet::train_step");
        return this->run_step(n, loss, true, "Triplet::train_step");
      });
      this->store_.optimize(opt);
      return l;
    } else {
      return 0.0f;
    }
  }
  template <class Loss>
  float evaluate(const TripletBatch& b, const Loss& loss) {
    const auto on_queue = this->store_.enter();
    static_assert(TripletLossType<Loss, typename base::backend_type>,
                  "Triplet::evaluate: the loss must be a triplet loss (TripletLoss, or a type of arity 3)");
    if constexpr (TripletLossType<Loss, typename base::backend_type>) {
      const std::size_t n = this->load({&b.anchor, &b.positive, &b.negative}, nullptr, "Triplet::evaluate");
      return this->run_step(n, loss, false, "Triplet::evaluate");
    } else {
      return 0.0f;
    }
  }
  static std::string signature() { return "Triplet[" + base::encoder::describe() + "]"; }
};

/// An encoder trained on labelled samples with a loss that mines pairs or triplets inside the batch
/// (BatchAll, BatchHard, SemiHard over P classes x K samples).
template <class Encoder, class Backend = backend::Cpu>
class Embedder : public detail::EncoderModel<Encoder, Backend> {
  using base = detail::EncoderModel<Encoder, Backend>;

 public:
  using batch_type = LabeledBatch;
  explicit Embedder(std::uint64_t seed = 1) : base(seed) {}
  /// The table of layers, shapes and parameter counts, derived from the type (model/summary.hpp).
  static constexpr ModelSummary<detail::summary_size<typename base::encoder, void>()> summary_table =
      detail::make_summary<typename base::encoder, void>("Embedder", 1);
  /// summary_table as text, Keras' model.summary() layout.
  static std::string summary() { return summary_table.str(); }

  template <class Loss, class Opt>
  float train_step(const LabeledBatch& b, const Loss& loss, const Opt& opt) {
    static_assert(MiningLoss<Loss, typename base::backend_type>,
                  "Embedder::train_step: the loss must be an in-batch mining loss (BatchHard, BatchAll, SemiHard, or "
                  "a type of arity 1 on labelled embeddings)");
    static_assert(Optimizer<Opt, typename base::backend_type>,
                  "Embedder::train_step: the optimizer must be SGD, Adam, AdamW or a type meeting Optimizer");
    if constexpr (MiningLoss<Loss, typename base::backend_type> && Optimizer<Opt, typename base::backend_type>) {
      const float l = this->store_.keeping_states_on_failure([&] {
        const std::size_t n = this->load({&b.x}, &b.labels, "Embedder::train_step");
        return this->run_step(n, loss, true, "Embedder::train_step");
      });
      this->store_.optimize(opt);
      return l;
    } else {
      return 0.0f;
    }
  }
  template <class Loss>
  float evaluate(const LabeledBatch& b, const Loss& loss) {
    const auto on_queue = this->store_.enter();
    static_assert(MiningLoss<Loss, typename base::backend_type>,
                  "Embedder::evaluate: the loss must be an in-batch mining loss (BatchHard, BatchAll, SemiHard)");
    if constexpr (MiningLoss<Loss, typename base::backend_type>) {
      const std::size_t n = this->load({&b.x}, &b.labels, "Embedder::evaluate");
      return this->run_step(n, loss, false, "Embedder::evaluate");
    } else {
      return 0.0f;
    }
  }
  static std::string signature() { return "Embedder[" + base::encoder::describe() + "]"; }
};

}  // namespace siamese
