#pragma once
// backend::Cuda's batch normalisation over the channels (last axis) of a (rows, c) matrix.
#include <cstddef>

#include "../args/normalization.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct BatchNormOps {
  /// Training: batch statistics (two passes, in double), moving averages updated; inference: the
  /// moving ones. xhat (rows*c) and inv_std (c) are kept for backward.
  static void batchnorm_forward(const BatchNormArgs& a) {
    const float *x = a.x, *gamma = a.gamma, *beta = a.beta;
    float *y = a.y, *moving_mean = a.moving_mean, *moving_var = a.moving_var, *xhat = a.xhat, *inv_std = a.inv_std;
    const std::size_t rows = a.rows, c = a.c;
    const float momentum = a.momentum, eps = a.eps;
    const bool training = a.training;
    if (c == 0) return;
    double* mean = static_cast<double*>(X::scratch(Slot::Stats, 2 * c * sizeof(double)));
    double* var = mean + c;
    if (training) {
      channel_sums<X>("batchnorm_forward (mean)", rows, c,
                      [=] __host__ __device__(std::size_t r, std::size_t k) { return double(x[r * c + k]); }, mean);
      X::launch("batchnorm_forward (mean)", c, [=] __host__ __device__(std::size_t k) { mean[k] /= double(rows); });
      channel_sums<X>("batchnorm_forward (variance)", rows, c,
                      [=] __host__ __device__(std::size_t r, std::size_t k) {
                        const double d = x[r * c + k] - mean[k];
                        return d * d;
                      },
                      var);
      X::launch("batchnorm_forward (moments)", c, [=] __host__ __device__(std::size_t k) {
        var[k] /= double(rows);
        moving_mean[k] = momentum * moving_mean[k] + (1 - momentum) * float(mean[k]);
        moving_var[k] = momentum * moving_var[k] + (1 - momentum) * float(var[k]);
        inv_std[k] = static_cast<float>(1.0 / ::sqrt(var[k] + eps));
      });
    } else {
      X::launch("batchnorm_forward (moving)", c, [=] __host__ __device__(std::size_t k) {
        mean[k] = moving_mean[k];
        var[k] = moving_var[k];
        inv_std[k] = static_cast<float>(1.0 / ::sqrt(var[k] + eps));
      });
    }
    X::launch("batchnorm_forward", rows * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t k = i % c;
      const float h = (x[i] - float(mean[k])) * inv_std[k];
      xhat[i] = h;
      y[i] = gamma[k] * h + beta[k];
    });
  }

  /// wf = w * s per column, bf = beta - mean * s, s = gamma / sqrt(var + eps); s in double as Reference.
  static void batchnorm_fold(const BatchNormFoldArgs& a) {
    const float *w = a.w, *gamma = a.gamma, *beta = a.beta, *mean = a.moving_mean, *var = a.moving_var;
    float *wf = a.wf, *bf = a.bf;
    const std::size_t c = a.c;
    const float eps = a.eps;
    if (c == 0) return;
    X::launch("batchnorm_fold", a.rows * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t k = i % c;
      wf[i] = float(w[i] * (double(gamma[k]) / ::sqrt(double(var[k]) + eps)));
    });
    X::launch("batchnorm_fold (bias)", c, [=] __host__ __device__(std::size_t k) {
      bf[k] = float(beta[k] - mean[k] * (double(gamma[k]) / ::sqrt(double(var[k]) + eps)));
    });
  }

  static void batchnorm_backward(const BatchNormGradArgs& a) {
    const float *dy = a.dy, *gamma = a.gamma, *xhat = a.xhat, *inv_std = a.inv_std;
    float *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
    const std::size_t rows = a.rows, c = a.c;
    if (c == 0) return;
    double* sdy = static_cast<double*>(X::scratch(Slot::Stats, 2 * c * sizeof(double)));
    double* sdyh = sdy + c;
    channel_sums<X>("batchnorm_backward", rows, c,
                    [=] __host__ __device__(std::size_t r, std::size_t k) { return double(dy[r * c + k]); }, sdy);
    channel_sums<X>("batchnorm_backward", rows, c,
                    [=] __host__ __device__(std::size_t r, std::size_t k) {
                      return double(dy[r * c + k]) * xhat[r * c + k];
                    },
                    sdyh);
    if (dgamma || dbeta)
      X::launch("batchnorm_backward (parameters)", c, [=] __host__ __device__(std::size_t k) {
        if (dgamma) dgamma[k] = float(sdyh[k]);
        if (dbeta) dbeta[k] = float(sdy[k]);
      });
    if (!dx) return;
    const double m = double(rows);
    if (!a.training) {  // the moving statistics are constants: a per-channel affine map
      X::launch("batchnorm_backward", rows * c, [=] __host__ __device__(std::size_t i) {
        const std::size_t k = i % c;
        dx[i] = dy[i] * gamma[k] * inv_std[k];
      });
      return;
    }
    X::launch("batchnorm_backward", rows * c, [=] __host__ __device__(std::size_t i) {
      const std::size_t k = i % c;
      dx[i] = float(gamma[k] * inv_std[k] / m * (m * dy[i] - sdy[k] - xhat[i] * sdyh[k]));
    });
  }
};

}  // namespace siamese::backend::detail_cuda
