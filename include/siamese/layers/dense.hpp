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
    B::gemm(false, false, f.n, N, K, 1.0f, f.x, K, f.w, N, 0.0f, f.y, N);
    B::add_bias(f.y, f.w + K * N, f.n, N);
    if constexpr (A != Act::Linear) B::activation(A, f.y, f.y, f.n * N);
  }
  template <class B>
  static void backward(const Backward& b) {
    const float* dz = b.dy;
    if constexpr (A != Act::Linear) {
      B::activation_backward(A, b.y, b.dy, b.scratch, b.n * N);
      dz = b.scratch;
    }
    if (b.dw) {
      B::gemm(true, false, K, N, b.n, 1.0f, b.x, K, dz, N, 0.0f, b.dw, N);
      B::bias_grad(dz, b.dw + K * N, b.n, N);
    }
    if (b.dx) B::gemm(false, true, b.n, K, N, 1.0f, dz, N, b.w, N, 0.0f, b.dx, K);
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
