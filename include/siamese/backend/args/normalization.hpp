#pragma once
// Arguments of the batch normalisation kernels over the c channels (last axis) of a rows x c matrix.
#include <cstddef>

namespace siamese::backend {

/// batchnorm_forward: training uses the batch statistics and updates the moving ones; inference
/// uses the moving ones. xhat (rows * c) and inv_std (c) are kept for backward.
struct BatchNormArgs {
  const float* x;
  float* y;
  const float* gamma;
  const float* beta;
  float* moving_mean;
  float* moving_var;
  float* xhat;
  float* inv_std;
  std::size_t rows, c;
  float momentum, eps;
  bool training;
};

/// batchnorm_backward: dx (if not null), dgamma and dbeta (if not null), overwritten. `training` says which
/// forward ran: with batch statistics (dx goes through the mean and variance) or with the moving ones (a fixed
/// affine map per channel: dx = dy * gamma * inv_std).
struct BatchNormGradArgs {
  const float* dy;
  const float* gamma;
  const float* xhat;
  const float* inv_std;
  float* dx;
  float* dgamma;
  float* dbeta;
  std::size_t rows, c;
  bool training = true;
};

/// batchnorm_fold: a kernel w of `rows` x c (output channel last: a convolution's HWIO kernel, a dense layer's)
/// followed by inference-mode batch normalisation, folded into one kernel and bias:
///   wf[r, k] = w[r, k] * s[k],  bf[k] = beta[k] - moving_mean[k] * s[k],  s[k] = gamma[k] / sqrt(moving_var[k] + eps).
struct BatchNormFoldArgs {
  const float* w;
  const float* gamma;
  const float* beta;
  const float* moving_mean;
  const float* moving_var;
  float eps;
  std::size_t rows, c;
  float* wf;
  float* bf;
};

}  // namespace siamese::backend
