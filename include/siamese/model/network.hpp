#pragma once
// The machinery every model shares: one packed buffer each for parameters, gradients, states and
// optimizer slots; a workspace sized once per batch size; the encoder run over k*n rows.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "../core/tensor_view.hpp"
#include "../optim/optimizers.hpp"
#include "init.hpp"
#include "../layers/token_ids.hpp"
#include "sequential.hpp"

namespace siamese::detail {

/// What distributed training (train/distributed.hpp) attaches to a model's store: called once per training step
/// after backward, with the step's local gradients and the states its forward pass moved (both in the backend's
/// memory), and when a training step fails on this rank, so that the other ranks learn of it instead of waiting.
/// During backward it hears, layer by layer, which gradients are final (GradientsFinal), to start reducing them.
struct StepHook : GradientsFinal {
  virtual ~StepHook() = default;
  /// Every gradient of the step is complete on this rank (`grads`: the span of the trainable ones): combine them (and
  /// the states) over the ranks. The hook checks that they are finite (Store does without a hook).
  /// Throws when another rank's step failed; the model then applies no update.
  virtual void after_backward(float* grads, std::size_t n_grads, float* states, std::size_t n_states,
                              std::size_t step) = 0;
  /// This rank's step failed before or during after_backward; must not throw.
  virtual void step_failed() noexcept = 0;
};

/// A model's own queue of work on a backend that has them (backend::Cuda: a stream per model);
/// nothing on the others. enter() returns a scope during which the model's work goes to its queue.
template <class B>
struct ModelQueue {
  struct Scope {
    ~Scope() {}  // user-provided: a scope variable is not "unused"
  };
  Scope enter() { return {}; }
};
template <class B>
  requires requires { typename B::Queue; }
struct ModelQueue<B> {
  typename B::Queue queue;
  auto enter() { return queue.enter(); }
};

/// Parameters, gradients, states and optimizer slots of a model, in backend B's memory.
template <class B>
struct Store {
  typename B::Buffer params, grads, states, slots;
  std::vector<ParamInfo> param_info, state_info;
  std::vector<Segment> segments;
  std::size_t step = 0;        // optimizer steps taken
  std::size_t slots_per_param = 0;  // slots per parameter of the optimizer that owns `slots`
  std::uint64_t seed = 0;
  typename B::Buffer states_before;  // keeping_states_on_failure's copy
  StepHook* hook = nullptr;          // distributed training; null in a single process
  std::uint64_t stream = 0;          // distributed training: the rank, so that ranks draw different dropout masks
  typename B::Buffer step_status;    // a training step on the device (model/device_step.hpp): loss, flags
  bool checks_on_device = false;     // set during such a step: the gradients are checked by the device
  ModelQueue<B> queue;               // the model's stream (backend::Cuda)

  /// While the returned scope lives, the model's work is queued on its own stream.
  [[nodiscard]] auto enter() { return queue.enter(); }

  /// The seed of the current step's random draws (dropout): a function of the model's seed, the step and the stream.
  std::uint64_t step_seed() const { return stream ? hash2(hash2(seed, step), stream) : hash2(seed, step); }

  void setup(std::vector<ParamInfo> p, std::vector<ParamInfo> s, std::size_t pc, std::size_t sc, std::uint64_t sd) {
    param_info = std::move(p);
    state_info = std::move(s);
    seed = sd;
    params.resize(pc);
    grads.resize(pc);
    states.resize(sc);
    HostBuffer host(std::max(pc, sc));
    init_all(host.data(), param_info, seed);
    if (pc) B::to_device(params.data(), host.data(), pc);
    init_all(host.data(), state_info, hash2(seed, 0x5eed));
    if (sc) B::to_device(states.data(), host.data(), sc);
    segments.clear();
    for (const auto& t : param_info) {
      if (!t.trainable || !t.size) continue;
      const bool joins = !segments.empty() && !segments.back().row && !t.sparse_row &&
                         segments.back().offset + segments.back().size == t.offset;
      if (joins) segments.back().size += t.size;
      else segments.push_back({t.offset, t.size, t.sparse_row});
    }
  }

  /// Stops on a non-finite gradient, naming the tensor and the step.
  /// Then hands the gradients to the hook, if any (distributed training averages them over the ranks).
  /// In a training step on the device (checks_on_device) the step checks them itself, without a wait.
  void check_gradients(const char* where) {
    if (checks_on_device) return;  // never with a hook: the device step serves single-process training
    if (!hook)
      for (const auto& t : param_info)
        if (t.trainable && !B::all_finite(grads.data() + t.offset, t.size))
          throw NumericError(std::string(where) + ": the gradient of '" + t.name + "' is not finite at step " +
                             std::to_string(step + 1));
    // The hook checks each bucket of the span before reducing it, some of them while backward still ran.
    if (hook && !segments.empty()) {  // the trainable span only: frozen gradients are zero on every rank
      const std::size_t lo = segments.front().offset, hi = segments.back().offset + segments.back().size;
      hook->after_backward(grads.data() + lo, hi - lo, states.data(), states.size(), step);
    }
  }

  /// Runs a training forward/backward `f`; if it throws (a NaN loss or gradient, a wrong batch), the states that
  /// its forward pass moved (BatchNorm's moving statistics) return to what they were, so a failed step changes
  /// nothing. Costs one copy of the states, which are small (per-channel statistics).
  /// With a hook, a failure is also reported to it (the other ranks then fail the step too).
  template <class F>
  auto keeping_states_on_failure(F&& f) {
    const auto on_queue = enter();
    const bool keep = states.size() != 0;
    if (keep) {
      if (states_before.size() != states.size()) states_before.resize(states.size());
      B::copy(states_before.data(), states.data(), states.size());
    }
    try {
      return f();
    } catch (...) {
      if (keep) B::copy(states.data(), states_before.data(), states.size());
      if (hook) hook->step_failed();
      throw;
    }
  }

  template <class Opt>
  void optimize(const Opt& opt) {
    const auto on_queue = enter();
    const std::size_t need = Opt::slots * params.size();
    if (slots_per_param != Opt::slots || slots.size() != need) {
      slots.resize(need);
      B::fill(slots.data(), 0.0f, need);
      slots_per_param = Opt::slots;
    }
    ++step;
    opt.template update<B>(params.data(), grads.data(), slots.data(), params.size(), segments, step);
  }
};

/// check_batch against the encoder's input shape; when the encoder starts with an Embedding, also that every
/// value is a token id in [0, vocab), on the host before anything runs (a device backend could only turn a bad id
/// into NaN). Errors name `where`, the input (`what`), the sample and the position.
template <class Encoder>
std::size_t check_input(const TensorView& t, const char* where, const char* what) {
  const std::size_t n = check_batch<typename Encoder::in_shape>(t, where, what);
  if constexpr (requires { Encoder::template layer<1>::token_vocab; }) {
    constexpr std::size_t vocab = Encoder::template layer<1>::token_vocab;
    // The name is built only for a bad batch: a training step on valid ids allocates nothing.
    if (!all_token_ids(t.data(), t.size(), vocab))
      check_token_ids(t.data(), t.size(), Encoder::in_shape::size, vocab, std::string(where) + ": " + what);
  }
  return n;
}

/// An encoder Enc (a Sequential<Input<...>, ...>) run over k groups of n rows that share parameters.
template <class Enc, class B>
struct EncoderRunner {
  using encoder = bind_model<Enc>;
  using input_shape = typename encoder::in_shape;
  using embedding_shape = typename encoder::out_shape;
  static constexpr std::size_t in_size = input_shape::size;
  static constexpr std::size_t dim = embedding_shape::size;

  typename B::Buffer work;
  std::size_t rows_ = 0;
  float *x = nullptr, *emb = nullptr, *demb = nullptr, *scratch = nullptr, *extra = nullptr;

  /// Carves the workspace for `rows` encoder rows plus `extra_floats`; allocates only when it grows.
  void prepare(std::size_t rows, std::size_t extra_floats) {
    const std::size_t a = align_floats(rows * in_size), e = align_floats(rows * dim),
                      s = align_floats(encoder::scratch(rows));
    work.reserve(a + 2 * e + s + align_floats(extra_floats));
    rows_ = rows;
    x = work.data();
    emb = x + a;
    demb = emb + e;
    scratch = demb + e;
    extra = scratch + s;
  }
  /// The input rows when they are token ids (the encoder's second layer declares a token vocabulary), else null.
  const float* tokens() const {
    if constexpr (requires { encoder::template layer<1>::token_vocab; }) return x;
    else return nullptr;
  }
  void forward(Store<B>& st, bool training, std::uint64_t seed) {
    training_ = training;
    encoder::template forward<B>(
        Forward{x, emb, rows_, st.params.data(), st.states.data(), scratch, training, seed, tokens(), in_size});
  }
  void backward(Store<B>& st) {
    encoder::template backward<B>(
        Backward{x, emb, demb, nullptr, rows_, st.params.data(), st.grads.data(), st.states.data(), scratch, tokens(),
                 in_size, training_, st.hook});
  }
  bool training_ = true;  // the mode of the last forward, which backward differentiates
};

inline void check_loss(float loss, const char* where, std::size_t step) {
  if (!std::isfinite(loss))
    throw NumericError(std::string(where) + ": the loss is " + (std::isnan(loss) ? "NaN" : "infinite") + " at step " +
                       std::to_string(step + 1));
}

}  // namespace siamese::detail
