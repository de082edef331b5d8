#pragma once
// The kernel interface every backend honours, checked at compile time, and the Backend concept that
// it defines. kernel_table<B>() lists every kernel of backend::Reference (a new kernel gets one line
// here) and tells, for backend B, whether B has the kernel, whether it has Reference's signature and
// whether B merely inherits Reference's. A type is a backend (satisfies Backend) when all of this holds:
//   - it has a Buffer type, a name and its fusions (backend/fusions.hpp);
//   - it has every kernel, each with Reference's signature (its args struct);
//   - B::reference_fallbacks names exactly the kernels B inherits from Reference, so that the list a
//     reader sees cannot drift from the code (Reference itself, where they come from, has none);
//   - each fusion of B::fusions is declared exactly when B has that fused kernel, with its args struct:
//     layers branch on the declaration, so a kernel whose signature drifted does not compile rather
//     than silently switching the fusion off.
// detail::honours_contract<B>() asserts the same rules one by one, each with its message; a backend's
// header ends with static_assert(detail::honours_contract<B>()) and static_assert(Backend<B>).
#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "args.hpp"
#include "fusions.hpp"
#include "pair_feature.hpp"

namespace siamese::backend {

struct Reference;  // defined by reference/reference.hpp, included at the end of this header

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
  bool present;         // B has the kernel (one function of that name, not an overload set)
  bool same_signature;  // B's kernel has Reference's type
  bool inherited;       // B's kernel is Reference's own
};
/// The entry of one kernel: get(x) is &X::kernel for an X* x, and is not callable where X lacks it, so
/// that a type without the kernel gives an entry (present == false) rather than a compile error.
template <class B, class Get>
constexpr Entry entry(std::string_view name, [[maybe_unused]] Get get) {
  if constexpr (!std::is_invocable_v<Get, B*>) {
    return {name, false, false, false};
  } else {
    using R = Reference;  // complete where the table is built
    if constexpr (std::is_same_v<std::invoke_result_t<Get, B*>, std::invoke_result_t<Get, R*>>)
#ifdef SIAMESE_NO_CONSTEXPR_FUNCTION_ADDRESSES
      return {name, true, true, false};
#else
      return {name, true, true, get(static_cast<B*>(nullptr)) == get(static_cast<R*>(nullptr))};
#endif
    else
      return {name, true, false, false};
  }
}
}  // namespace detail_contract

// A macro, the one of the library: only the preprocessor turns one kernel name into both a member
// access and its string, so that the two cannot drift.
#define SIAMESE_KERNEL(k) detail_contract::entry<B>(#k, []<class X>(X*) -> decltype(&X::k) { return &X::k; })

/// Every kernel of the interface, for backend B.
template <class B>
constexpr auto kernel_table() {
  using P = detail_contract::Probe;
  return std::array{
      // memory and element-wise
      SIAMESE_KERNEL(to_device),
      SIAMESE_KERNEL(to_host),
      SIAMESE_KERNEL(copy),
      SIAMESE_KERNEL(fill),
      SIAMESE_KERNEL(add),
      SIAMESE_KERNEL(mul),
      SIAMESE_KERNEL(scale),
      SIAMESE_KERNEL(clip),
      SIAMESE_KERNEL(sum_squares),
      SIAMESE_KERNEL(all_finite),
      SIAMESE_KERNEL(copy_cols),
      SIAMESE_KERNEL(activation),
      SIAMESE_KERNEL(activation_backward),
      SIAMESE_KERNEL(dropout_forward),
      // dense algebra
      SIAMESE_KERNEL(gemm),
      SIAMESE_KERNEL(add_bias),
      SIAMESE_KERNEL(bias_grad),
      // convolution and pooling
      SIAMESE_KERNEL(conv2d_forward),
      SIAMESE_KERNEL(conv2d_backward),
      SIAMESE_KERNEL(pool2d_forward),
      SIAMESE_KERNEL(pool2d_backward),
      SIAMESE_KERNEL(global_pool_forward),
      SIAMESE_KERNEL(global_pool_backward),
      // normalisation
      SIAMESE_KERNEL(batchnorm_forward),
      SIAMESE_KERNEL(batchnorm_backward),
      SIAMESE_KERNEL(batchnorm_fold),
      // pair features and losses
      detail_contract::entry<B>("pair_feature_forward",
                                []<class X>(X*) -> decltype(&X::template pair_feature_forward<P>) {
                                  return &X::template pair_feature_forward<P>;
                                }),
      detail_contract::entry<B>("pair_feature_backward",
                                []<class X>(X*) -> decltype(&X::template pair_feature_backward<P>) {
                                  return &X::template pair_feature_backward<P>;
                                }),
      SIAMESE_KERNEL(bce_logits),
      SIAMESE_KERNEL(contrastive),
      SIAMESE_KERNEL(triplet),
      SIAMESE_KERNEL(similarity_loss),
      SIAMESE_KERNEL(class_margin_loss),
      // optimizers
      SIAMESE_KERNEL(sgd_step),
      SIAMESE_KERNEL(adam_step),
      // sequences
      SIAMESE_KERNEL(embedding_forward),
      SIAMESE_KERNEL(embedding_backward),
      SIAMESE_KERNEL(row_mask),
      SIAMESE_KERNEL(scale_rows),
      SIAMESE_KERNEL(shift_time),
      SIAMESE_KERNEL(lstm_step_forward),
      SIAMESE_KERNEL(lstm_step_backward),
      SIAMESE_KERNEL(gru_step_forward),
      SIAMESE_KERNEL(gru_step_backward),
      SIAMESE_KERNEL(masked_time_pool_forward),
      SIAMESE_KERNEL(masked_time_pool_backward),
      // text-encoder layers (args/bert_layers.hpp)
      SIAMESE_KERNEL(gelu_forward),
      SIAMESE_KERNEL(gelu_backward),
      SIAMESE_KERNEL(layernorm_forward),
      SIAMESE_KERNEL(layernorm_backward),
      SIAMESE_KERNEL(l2_normalize_forward),
      SIAMESE_KERNEL(l2_normalize_backward),
      SIAMESE_KERNEL(masked_mean_pool_forward),
      SIAMESE_KERNEL(masked_mean_pool_backward),
      SIAMESE_KERNEL(bert_embeddings_forward),
      SIAMESE_KERNEL(bert_embeddings_backward),
      // attention core (args/attention.hpp)
      SIAMESE_KERNEL(attention_forward),
      SIAMESE_KERNEL(attention_backward),
  };
}

#undef SIAMESE_KERNEL

namespace detail {
/// What every backend declares besides its kernels.
template <class B>
concept backend_members = requires {
  typename B::Buffer;
  { B::name } -> std::convertible_to<const char*>;
  { B::fusions } -> std::convertible_to<Fusions>;
};
/// B::reference_fallbacks, a range of names; Reference, where the fallbacks come from, needs none.
template <class B>
constexpr bool lists_fallbacks() {
  if constexpr (std::is_same_v<B, Reference>) return true;
  else return requires { { *std::begin(B::reference_fallbacks) } -> std::convertible_to<std::string_view>; };
}
/// True when B has every kernel of the table.
template <class B>
constexpr bool kernels_present() {
  const auto t = kernel_table<B>();
  return std::all_of(t.begin(), t.end(), [](const auto& e) { return e.present; });
}
/// True when every kernel B has has Reference's signature.
template <class B>
constexpr bool signatures_match() {
  const auto t = kernel_table<B>();
  return std::all_of(t.begin(), t.end(), [](const auto& e) { return !e.present || e.same_signature; });
}
/// True when B::reference_fallbacks names exactly the kernels that B inherits from Reference.
template <class B>
constexpr bool fallbacks_exact() {
  if constexpr (std::is_same_v<B, Reference>) {
    return true;
  } else {
#ifdef SIAMESE_NO_CONSTEXPR_FUNCTION_ADDRESSES
    // g++ 12 under -fsanitize=undefined cannot compare function addresses at compile time; the normal build checks.
    return true;
#endif
    const auto t = kernel_table<B>();
    const auto& listed = B::reference_fallbacks;
    const auto in_list = [&listed](std::string_view n) {
      return std::find(std::begin(listed), std::end(listed), n) != std::end(listed);
    };
    for (const auto& e : t)
      if (e.inherited != in_list(e.name)) return false;
    for (std::string_view n : listed)
      if (std::none_of(t.begin(), t.end(), [n](const auto& e) { return e.name == n; })) return false;
    return true;
  }
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

/// Every rule above, without a diagnostic: what the Backend concept tests.
template <class B>
constexpr bool contract_holds() {
  if constexpr (!backend_members<B> || !lists_fallbacks<B>()) return false;
  else return kernels_present<B>() && signatures_match<B>() && fallbacks_exact<B>() && fusions_declared_truly<B>();
}

/// Every rule above, each with its message; a backend's header ends with static_assert(honours_contract<B>()).
template <class B>
constexpr bool honours_contract() {
  static_assert(backend_members<B>,
                "backend: a backend has a Buffer type, a name (const char*) and its fusions (backend/fusions.hpp)");
  if constexpr (backend_members<B>) {
    static_assert(lists_fallbacks<B>(),
                  "backend: a backend declares reference_fallbacks, the names of the kernels it takes from "
                  "backend::Reference unchanged (std::array<std::string_view, 0>{} when none)");
    if constexpr (lists_fallbacks<B>()) {
      static_assert(kernels_present<B>(),
                    "backend: a kernel of the interface is missing (or overloaded); kernel_table<B>() in "
                    "backend/contract.hpp shows which (present)");
      static_assert(signatures_match<B>(),
                    "backend: a kernel's signature differs from backend::Reference's (each takes its args struct, "
                    "backend/args.hpp); kernel_table<B>() in backend/contract.hpp shows which (same_signature)");
      static_assert(fallbacks_exact<B>(),
                    "backend: reference_fallbacks must name exactly the kernels this backend inherits from "
                    "backend::Reference (detail::inherited_kernels<B>() lists them)");
      static_assert(fusions_declared_truly<B>(),
                    "backend: fusions must declare exactly the fused kernels this backend has "
                    "(conv2d_forward_act(const ConvActArgs&), conv2d_backward_act(const ConvActGradArgs&))");
    }
  }
  return true;
}
}  // namespace detail

}  // namespace siamese::backend

namespace siamese {

/// A backend: a Buffer type, a name, its fusions, and every kernel of backend::kernel_table (the interface of
/// backend::Reference), each taking its argument struct (backend/args.hpp), with reference_fallbacks naming
/// exactly the kernels it takes from Reference unchanged. Satisfied exactly by the types that
/// backend::detail::honours_contract accepts; models check their backend parameter with it.
template <class B>
concept Backend = backend::detail::backend_members<B> && backend::detail::contract_holds<B>();

}  // namespace siamese

// Reference, which the table compares every backend with, after everything it needs from this header
// (reference.hpp includes this header and checks Backend<Reference> at its end).
#include "reference/reference.hpp"
