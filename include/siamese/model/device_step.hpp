#pragma once
// A training step with one host wait, on a backend that offers it (backend::Cuda and its emulation:
// B::ScalarSink and B::step_*). The loss kernel leaves the loss in device memory; one reduction over
// the trainable gradients and the loss counts non-finite values; one fused kernel clips and updates
// every trainable segment unless that count is non-zero, and the moving statistics return to their
// values before the step if it is. The host then reads loss and count once: the step's only wait.
// A failed step throws the same NumericError as the step with host checks (naming the loss, or the
// tensor whose gradient is not finite, which it then looks up with per-tensor checks).
#include <concepts>
#include <string>

#include "../core/errors.hpp"
#include "../loss/losses.hpp"
#include "../optim/optimizers.hpp"
#include "network.hpp"

namespace siamese::detail {

/// Backend B runs a whole training step of loss L and optimizer O on the device: the library's own
/// losses with one mean (BCE, contrastive, triplet) and optimizers (SGD, Adam, AdamW). Other losses
/// and optimizers, whose arithmetic the device step cannot see, take the step with host checks.
template <class B, class L, class O>
concept DeviceStep = requires { typename B::ScalarSink; } &&
                     (std::same_as<L, BinaryCrossEntropy> || std::same_as<L, Contrastive> ||
                      std::same_as<L, TripletLoss>) &&
                     (std::same_as<O, SGD> || std::same_as<O, Adam> || std::same_as<O, AdamW>);

/// Whether this store's step can run on the device: no distributed hook (it needs the gradients each
/// step) and few enough trainable segments for the fused kernel's argument.
template <class B>
bool can_step_on_device(const Store<B>& st) {
  return st.hook == nullptr && st.segments.size() <= B::step_segment_capacity;
}

/// One training step: forward_backward() runs the forward pass, the loss (into the device status
/// block) and the backward pass; returns the loss.
template <class B, class Opt, class F>
float device_step(Store<B>& st, const Opt& opt, const char* where, F&& forward_backward) {
  const auto on_queue = st.enter();
  if (st.step_status.size() != 3) st.step_status.resize(3);
  float* status = st.step_status.data();
  const bool keep = st.states.size() != 0;
  if (keep) {
    if (st.states_before.size() != st.states.size()) st.states_before.resize(st.states.size());
    B::copy(st.states_before.data(), st.states.data(), st.states.size());
  }
  try {  // errors found on the host (a wrong batch): nothing was updated, the states return
    const typename B::ScalarSink sink(status);
    st.checks_on_device = true;
    forward_backward();
    st.checks_on_device = false;
  } catch (...) {
    st.checks_on_device = false;
    if (keep) B::copy(st.states.data(), st.states_before.data(), st.states.size());
    throw;
  }
  B::step_check(st.grads.data(), st.segments, status, opt.clip_norm);
  const std::size_t need = Opt::slots * st.params.size();
  if (st.slots_per_param != Opt::slots || st.slots.size() != need) {
    st.slots.resize(need);
    B::fill(st.slots.data(), 0.0f, need);
    st.slots_per_param = Opt::slots;
  }
  ++st.step;
  float* const w = st.params.data();
  float* const g = st.grads.data();
  float* const slots = st.slots.data();
  if constexpr (std::same_as<Opt, SGD>) {
    B::step_sgd({.w = w,
                 .g = g,
                 .v = slots,
                 .n = st.params.size(),
                 .lr = opt.learning_rate,
                 .momentum = opt.momentum,
                 .nesterov = opt.nesterov,
                 .weight_decay = opt.weight_decay},
                st.segments, status, opt.clip_value);
  } else {
    B::step_adam({.w = w,
                  .g = g,
                  .m = slots,
                  .v = slots + st.params.size(),
                  .n = st.params.size(),
                  .lr = opt.learning_rate,
                  .beta1 = opt.beta1,
                  .beta2 = opt.beta2,
                  .eps = opt.epsilon,
                  .step = st.step,
                  .weight_decay = opt.weight_decay,
                  .decoupled = opt.decoupled},
                 st.segments, opt.sparse_rows, status, opt.clip_value);
  }
  if (keep) B::step_restore(status, st.states.data(), st.states_before.data(), st.states.size());
  float h[3];
  B::step_status(status, h);  // the step's one wait
  if (h[1] != 0.0f) {         // nothing was updated on the device
    --st.step;
    check_loss(h[0], where, st.step);
    st.check_gradients(where);  // names the tensor
    throw NumericError(std::string(where) + ": a gradient is not finite at step " + std::to_string(st.step + 1));
  }
  return h[0];
}

}  // namespace siamese::detail
