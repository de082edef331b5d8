#pragma once
// Siamese<Encoder, Head, Backend>: one encoder shared by both inputs of a pair, then a Head.
#include <string>
#include <type_traits>

#include "../backend/backend.hpp"
#include "../loss/losses.hpp"
#include "batches.hpp"
#include "head.hpp"
#include "model_api.hpp"
#include "device_step.hpp"
#include "network.hpp"
#include "summary.hpp"

namespace siamese {

/// A Siamese network: Encoder (a Sequential<Input<...>, ...> ending in a flat embedding) applied with
/// the same weights to both sides of each pair, a Head combining the two embeddings into one logit.
/// A batch of n pairs runs through the encoder as one batch of 2n. Trains with BinaryCrossEntropy
/// (through the head) or Contrastive (on the embeddings).
template <class Encoder, class HeadSpec = Head<SqDiff, DiffSq, Cosine>, class BackendSpec = backend::Cpu>
class Siamese : public ModelBuffers<detail::checked_backend<BackendSpec>> {
  static_assert(detail::check_backend<BackendSpec>());
  using Backend = detail::checked_backend<BackendSpec>;
  using runner = detail::EncoderRunner<Encoder, Backend>;
  using ModelBuffers<Backend>::store_;

 public:
  using backend_type = Backend;
  using encoder = typename runner::encoder;
  using input_shape = typename runner::input_shape;
  using embedding_shape = typename runner::embedding_shape;
  using batch_type = PairBatch;
  static_assert(detail::require_flat_embedding<embedding_shape>::value);
  static constexpr std::size_t embedding_width = embedding_shape::size;
  using head = typename HeadSpec::template bind<embedding_width>;
  static constexpr std::size_t encoder_params = encoder::param_count;
  static constexpr std::size_t param_count = encoder::param_count + head::param_count;
  static constexpr std::size_t state_count = encoder::state_count + head::state_count;
  /// The table of layers, shapes and parameter counts, derived from the type (model/summary.hpp).
  static constexpr ModelSummary<detail::summary_size<encoder, head>()> summary_table =
      detail::make_summary<encoder, head>("Siamese", 2);
  /// summary_table as text, Keras' model.summary() layout.
  static std::string summary() { return summary_table.str(); }

  explicit Siamese(std::uint64_t seed = 1) {
    std::vector<ParamInfo> p, s;
    detail::collect<encoder>(p, "encoder/", 0, true, false);
    detail::collect<typename head::classifier>(p, "head/", encoder_params, true, false);
    detail::collect<encoder>(s, "encoder/", 0, true, true);
    detail::collect<typename head::classifier>(s, "head/", encoder::state_count, true, true);
    store_.setup(std::move(p), std::move(s), param_count, state_count, seed);
  }

  /// Match probabilities sigmoid(logit) for n pairs; a and b are (n, input shape...): Tensors, or any ModelInput
  /// (core/tensor_view.hpp; xtensor containers and expressions with <siamese/xtensor.hpp>), read in place.
  template <class A, class B>
  Tensor predict(const A& a, const B& b) {
    const auto on_queue = store_.enter();
    const InputData da = detail::model_input(a), db = detail::model_input(b);
    const std::size_t n = load_pair(da.view(), db.view(), "Siamese::predict");
    run_forward(n, false);
    Tensor out({n});
    Backend::activation({.act = Act::Sigmoid, .x = logits_, .y = logits_, .n = n});
    Backend::to_host(out.data(), logits_, n);
    return out;
  }

  /// Match probabilities from embeddings computed earlier by embed(): the head alone, so a set
  /// embedded once can be scored in any pairing without running the encoder again.
  template <class A, class B>
  Tensor predict_embeddings(const A& a, const B& b) {
    const auto on_queue = store_.enter();
    const InputData da = detail::model_input(a), db = detail::model_input(b);
    const TensorView &ea = da.view(), &eb = db.view();
    const std::size_t n = detail::check_batch<embedding_shape>(ea, "Siamese::predict_embeddings", "embeddings 'a'");
    if (detail::check_batch<embedding_shape>(eb, "Siamese::predict_embeddings", "embeddings 'b'") != n)
      throw ShapeError("Siamese::predict_embeddings: 'a' and 'b' hold " + std::to_string(n) + " and " +
                       std::to_string(eb.dim(0)) + " embeddings; they must hold the same number");
    // The head's own workspace: scoring many pairs must not size the encoder's for 2n inputs.
    const std::size_t e = detail::align_floats(2 * n * embedding_width), l = detail::align_floats(n);
    head_work_.reserve(e + l + head::scratch(n));
    float *emb = head_work_.data(), *logits = emb + e;
    Backend::to_device(emb, ea.data(), ea.size());
    Backend::to_device(emb + ea.size(), eb.data(), eb.size());
    head::template forward<Backend>(emb, emb + n * embedding_width, logits, n, store_.params.data() + encoder_params,
                                    store_.states.data() + encoder::state_count, logits + l, false, 0);
    Tensor out({n});
    Backend::activation({.act = Act::Sigmoid, .x = logits, .y = logits, .n = n});
    Backend::to_host(out.data(), logits, n);
    return out;
  }

  /// Embeddings (n, embedding_width) of n inputs (a Tensor or any ModelInput, read in place).
  template <class X>
  Tensor embed(const X& input) {
    const auto on_queue = store_.enter();
    const InputData d = detail::model_input(input);
    const TensorView& x = d.view();
    const std::size_t n = detail::check_input<encoder>(x, "Siamese::embed", "input 'x'");
    run_.prepare(n, 0);
    Backend::to_device(run_.x, x.data(), x.size());
    run_.forward(store_, false, 0);
    Tensor out({n, embedding_width});
    Backend::to_host(out.data(), run_.emb, out.size());
    return out;
  }

  /// One optimizer step on a batch of pairs (a PairBatch, a PairBatchOf, or any PairBatchInput); returns the
  /// batch's mean loss before the step.
  template <class Batch, class Loss, class Opt>
  float train_step(const Batch& batch, const Loss& loss, const Opt& opt) {
    static_assert(PairBatchInput<Batch>,
                  "Siamese::train_step: the batch must be a PairBatch, a PairBatchOf<...>, or a type with members a "
                  "and b (model inputs: Tensors, or xtensor with <siamese/xtensor.hpp>) and labels");
    static_assert(PairLoss<Loss, Backend>,
                  "Siamese::train_step: the loss must be a pair loss: BinaryCrossEntropy (on the head's logits), "
                  "Contrastive (on the two embeddings), or a type meeting PairLoss; triplet losses train Triplet, "
                  "mining losses Embedder");
    static_assert(Optimizer<Opt, Backend>,
                  "Siamese::train_step: the optimizer must be SGD, Adam, AdamW or a type meeting Optimizer");
    if constexpr (PairBatchInput<Batch> && PairLoss<Loss, Backend> && Optimizer<Opt, Backend>) {
      const PairInputs in(batch);
      if constexpr (detail::DeviceStep<Backend, Loss, Opt>)
        if (detail::can_step_on_device(store_))
          return detail::device_step(store_, opt, "Siamese::train_step",
                                     [&] { return forward_backward(in, loss, true); });
      const float l = store_.keeping_states_on_failure([&] { return forward_backward(in, loss, true); });
      store_.optimize(opt);
      return l;
    } else {
      return 0.0f;
    }
  }

  /// The mean loss of a batch at inference (no dropout, moving statistics), without any update.
  template <class Batch, class Loss>
  float evaluate(const Batch& batch, const Loss& loss) {
    static_assert(PairBatchInput<Batch>,
                  "Siamese::evaluate: the batch must be a PairBatch, a PairBatchOf<...>, or a type with members a "
                  "and b (model inputs: Tensors, or xtensor with <siamese/xtensor.hpp>) and labels");
    const auto on_queue = store_.enter();
    static_assert(PairLoss<Loss, Backend>,
                  "Siamese::evaluate: the loss must be a pair loss (BinaryCrossEntropy, Contrastive, or a PairLoss)");
    if constexpr (PairBatchInput<Batch> && PairLoss<Loss, Backend>)
      return forward_backward(PairInputs(batch), loss, false);
    else return 0.0f;
  }

  /// "Siamese[...]": the architecture, derived from the type; weight files carry it.
  static std::string signature() {
    return "Siamese[" + encoder::describe() + "|" + head::describe() + "]";
  }

 private:
  /// A pair batch as the model reads it: views of its members (evaluated once where they are not row-major floats).
  struct PairInputs {
    InputData a, b, keep_labels{TensorView()};
    std::span<const float> labels;
    template <class Batch>
    explicit PairInputs(const Batch& batch)
        : a(detail::model_input(batch.a)),
          b(detail::model_input(batch.b)),
          labels(detail::labels_input(batch.labels, keep_labels)) {}
  };
  std::size_t load_pair(const TensorView& a, const TensorView& b, const char* where) {
    const std::size_t n = detail::check_input<encoder>(a, where, "input 'a'");
    if (detail::check_input<encoder>(b, where, "input 'b'") != n)
      throw ShapeError(std::string(where) + ": inputs 'a' and 'b' hold " + std::to_string(n) + " and " +
                       std::to_string(b.dim(0)) + " samples; a pair batch needs the same number on both sides");
    carve(n);
    Backend::to_device(run_.x, a.data(), a.size());
    Backend::to_device(run_.x + a.size(), b.data(), b.size());
    return n;
  }
  /// The workspace for n pairs: the encoder's (2n rows), then labels, logits, their gradient, the head's.
  void carve(std::size_t n) {
    run_.prepare(2 * n, 3 * detail::align_floats(n) + head::scratch(n));
    labels_ = run_.extra;
    logits_ = labels_ + detail::align_floats(n);
    dlogits_ = logits_ + detail::align_floats(n);
    head_scratch_ = dlogits_ + detail::align_floats(n);
  }
  void run_forward(std::size_t n, bool training) {
    const std::uint64_t seed = store_.step_seed();
    run_.forward(store_, training, seed);
    head::template forward<Backend>(run_.emb, run_.emb + n * embedding_width, logits_, n,
                                    store_.params.data() + encoder_params, store_.states.data() + encoder::state_count,
                                    head_scratch_, training, detail::hash2(seed, 0x4ead));
  }
  template <class Loss>
  float forward_backward(const PairInputs& batch, const Loss& loss, bool training) {
    const char* where = training ? "Siamese::train_step" : "Siamese::evaluate";
    const std::size_t n = load_pair(batch.a.view(), batch.b.view(), where);
    if (batch.labels.size() != n)
      throw ShapeError(std::string(where) + ": the batch holds " + std::to_string(n) + " pairs but " +
                       std::to_string(batch.labels.size()) + " labels");
    Backend::to_device(labels_, batch.labels.data(), n);
    float l;
    const std::uint64_t seed = store_.step_seed();
    if constexpr (requires { Loss::on_logits; }) {
      run_forward(n, training);
      l = loss.template operator()<Backend>(logits_, labels_, training ? dlogits_ : nullptr, n);
      detail::check_loss(l, where, store_.step);
      if (!training) return l;
      head::template backward<Backend>(run_.emb, run_.emb + n * embedding_width, logits_, dlogits_, run_.demb,
                                       run_.demb + n * embedding_width, n, store_.params.data() + encoder_params,
                                       store_.grads.data() + encoder_params,
                                       store_.states.data() + encoder::state_count, head_scratch_);
    } else {
      run_.forward(store_, training, seed);
      l = loss.template operator()<Backend>(run_.emb, labels_, training ? run_.demb : nullptr, n, embedding_width);
      detail::check_loss(l, where, store_.step);
      if (!training) return l;
      Backend::fill(store_.grads.data() + encoder_params, 0.0f, head::param_count);
    }
    run_.backward(store_);
    store_.check_gradients(where);
    return l;
  }

  runner run_;
  typename Backend::Buffer head_work_;  // predict_embeddings' embeddings, logits and head scratch
  float *labels_ = nullptr, *logits_ = nullptr, *dlogits_ = nullptr, *head_scratch_ = nullptr;
};

}  // namespace siamese
