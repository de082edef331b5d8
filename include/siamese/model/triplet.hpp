#pragma once
// Encoder-only models trained on embeddings: Triplet (anchor, positive, negative through one encoder)
// and Embedder (labelled samples, for losses that mine triplets inside the batch).
#include <string>

#include "../backend/backend.hpp"
#include "../loss/class_margin.hpp"
#include "../loss/losses.hpp"
#include "../loss/online.hpp"
#include "batches.hpp"
#include "model_api.hpp"
#include "device_step.hpp"
#include "network.hpp"
#include "summary.hpp"

namespace siamese {

namespace detail {
/// Shared by Triplet and Embedder: an encoder with its parameters, run over k*n rows, and the parameters of the
/// loss (LossParams: NoLossParameters, or ClassWeights<N> for ArcFace and CosFace) packed after the encoder's.
template <class Encoder, class BackendSpec, class LossParams = NoLossParameters>
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
  /// Classes of the loss's class weights (0: none), and the floats they take after the encoder's parameters.
  static constexpr std::size_t loss_classes = LossParams::classes;
  static constexpr std::size_t loss_param_count = loss_classes * embedding_width;
  static constexpr std::size_t param_count = encoder::param_count + loss_param_count;
  static constexpr std::size_t state_count = encoder::state_count;

  explicit EncoderModel(std::uint64_t seed) {
    std::vector<ParamInfo> p, s;
    collect<encoder>(p, "encoder/", 0, true, false);
    if constexpr (loss_classes > 0)
      p.push_back({"loss/class_weights", {loss_classes, embedding_width}, encoder::param_count, loss_param_count,
                   Init::Normal, embedding_width, loss_classes, true});
    collect<encoder>(s, "encoder/", 0, true, true);
    store_.setup(std::move(p), std::move(s), param_count, state_count, seed);
  }

  /// Embeddings (n, embedding_width) of n inputs (a Tensor or any ModelInput, read in place).
  template <class X>
  Tensor embed(const X& input) {
    const auto on_queue = store_.enter();
    const InputData d = model_input(input);
    const TensorView& x = d.view();
    const std::size_t n = check_input<encoder>(x, "embed", "input 'x'");
    run_.prepare(n, 0);
    Backend::to_device(run_.x, x.data(), x.size());
    run_.forward(store_, false, 0);
    Tensor out({n, embedding_width});
    Backend::to_host(out.data(), run_.emb, out.size());
    return out;
  }

 protected:
  /// Uploads the k inputs as one batch of k*n rows; `labels` (n floats) follow when given.
  std::size_t load(std::initializer_list<const TensorView*> parts, const std::span<const float>* labels,
                   const char* where) {
    static constexpr const char* triplet_names[] = {"anchor", "positive", "negative"};
    const auto name = [&](std::size_t i) { return parts.size() == 3 ? triplet_names[i] : "input"; };
    std::size_t n = 0, i = 0;
    for (const TensorView* t : parts) {
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
    for (const TensorView* t : parts) {
      Backend::to_device(run_.x + off, t->data(), t->size());
      off += t->size();
    }
    if (labels) Backend::to_device(run_.extra, labels->data(), n);
    return n;
  }
  template <class Loss>
  float run_step(std::size_t n, const Loss& loss, bool training, const char* where) {
    run_.forward(store_, training, store_.step_seed());
    float l;
    if constexpr (ClassWeightLoss<Loss, Backend>) {
      const std::size_t off = encoder::param_count;
      l = loss.template operator()<Backend>(run_.emb, run_.extra, training ? run_.demb : nullptr, n, embedding_width,
                                            ClassWeightsRef{store_.params.data() + off,
                                                            training ? store_.grads.data() + off : nullptr,
                                                            loss_classes});
    } else {
      l = loss.template operator()<Backend>(run_.emb, run_.extra, training ? run_.demb : nullptr, n, embedding_width);
    }
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

  /// One optimizer step on a TripletBatch, a TripletBatchOf or any TripletBatchInput; returns the mean loss.
  template <class Batch, class Loss, class Opt>
  float train_step(const Batch& b, const Loss& loss, const Opt& opt) {
    static_assert(TripletBatchInput<Batch>,
                  "Triplet::train_step: the batch must be a TripletBatch, a TripletBatchOf<...>, or a type with "
                  "members anchor, positive and negative (model inputs: Tensors, or xtensor with "
                  "<siamese/xtensor.hpp>)");
    static_assert(TripletLossType<Loss, typename base::backend_type>,
                  "Triplet::train_step: the loss must be a triplet loss (TripletLoss, or a type of arity 3 on "
                  "(anchor, positive, negative) embeddings); pair losses train Siamese, mining losses Embedder");
    static_assert(Optimizer<Opt, typename base::backend_type>,
                  "Triplet::train_step: the optimizer must be SGD, Adam, AdamW or a type meeting Optimizer");
    if constexpr (TripletBatchInput<Batch> && TripletLossType<Loss, typename base::backend_type> &&
                  Optimizer<Opt, typename base::backend_type>) {
      const Inputs in(b);
      if constexpr (detail::DeviceStep<typename base::backend_type, Loss, Opt>)
        if (detail::can_step_on_device(this->store_))
          return detail::device_step(this->store_, opt, "Triplet::train_step", [&] {
            const std::size_t n = this->load({&in.a.view(), &in.p.view(), &in.n.view()}, nullptr, "Triplet::train_step");
            return this->run_step(n, loss, true, "Triplet::train_step");
          });
      const float l = this->store_.keeping_states_on_failure([&] {
        const std::size_t n = this->load({&in.a.view(), &in.p.view(), &in.n.view()}, nullptr, "Triplet::train_step");
        return this->run_step(n, loss, true, "Triplet::train_step");
      });
      this->store_.optimize(opt);
      return l;
    } else {
      return 0.0f;
    }
  }
  template <class Batch, class Loss>
  float evaluate(const Batch& b, const Loss& loss) {
    static_assert(TripletBatchInput<Batch>,
                  "Triplet::evaluate: the batch must be a TripletBatch, a TripletBatchOf<...>, or a type with members "
                  "anchor, positive and negative (model inputs)");
    const auto on_queue = this->store_.enter();
    static_assert(TripletLossType<Loss, typename base::backend_type>,
                  "Triplet::evaluate: the loss must be a triplet loss (TripletLoss, or a type of arity 3)");
    if constexpr (TripletBatchInput<Batch> && TripletLossType<Loss, typename base::backend_type>) {
      const Inputs in(b);
      const std::size_t n = this->load({&in.a.view(), &in.p.view(), &in.n.view()}, nullptr, "Triplet::evaluate");
      return this->run_step(n, loss, false, "Triplet::evaluate");
    } else {
      return 0.0f;
    }
  }
  static std::string signature() { return "Triplet[" + base::encoder::describe() + "]"; }

 private:
  /// A triplet batch as the model reads it: views of its members (evaluated once where not row-major floats).
  struct Inputs {
    InputData a, p, n;
    template <class Batch>
    explicit Inputs(const Batch& b)
        : a(detail::model_input(b.anchor)), p(detail::model_input(b.positive)), n(detail::model_input(b.negative)) {}
  };
};

/// An encoder trained on labelled samples with a loss that mines pairs or triplets inside the batch
/// (BatchAll, BatchHard, SemiHard over P classes x K samples; NTXent, SupCon, MultiSimilarity), or with a loss that
/// has parameters of its own: ArcFace and CosFace train a class-weight matrix, which the model holds when
/// LossParams is ClassWeights<N> (N classes, labels in [0, N)): Embedder<Encoder, Backend, ClassWeights<N>>. Those
/// weights are parameters of the model ("loss/class_weights", after the encoder's): the optimizer updates them, and
/// weight files and checkpoints keep them.
template <class Encoder, class Backend = backend::Cpu, class LossParams = NoLossParameters>
class Embedder : public detail::EncoderModel<Encoder, Backend, LossParams> {
  using base = detail::EncoderModel<Encoder, Backend, LossParams>;
  template <class Loss>
  static constexpr bool usable = MiningLoss<Loss, typename base::backend_type> ||
                                 (ClassWeightLoss<Loss, typename base::backend_type> && base::loss_classes > 0);
  template <class Loss>
  static constexpr bool needs_weights_it_lacks =
      ClassWeightLoss<Loss, typename base::backend_type> && base::loss_classes == 0;
  template <class Loss>
  static void check_labels(std::span<const float> labels, const char* where) {
    if constexpr (ClassWeightLoss<Loss, typename base::backend_type>)
      detail::check_class_labels(labels.data(), labels.size(), base::loss_classes, where);
  }

 public:
  using batch_type = LabeledBatch;
  explicit Embedder(std::uint64_t seed = 1) : base(seed) {}
  /// The table of layers, shapes and parameter counts, derived from the type (model/summary.hpp).
  /// With ClassWeights<N>, a last row "loss/0 (ClassWeights)": N x embedding width trainable parameters, N logits.
  static constexpr auto summary_table = [] {
    constexpr std::size_t rows = detail::summary_size<typename base::encoder, void>();
    constexpr auto enc = detail::make_summary<typename base::encoder, void>("Embedder", 1);
    if constexpr (base::loss_classes == 0) {
      return enc;
    } else {
      ModelSummary<rows + 1> s{};
      s.model = enc.model;
      s.inputs_per_sample = enc.inputs_per_sample;
      for (std::size_t i = 0; i < rows; ++i) s.rows[i] = enc.rows[i];
      SummaryRow& r = s.rows[rows];
      detail::put(r.type, "ClassWeights");
      r.shape[0] = base::loss_classes;
      r.rank = 1;
      r.trainable = base::loss_param_count;
      r.activations = base::loss_classes;
      r.part = 'l';
      s.trainable = enc.trainable + base::loss_param_count;
      s.non_trainable = enc.non_trainable;
      s.encoder_activations = enc.encoder_activations;
      s.head_activations = enc.head_activations;
      return s;
    }
  }();
  /// summary_table as text, Keras' model.summary() layout.
  static std::string summary() { return summary_table.str(); }

  /// One optimizer step on a LabeledBatch, a LabeledBatchOf or any LabeledBatchInput; returns the mean loss.
  template <class Batch, class Loss, class Opt>
  float train_step(const Batch& b, const Loss& loss, const Opt& opt) {
    static_assert(LabeledBatchInput<Batch>,
                  "Embedder::train_step: the batch must be a LabeledBatch, a LabeledBatchOf<...>, or a type with "
                  "members x (model inputs: Tensors, or xtensor with <siamese/xtensor.hpp>) and labels");
    static_assert(!needs_weights_it_lacks<Loss>,
                  "Embedder::train_step: ArcFace and CosFace train class weights, which the model holds: declare it "
                  "Embedder<Encoder, Backend, ClassWeights<number of classes>>");
    static_assert(usable<Loss> || needs_weights_it_lacks<Loss>,
                  "Embedder::train_step: the loss must be an in-batch mining loss (BatchHard, BatchAll, SemiHard, or "
                  "a type of arity 1 on labelled embeddings), or ArcFace or CosFace");
    static_assert(Optimizer<Opt, typename base::backend_type>,
                  "Embedder::train_step: the optimizer must be SGD, Adam, AdamW or a type meeting Optimizer");
    if constexpr (LabeledBatchInput<Batch> && usable<Loss> && Optimizer<Opt, typename base::backend_type>) {
      const Inputs in(b);
      check_labels<Loss>(in.labels, "Embedder::train_step");
      const float l = this->store_.keeping_states_on_failure([&] {
        const std::size_t n = this->load({&in.x.view()}, &in.labels, "Embedder::train_step");
        return this->run_step(n, loss, true, "Embedder::train_step");
      });
      this->store_.optimize(opt);
      return l;
    } else {
      return 0.0f;
    }
  }
  template <class Batch, class Loss>
  float evaluate(const Batch& b, const Loss& loss) {
    const auto on_queue = this->store_.enter();
    static_assert(LabeledBatchInput<Batch>,
                  "Embedder::evaluate: the batch must be a LabeledBatch, a LabeledBatchOf<...>, or a type with members "
                  "x (model inputs) and labels");
    static_assert(!needs_weights_it_lacks<Loss>,
                  "Embedder::evaluate: ArcFace and CosFace need class weights, which the model holds: declare it "
                  "Embedder<Encoder, Backend, ClassWeights<number of classes>>");
    static_assert(usable<Loss> || needs_weights_it_lacks<Loss>,
                  "Embedder::evaluate: the loss must be an in-batch mining loss (BatchHard, BatchAll, SemiHard), or "
                  "ArcFace or CosFace");
    if constexpr (LabeledBatchInput<Batch> && usable<Loss>) {
      const Inputs in(b);
      check_labels<Loss>(in.labels, "Embedder::evaluate");
      const std::size_t n = this->load({&in.x.view()}, &in.labels, "Embedder::evaluate");
      return this->run_step(n, loss, false, "Embedder::evaluate");
    } else {
      return 0.0f;
    }
  }
  static std::string signature() { return "Embedder[" + base::encoder::describe() + "]"; }

 private:
  /// A labelled batch as the model reads it: a view of x (evaluated once where not row-major floats), the labels.
  struct Inputs {
    InputData x, keep_labels{TensorView()};
    std::span<const float> labels;
    template <class Batch>
    explicit Inputs(const Batch& b)
        : x(detail::model_input(b.x)), labels(detail::labels_input(b.labels, keep_labels)) {}
  };
};

}  // namespace siamese
