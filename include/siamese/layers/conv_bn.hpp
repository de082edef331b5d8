#pragma once
// ConvBN<Filters, Kernel, Stride, Padding, Activation>: a convolution without bias, BatchNorm and an activation as one
// layer. Training runs the three in turn; inference folds BatchNorm into the convolution's kernel and a bias and runs
// one fused convolution (bias and activation in its epilogue), one pass over the output instead of three.
#include <stdexcept>
#include <string>

#include "../backend/args/normalization.hpp"
#include "conv2d.hpp"

namespace siamese {

namespace detail {
template <std::size_t F, std::size_t K, std::size_t S, Padding P, Act A, class In, class Pos>
struct ConvBNImpl : LayerDefaults {
  static_assert(A != Act::GELU,
                "ConvBN cannot fuse GELU (its derivative needs the pre-activation): use ConvBN<F, K> then GELU");
  /// The convolution's shape checks and geometry are Conv2D's own.
  using conv = Conv2DImpl<F, K, S, P, Act::Linear, false, In, Pos>;
  static constexpr ConvGeom geom = conv::geom;
  static constexpr std::size_t C = conv::C, KK = K * K * C * F, R = conv::OH * conv::OW;  // kernel size; rows/sample
  using in_shape = In;
  using out_shape = typename conv::out_shape;
  // The parameters and states of Conv2DNoBias then BatchNorm, in that order and with those names, so that weight
  // files and name maps written for the two layers fit this one.
  static constexpr auto params = specs(ParamSpec{"kernel", {K, K, C, F}, 4, Init::GlorotUniform, K * K * C, K * K * F},
                                       ParamSpec{"gamma", {F}, 1, Init::Ones, F, F},
                                       ParamSpec{"beta", {F}, 1, Init::Zeros, F, F});
  static constexpr auto states = specs(ParamSpec{"moving_mean", {F}, 1, Init::Zeros, F, F},
                                       ParamSpec{"moving_variance", {F}, 1, Init::Ones, F, F});
  static constexpr float momentum = 0.99f, eps = 1e-3f;  // Keras' BatchNormalization defaults

  // scratch: [z: the convolution's output, later its gradient | xhat | inv_std | folded kernel | folded bias]
  static std::size_t part(std::size_t n, int i) {
    const std::size_t z[] = {align_floats(n * out_shape::size), align_floats(n * out_shape::size), align_floats(F),
                             align_floats(KK), align_floats(F)};
    std::size_t off = 0;
    for (int k = 0; k < i; ++k) off += z[k];
    return off;
  }
  static std::size_t scratch(std::size_t n) { return part(n, 5); }

  template <class B>
  static void fold(const float* w, const float* state, float* s, std::size_t n) {
    B::batchnorm_fold({.w = w,
                       .gamma = w + KK,
                       .beta = w + KK + F,
                       .moving_mean = state,
                       .moving_var = state + F,
                       .eps = eps,
                       .rows = K * K * C,
                       .c = F,
                       .wf = s + part(n, 3),
                       .bf = s + part(n, 4)});
  }

  template <class B>
  static void forward(const Forward& f) {
    float* s = f.scratch;
    if (!f.training) {  // one fused convolution on the folded kernel and bias
      fold<B>(f.w, f.state, s, f.n);
      if constexpr (B::fusions.conv2d_forward_act) {
        B::conv2d_forward_act(
            {.geom = geom, .act = A, .x = f.x, .w = s + part(f.n, 3), .bias = s + part(f.n, 4), .y = f.y, .n = f.n});
      } else {
        B::conv2d_forward({.geom = geom, .x = f.x, .w = s + part(f.n, 3), .bias = s + part(f.n, 4), .y = f.y, .n = f.n});
        if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.y, .y = f.y, .n = f.n * out_shape::size});
      }
      return;
    }
    B::conv2d_forward({.geom = geom, .x = f.x, .w = f.w, .bias = nullptr, .y = s, .n = f.n});
    B::batchnorm_forward({.x = s,
                          .y = f.y,
                          .gamma = f.w + KK,
                          .beta = f.w + KK + F,
                          .moving_mean = f.state,
                          .moving_var = f.state + F,
                          .xhat = s + part(f.n, 1),
                          .inv_std = s + part(f.n, 2),
                          .rows = f.n * R,
                          .c = F,
                          .momentum = momentum,
                          .eps = eps,
                          .training = true});
    if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.y, .y = f.y, .n = f.n * out_shape::size});
  }

  template <class B>
  static void backward(const Backward& b) {
    float* s = b.scratch;
    float* dz = s;  // the convolution's output is not needed any more: its gradient takes its place
    const float* g = b.dy;
    if constexpr (A != Act::Linear) {
      B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = dz, .n = b.n * out_shape::size});
      g = dz;
    }
    if (!b.training) {
      // Inference (a Frozen group): y = act(conv(x, wf) + bf), so dx goes through the folded kernel. The library
      // differentiates an inference-mode forward only inside Frozen groups, which ask for no parameter gradient.
      if (b.dw)
        throw std::logic_error("ConvBN: parameter gradients after an inference-mode forward are not available (train "
                               "with training = true, or freeze the layer)");
      B::conv2d_backward({.geom = geom, .x = b.x, .w = s + part(b.n, 3), .dy = g, .dx = b.dx, .dw = nullptr,
                          .db = nullptr, .n = b.n});
      return;
    }
    B::batchnorm_backward({.dy = g,
                           .gamma = b.w + KK,
                           .xhat = s + part(b.n, 1),
                           .inv_std = s + part(b.n, 2),
                           .dx = dz,
                           .dgamma = b.dw ? b.dw + KK : nullptr,
                           .dbeta = b.dw ? b.dw + KK + F : nullptr,
                           .rows = b.n * R,
                           .c = F,
                           .training = true});
    B::conv2d_backward(
        {.geom = geom, .x = b.x, .w = b.w, .dy = dz, .dx = b.dx, .dw = b.dw, .db = nullptr, .n = b.n});
  }
  static std::string describe() {
    return "ConvBN<" + std::to_string(F) + "," + std::to_string(K) + "x" + std::to_string(K) + ",s" +
           std::to_string(S) + "," + (P == Padding::Same ? "same" : "valid") + "," + act_name(A) + ">";
  }
};
}  // namespace detail

/// Conv2DNoBias<F, K, S, P>, BatchNorm and activation A as one layer (ResNet's unit). In training mode it computes
/// exactly what the three layers compute; in inference mode (Frozen groups, predict, embed) BatchNorm is folded into
/// the kernel and a bias, and one convolution with the activation in its epilogue does the work. Its parameters
/// ("kernel", "gamma", "beta") and states ("moving_mean", "moving_variance") are those of the two layers, in order.
template <std::size_t F, std::size_t K, std::size_t S = 1, Padding P = Padding::Valid,
          detail::ActivationType A = Linear>
struct ConvBN {
  static_assert(F > 0 && K > 0, "ConvBN needs at least one filter and a kernel of at least 1x1");
  static_assert(S > 0, "ConvBN: the stride must be positive");
  template <class In, class Pos>
  using bind = detail::ConvBNImpl<F, K, S, P, A::act, In, Pos>;
};

}  // namespace siamese
