#pragma once
// The kernel interface every backend honours, checked at compile time. kernel_table<B>() lists every
// kernel of backend::Reference (a new kernel gets one line here) and tells, for backend B, whether B's
// kernel has Reference's signature and whether B merely inherits Reference's. honours_contract<B>()
// then requires, with worded errors:
//   - every kernel with Reference's signature (its args struct);
//   - B::reference_fallbacks to name exactly the kernels B inherits from Reference, so that the list a
//     reader sees cannot drift from the code;
//   - each fusion of B::fusions (backend/fusions.hpp) declared exactly when B has that fused kernel,
//     with its args struct: layers branch on the declaration, so a kernel whose signature drifted does
//     not compile rather than silently switching the fusion off.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "args.hpp"
#include "fusions.hpp"
#include "pair_feature.hpp"
#include "reference/reference.hpp"

namespace siamese::backend {

namespace detail_contract {
/// The feature the table instantiates pair_feature_forward / _backward with (any feature would do).
struct Probe : ElementwiseFeature {
  static constexpr const char* name = "Probe";
  template <class V>
  static constexpr V forward(V p, V q) {
    return p * q;
  }
  template <class V>
  static constexpr PairGrad<V> backward(V p, V q, V g) {
    return {q * g, p * g};
  }
};

struct Entry {
  std::string_view name;
  bool same_signature;  // B's kernel has Reference's type
  bool inherited;       // B's kernel is Reference's own
};
template <class PB, class PR>
constexpr Entry entry(std::string_view name, PB b, PR r) {
  if constexpr (std::is_same_v<PB, PR>) return {name, true, b == r};
  else return {name, false, false};
}
}  // namespace detail_contract

/// Every kernel of the interface, for backend B.
template <class B>
constexpr auto kernel_table() {
  using R = Reference;
  using P = detail_contract::Probe;
  using detail_contract::entry;
  return std::array{
      // memory and element-wise
      entry("to_device", &B::to_device, &R::to_device),
      entry("to_host", &B::to_host, &R::to_host),
      entry("copy", &B::copy, &R::copy),
      entry("fill", &B::fill, &R::fill),
      entry("add", &B::add, &R::add),
      entry("mul", &B::mul, &R::mul),
      entry("scale", &B::scale, &R::scale),
      entry("clip", &B::clip, &R::clip),
      entry("sum_squares", &B::sum_squares, &R::sum_squares),
      entry("all_finite", &B::all_finite, &R::all_finite),
      entry("copy_cols", &B::copy_cols, &R::copy_cols),
      entry("activation", &B::activation, &R::activation),
      entry("activation_backward", &B::activation_backward, &R::activation_backward),
      entry("dropout_forward", &B::dropout_forward, &R::dropout_forward),
      // dense algebra
      entry("gemm", &B::gemm, &R::gemm),
      entry("add_bias", &B::add_bias, &R::add_bias),
      entry("bias_grad", &B::bias_grad, &R::bias_grad),
      // convolution and pooling
      entry("conv2d_forward", &B::conv2d_forward, &R::conv2d_forward),
      entry("conv2d_backward", &B::conv2d_backward, &R::conv2d_backward),
      entry("pool2d_forward", &B::pool2d_forward, &R::pool2d_forward),
      entry("pool2d_backward", &B::pool2d_backward, &R::pool2d_backward),
      entry("global_pool_forward", &B::global_pool_forward, &R::global_pool_forward),
      entry("global_pool_backward", &B::global_pool_backward, &R::global_pool_backward),
      // normalisation
      entry("batchnorm_forward", &B::batchnorm_forward, &R::batchnorm_forward),
      entry("batchnorm_backward", &B::batchnorm_backward, &R::batchnorm_backward),
      // pair features and losses
      entry("pair_feature_forward", &B::template pair_feature_forward<P>, &R::template pair_feature_forward<P>),
      entry("pair_feature_backward", &B::template pair_feature_backward<P>, &R::template pair_feature_backward<P>),
      entry("bce_logits", &B::bce_logits, &R::bce_logits),
      entry("contrastive", &B::contrastive, &R::contrastive),
      entry("triplet", &B::triplet, &R::triplet),
      // optimizers
      entry("sgd_step", &B::sgd_step, &R::sgd_step),
      entry("adam_step", &B::adam_step, &R::adam_step),
      // sequences
      entry("embedding_forward", &B::embedding_forward, &R::embedding_forward),
      entry("embedding_backward", &B::embedding_backward, &R::embedding_backward),
      entry("row_mask", &B::row_mask, &R::row_mask),
      entry("scale_rows", &B::scale_rows, &R::scale_rows),
      entry("shift_time", &B::shift_time, &R::shift_time),
      entry("lstm_step_forward", &B::lstm_step_forward, &R::lstm_step_forward),
      entry("lstm_step_backward", &B::lstm_step_backward, &R::lstm_step_backward),
      entry("gru_step_forward", &B::gru_step_forward, &R::gru_step_forward),
      entry("gru_step_backward", &B::gru_step_backward, &R::gru_step_backward),
      entry("masked_time_pool_forward", &B::masked_time_pool_forward, &R::masked_time_pool_forward),
      entry("masked_time_pool_backward", &B::masked_time_pool_backward, &R::masked_time_pool_backward),
  };
}

namespace detail {
/// True when every kernel of B has Reference's signature.
template <class B>
constexpr bool signatures_match() {
  const auto t = kernel_table<B>();
  return std::all_of(t.begin(), t.end(), [](const auto& e) { return e.same_signature; });
}
/// True when B::reference_fallbacks names exactly the kernels that B inherits from Reference.
template <class B>
constexpr bool fallbacks_exact() {
  const auto t = kernel_table<B>();
  const auto& listed = B::reference_fallbacks;
  for (const auto& e : t)
    if (e.inherited != (std::find(listed.begin(), listed.end(), e.name) != listed.end())) return false;
  for (std::string_view n : listed)
    if (std::none_of(t.begin(), t.end(), [n](const auto& e) { return e.name == n; })) return false;
  return true;
}
/// The names of the kernels B inherits from Reference (what reference_fallbacks must say).
template <class B>
constexpr std::size_t inherited_count() {
  const auto t = kernel_table<B>();
  return std::size_t(std::count_if(t.begin(), t.end(), [](const auto& e) { return e.inherited; }));
}
template <class B>
constexpr auto inherited_kernels() {
  const auto t = kernel_table<B>();
  std::array<std::string_view, inherited_count<B>()> out{};
  std::size_t i = 0;
  for (const auto& e : t)
    if (e.inherited) out[i++] = e.name;
  return out;
}
/// True when each fusion B declares is a kernel of B with its args struct, and B has no fused kernel
/// it does not declare.
template <class B>
constexpr bool fusions_declared_truly() {
  constexpr bool fwd = requires { &B::conv2d_forward_act; }, bwd = requires { &B::conv2d_backward_act; };
  bool ok = B::fusions.conv2d_forward_act == fwd && B::fusions.conv2d_backward_act == bwd;
  if constexpr (fwd) ok = ok && std::is_same_v<decltype(&B::conv2d_forward_act), void (*)(const ConvActArgs&)>;
  if constexpr (bwd) ok = ok && std::is_same_v<decltype(&B::conv2d_backward_act), void (*)(const ConvActGradArgs&)>;
  return ok;
}

/// Every check above, each with its message; a backend's header ends with static_assert(honours_contract<B>()).
template <class B>
constexpr bool honours_contract() {
  static_assert(signatures_match<B>(),
                "backend: a kernel's signature differs from backend::Reference's (each takes its args struct, "
                "backend/args.hpp); kernel_table<B>() in backend/contract.hpp shows which (same_signature)");
  static_assert(fallbacks_exact<B>(),
                "backend: reference_fallbacks must name exactly the kernels this backend inherits from "
                "backend::Reference (detail::inherited_kernels<B>() lists them)");
  static_assert(fusions_declared_truly<B>(),
                "backend: fusions must declare exactly the fused kernels this backend has "
                "(conv2d_forward_act(const ConvActArgs&), conv2d_backward_act(const ConvActGradArgs&))");
  return true;
}
}  // namespace detail

}  // namespace siamese::backend
