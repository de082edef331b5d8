#pragma once
// Arguments of the element-wise kernels with more than a flat range: block copies, activations, dropout.
#include <cstddef>
#include <cstdint>

#include "../kinds.hpp"

namespace siamese::backend {

/// copy_cols: a rows x cols block between row-major matrices of leading dimensions ld_dst, ld_src.
struct CopyColsArgs {
  float* dst;
  std::size_t ld_dst;
  const float* src;
  std::size_t ld_src;
  std::size_t rows, cols;
};

/// activation: y = act(x) over n floats; x and y may alias.
struct ActivationArgs {
  Act act;
  const float* x;
  float* y;
  std::size_t n;
};

/// activation_backward: dx = dy * act'(.), taken through the output y = act(x); dx may alias dy.
struct ActivationGradArgs {
  Act act;
  const float* y;
  const float* dy;
  float* dx;
  std::size_t n;
};

/// dropout_forward: inverted dropout; mask[i] is 0 or 1/(1-rate), a pure function of (seed, i).
struct DropoutArgs {
  const float* x;
  float* y;
  float* mask;
  float rate;
  std::uint64_t seed;
  std::size_t n;
};

}  // namespace siamese::backend
