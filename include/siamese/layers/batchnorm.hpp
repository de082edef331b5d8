#pragma once
// BatchNorm: normalisation over the last axis (channels), Keras' defaults (momentum 0.99, eps 1e-3).
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <class In, class Pos>
struct BatchNormImpl : LayerDefaults {
  static constexpr std::size_t C = In::dims[In::rank - 1], R = In::size / C;
  using in_shape = In;
  using out_shape = In;
  static constexpr auto params = specs(ParamSpec{"gamma", {C}, 1, Init::Ones, C, C},
                                       ParamSpec{"beta", {C}, 1, Init::Zeros, C, C});
  static constexpr auto states = specs(ParamSpec{"moving_mean", {C}, 1, Init::Zeros, C, C},
                                       ParamSpec{"moving_variance", {C}, 1, Init::Ones, C, C});
  static std::size_t scratch(std::size_t n) { return align_floats(n * In::size) + C; }  // xhat, 1/std
  template <class B>
  static void forward(const Forward& f) {
    B::batchnorm_forward({.x = f.x,
                          .y = f.y,
                          .gamma = f.w,
                          .beta = f.w + C,
                          .moving_mean = f.state,
                          .moving_var = f.state + C,
                          .xhat = f.scratch,
                          .inv_std = f.scratch + align_floats(f.n * In::size),
                          .rows = f.n * R,
                          .c = C,
                          .momentum = 0.99f,
                          .eps = 1e-3f,
                          .training = f.training});
  }
  template <class B>
  static void backward(const Backward& b) {
    B::batchnorm_backward({.dy = b.dy,
                           .gamma = b.w,
                           .xhat = b.scratch,
                           .inv_std = b.scratch + align_floats(b.n * In::size),
                           .dx = b.dx,
                           .dgamma = b.dw,
                           .dbeta = b.dw ? b.dw + C : nullptr,
                           .rows = b.n * R,
                           .c = C,
                           .training = b.training});
  }
  static std::string describe() { return "BatchNorm"; }
};
}  // namespace detail

/// Batch normalisation over the channels (last axis): batch statistics while training, moving
/// averages at inference; gamma and beta are trained, the moving moments are saved states.
struct BatchNorm {
  template <class In, class Pos>
  using bind = detail::BatchNormImpl<In, Pos>;
};

}  // namespace siamese
