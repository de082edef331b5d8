#pragma once
// Conv2D<Filters, Kernel, Stride, Padding, Activation, UseBias> over channels-last images, kernel HWIO.
#include <string>

#include "activation.hpp"

namespace siamese {

namespace detail {
template <std::size_t F, std::size_t K, std::size_t S, Padding P, Act A, bool UseBias, class In, class Pos>
struct Conv2DImpl : LayerDefaults {
  static_assert(In::rank == 3, "Conv2D expects an input of rank 3 (height, width, channels)");
  static_assert(A != Act::GELU,
                "Conv2D cannot fuse GELU (its derivative needs the pre-activation, which the fused kernels do not "
                "keep): use Conv2D<F, K> followed by the GELU layer");
  static constexpr std::size_t H = In::dims[0], W = In::rank == 3 ? In::dims[1] : 1,
                               C = In::rank == 3 ? In::dims[2] : 1;
  static_assert(In::rank != 3 || P == Padding::Same || (K <= H && K <= W),
                "Conv2D: the kernel is larger than the input map; use a smaller kernel or Padding::Same");
  static constexpr std::size_t OH = out_extent(H, K, S, P) ? out_extent(H, K, S, P) : 1;
  static constexpr std::size_t OW = out_extent(W, K, S, P) ? out_extent(W, K, S, P) : 1;
  static constexpr ConvGeom geom{H, W, C, K, K, S, S, pad_before(H, K, S, P), pad_before(W, K, S, P), OH, OW, F};
  using in_shape = In;
  using out_shape = Shape<OH, OW, F>;
  static constexpr ParamSpec kernel_spec{"kernel", {K, K, C, F}, 4, Init::GlorotUniform, K * K * C, K * K * F};
  static constexpr auto params = [] {
    if constexpr (UseBias) return specs(kernel_spec, ParamSpec{"bias", {F}, 1, Init::Zeros, K * K * C, K * K * F});
    else return specs(kernel_spec);
  }();
  /// The bias after the kernel, or none.
  static const float* bias(const float* w) { return UseBias ? w + K * K * C * F : nullptr; }
  static std::size_t scratch(std::size_t n) { return A == Act::Linear ? 0 : n * out_shape::size; }

  template <class B>
  static void forward(const Forward& f) {
    // A backend that declares the fusion (Cpu, Cuda) saves a pass over the output.
    if constexpr (B::fusions.conv2d_forward_act) {
      B::conv2d_forward_act(
          {.geom = geom, .act = A, .x = f.x, .w = f.w, .bias = bias(f.w), .y = f.y, .n = f.n});
    } else {
      B::conv2d_forward({.geom = geom, .x = f.x, .w = f.w, .bias = bias(f.w), .y = f.y, .n = f.n});
      if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.y, .y = f.y, .n = f.n * out_shape::size});
    }
  }
  template <class B>
  static void backward(const Backward& b) {
    float* db = UseBias && b.dw ? b.dw + K * K * C * F : nullptr;
    if constexpr (B::fusions.conv2d_backward_act) {
      B::conv2d_backward_act({.geom = geom,
                              .act = A,
                              .x = b.x,
                              .y = b.y,
                              .w = b.w,
                              .dy = b.dy,
                              .dx = b.dx,
                              .dw = b.dw,
                              .db = db,
                              .n = b.n});
    } else {
      const float* dz = b.dy;
      if constexpr (A != Act::Linear) {
        B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = b.scratch, .n = b.n * out_shape::size});
        dz = b.scratch;
      }
      B::conv2d_backward({.geom = geom, .x = b.x, .w = b.w, .dy = dz, .dx = b.dx, .dw = b.dw, .db = db, .n = b.n});
    }
  }
  static std::string describe() {
    return "Conv2D<" + std::to_string(F) + "," + std::to_string(K) + "x" + std::to_string(K) + ",s" +
           std::to_string(S) + "," + (P == Padding::Same ? "same" : "valid") + "," + act_name(A) + (UseBias ? "" : ",nobias") + ">";
  }
};
}  // namespace detail

/// A 2-D convolution with F filters of K x K, stride S, Keras padding P and a fused activation.
/// Input (H, W, C) -> output (OH, OW, F); the kernel is stored (K, K, C, F) as in Keras. UseBias = false
/// (Keras' use_bias=False) drops the bias, as convolutions followed by BatchNorm do (ResNet).
template <std::size_t F, std::size_t K, std::size_t S = 1, Padding P = Padding::Valid,
          detail::ActivationType A = Linear, bool UseBias = true>
struct Conv2D {
  static_assert(F > 0 && K > 0, "Conv2D needs at least one filter and a kernel of at least 1x1");
  static_assert(S > 0, "Conv2D: the stride must be positive");
  template <class In, class Pos>
  using bind = detail::Conv2DImpl<F, K, S, P, A::act, UseBias, In, Pos>;
};

/// Conv2D without a bias: the kernel is its only parameter.
template <std::size_t F, std::size_t K, std::size_t S = 1, Padding P = Padding::Valid,
          detail::ActivationType A = Linear>
using Conv2DNoBias = Conv2D<F, K, S, P, A, false>;

}  // namespace siamese
