#pragma once
// Dense<N, Activation>: y = act(x W + b), W of shape (in, N) as Keras stores it.
#include <string>

#include "activation.hpp"

namespace siamese {

namespace detail {
template <std::size_t N, Act A, Init I, class In, class Pos>
struct DenseImpl : LayerDefaults {
  static_assert(In::rank == 1, "Dense expects a flat input (rank 1): add Flatten or a global pooling layer before it");
  static constexpr std::size_t K = In::size;
  using in_shape = In;
  using out_shape = Shape<N>;
  static constexpr auto params = specs(ParamSpec{"kernel", {K, N}, 2, I, K, N},
                                       ParamSpec{"bias", {N}, 1, Init::Zeros, K, N});
  static std::size_t scratch(std::size_t n) { return A == Act::Linear ? 0 : n * N; }

  template <class B>
  static void forward(const Forward& f) {
    B::gemm({.m = f.n, .n = N, .k = K, .a = f.x, .lda = K, .b = f.w, .ldb = N, .c = f.y, .ldc = N});
    B::add_bias({.y = f.y, .bias = f.w + K * N, .rows = f.n, .cols = N});
    if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.y, .y = f.y, .n = f.n * N});
  }
  template <class B>
  static void backward(const Backward& b) {
    const float* dz = b.dy;
    if constexpr (A != Act::Linear) {
      B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = b.scratch, .n = b.n * N});
      dz = b.scratch;
    }
    if (b.dw) {
      B::gemm({.trans_a = true, .m = K, .n = N, .k = b.n, .a = b.x, .lda = K, .b = dz, .ldb = N, .c = b.dw, .ldc = N});
      B::bias_grad({.dy = dz, .db = b.dw + K * N, .rows = b.n, .cols = N});
    }
    if (b.dx)
      B::gemm({.trans_b = true, .m = b.n, .n = K, .k = N, .a = dz, .lda = N, .b = b.w, .ldb = N, .c = b.dx, .ldc = K});
  }
  static std::string describe() { return "Dense<" + std::to_string(N) + "," + act_name(A) + ">"; }
};
}  // namespace detail

/// A fully connected layer of N units over a flat input, with a fused activation (Linear by default)
/// and Keras' initialisers (glorot_uniform kernel, zero bias).
template <std::size_t N, detail::ActivationType A = Linear, Init I = Init::GlorotUniform>
struct Dense {
  static_assert(N > 0, "Dense needs at least one unit");
  template <class In, class Pos>
  using bind = detail::DenseImpl<N, A::act, I, In, Pos>;
};

}  // namespace siamese
