#pragma once
// Arguments of the optimizer steps. `row` > 0 makes an update row-sparse: the n floats are rows of
// that width, and a row whose gradient is all zero (an embedding row absent from the batch) keeps its
// weights and slots.
#include <cstddef>

namespace siamese::backend {

/// sgd_step: SGD with momentum as Keras defines it: v = mom*v - lr*g; w += v, or w += mom*v - lr*g
/// (Nesterov); g includes the L2 term wd*w.
struct SgdArgs {
  float* w;
  const float* g;
  float* v;
  std::size_t n;
  std::size_t row = 0;
  float lr, momentum;
  bool nesterov;
  float weight_decay;
};

/// adam_step: Adam with bias correction at step >= 1; weight_decay adds wd*w to the gradient, or,
/// when decoupled (AdamW), subtracts lr*wd*w from the weights.
struct AdamArgs {
  float* w;
  const float* g;
  float* m;
  float* v;
  std::size_t n;
  std::size_t row = 0;
  float lr, beta1, beta2, eps;
  std::size_t step;
  float weight_decay;
  bool decoupled;
};

}  // namespace siamese::backend
