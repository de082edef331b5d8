#pragma once
// Arguments of the 2-D convolution kernels (NHWC input, HWIO kernel, geometry from the layer).
#include <cstddef>

#include "../kinds.hpp"

namespace siamese::backend {

/// conv2d_forward: y = conv(x, w) + bias (bias may be null) for n samples.
struct ConvArgs {
  siamese::detail::ConvGeom geom;
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  std::size_t n;
};

/// conv2d_forward_act, a fused kernel (Fusions::conv2d_forward_act): y = act(conv(x, w) + bias).
struct ConvActArgs {
  siamese::detail::ConvGeom geom;
  Act act;
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  std::size_t n;
};

/// conv2d_backward: dx (if not null) = conv^T(dy); dw, db (if not null) the parameter gradients,
/// overwritten.
struct ConvGradArgs {
  siamese::detail::ConvGeom geom;
  const float* x;
  const float* w;
  const float* dy;
  float* dx;
  float* dw;
  float* db;
  std::size_t n;
};

/// conv2d_backward_act, a fused kernel (Fusions::conv2d_backward_act): act'(.) taken through the
/// output y, then conv2d_backward, without the intermediate pass.
struct ConvActGradArgs {
  siamese::detail::ConvGeom geom;
  Act act;
  const float* x;
  const float* y;
  const float* w;
  const float* dy;
  float* dx;
  float* dw;
  float* db;
  std::size_t n;
};

}  // namespace siamese::backend
