#pragma once
// Arguments of the pooling kernels: windows over NHWC maps, and pooling over the rows of each sample.
#include <cstddef>

#include "../kinds.hpp"

namespace siamese::backend {

/// pool2d_forward: max or average over windows; padded cells are ignored.
struct PoolArgs {
  siamese::detail::PoolGeom geom;
  bool is_max;
  const float* x;
  float* y;
  std::size_t n;
};

/// pool2d_backward: dx (overwritten) from dy through the pooling of x into y.
struct PoolGradArgs {
  siamese::detail::PoolGeom geom;
  bool is_max;
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  std::size_t n;
};

/// global_pool_forward and masked_time_pool_forward: x (n, rows, c) -> y (n, c), max or mean over the
/// rows of each sample (the masked form: over its non-zero rows only).
struct RowPoolArgs {
  bool is_max;
  const float* x;
  float* y;
  std::size_t n, rows, c;
};

/// global_pool_backward and masked_time_pool_backward: dx (n, rows, c), overwritten, from dy (n, c).
struct RowPoolGradArgs {
  bool is_max;
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  std::size_t n, rows, c;
};

}  // namespace siamese::backend
