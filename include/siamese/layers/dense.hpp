#pragma once
// Dense<N, Activation>: y = act(x W + b) over the last axis, W of shape (in, N) as Keras stores it.
#include <string>
#include <type_traits>
#include <utility>

#include "activation.hpp"

namespace siamese {

namespace detail {
/// Shape<A..., K> -> Shape<A..., N>.
template <class In, std::size_t N, class = std::make_index_sequence<In::rank - 1>>
struct replace_last;
template <class In, std::size_t N, std::size_t... I>
struct replace_last<In, N, std::index_sequence<I...>> {
  using type = Shape<In::dims[I]..., N>;
};

template <std::size_t N, Act A, Init I, class In, class Pos>
struct DenseImpl : LayerDefaults {
  // Keras applies Dense to the last axis of any input; here a vector or a sequence. On an image map (rank 3)
  // a missing Flatten is the likelier mistake, and the per-pixel product is Conv2D<N, 1>.
  static_assert(In::rank <= 2,
                "Dense expects a flat input (rank 1) or a sequence (rank 2, applied at each position); on an image "
                "map add Flatten or a global pooling layer before it (or use Conv2D<N, 1> for a per-pixel Dense)");
  static constexpr std::size_t K = last_dim<In>, R = leading_size<In>;  // R rows of K per sample
  using in_shape = In;
  // (after a failed check, Shape<N> keeps further errors from piling up)
  using out_shape = std::conditional_t<In::rank <= 2, typename replace_last<In, N>::type, Shape<N>>;
  static constexpr auto params = specs(ParamSpec{"kernel", {K, N}, 2, I, K, N},
                                       ParamSpec{"bias", {N}, 1, Init::Zeros, K, N});
  // the activation's gradient in backward; for GELU, first its input (kept by forward)
  static std::size_t scratch(std::size_t n) { return A == Act::Linear ? 0 : n * R * N; }

  template <class B>
  static void forward(const Forward& f) {
    const std::size_t rows = f.n * R;
    B::gemm({.m = rows, .n = N, .k = K, .a = f.x, .lda = K, .b = f.w, .ldb = N, .c = f.y, .ldc = N});
    if constexpr (A == Act::GELU) {
      B::gelu_forward({.x = f.y, .y = f.y, .pre = f.scratch, .bias = f.w + K * N, .rows = rows, .cols = N});
    } else {
      B::add_bias({.y = f.y, .bias = f.w + K * N, .rows = rows, .cols = N});
      if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.y, .y = f.y, .n = rows * N});
    }
  }
  template <class B>
  static void backward(const Backward& b) {
    const std::size_t rows = b.n * R;
    const float* dz = b.dy;
    if constexpr (A == Act::GELU) {
      B::gelu_backward({.pre = b.scratch, .dy = b.dy, .dx = b.scratch, .n = rows * N});
      dz = b.scratch;
    } else if constexpr (A != Act::Linear) {
      B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = b.scratch, .n = rows * N});
      dz = b.scratch;
    }
    if (b.dw) {
      B::gemm({.trans_a = true, .m = K, .n = N, .k = rows, .a = b.x, .lda = K, .b = dz, .ldb = N, .c = b.dw, .ldc = N});
      B::bias_grad({.dy = dz, .db = b.dw + K * N, .rows = rows, .cols = N});
    }
    if (b.dx)
      B::gemm({.trans_b = true, .m = rows, .n = K, .k = N, .a = dz, .lda = N, .b = b.w, .ldb = N, .c = b.dx, .ldc = K});
  }
  static std::string describe() { return "Dense<" + std::to_string(N) + "," + act_name(A) + ">"; }
};
}  // namespace detail

/// A fully connected layer of N units with a fused activation (Linear by default) and Keras' initialisers
/// (glorot_uniform kernel, zero bias). On a vector (K) -> (N); on a sequence (T, K) -> (T, N), the same
/// kernel at every position (Keras' Dense on the last axis), computed as one product of n*T rows.
/// With GELU the pre-activation is kept in the layer's scratch for backward.
template <std::size_t N, detail::ActivationType A = Linear, Init I = Init::GlorotUniform>
struct Dense {
  static_assert(N > 0, "Dense needs at least one unit");
  template <class In, class Pos>
  using bind = detail::DenseImpl<N, A::act, I, In, Pos>;
};

}  // namespace siamese
