#pragma once
// Batch normalisation of backend::Cpu over the channels (last axis) of `rows` rows: column
// statistics as fixed-block reductions (the same for any thread count), the per-element passes
// vectorised across channels and threaded across rows.
#include <cmath>
#include <cstddef>

#include "../args/normalization.hpp"
#include "parallel.hpp"

namespace siamese::cpu {

/// The batch normalisation kernels of backend::Cpu over the kernels of Base.
template <class Base>
struct BatchNormKernels : Base {
  /// Training: batch statistics, moving moments updated; inference: the moving moments.
  /// xhat (rows*c) and inv_std (c) are kept for backward.
  static void batchnorm_forward(const backend::BatchNormArgs& a) {
    const float *x = a.x, *gamma = a.gamma, *beta = a.beta;
    float *y = a.y, *moving_mean = a.moving_mean, *moving_var = a.moving_var, *xhat = a.xhat, *inv_std = a.inv_std;
    const std::size_t rows = a.rows, c = a.c;
    const float momentum = a.momentum, eps = a.eps;
    const bool training = a.training;
    using detail::Vec, detail::vw;
    static thread_local detail::Workspace ws;
    float* mean = ws.reserve(2 * c);
    float* var = mean + c;
    if (training) {
      detail::column_reduce(x, x, c, rows, c, mean, [](auto a, auto) { return a; });
      for (std::size_t k = 0; k < c; ++k) mean[k] = float(double(mean[k]) / double(rows));
      detail::column_reduce(x, mean, 0, rows, c, var, [](auto a, auto m) { return (a - m) * (a - m); });
      for (std::size_t k = 0; k < c; ++k) {
        var[k] = float(double(var[k]) / double(rows));
        moving_mean[k] = momentum * moving_mean[k] + (1 - momentum) * mean[k];
        moving_var[k] = momentum * moving_var[k] + (1 - momentum) * var[k];
      }
    } else {
      for (std::size_t k = 0; k < c; ++k) {
        mean[k] = moving_mean[k];
        var[k] = moving_var[k];
      }
    }
    for (std::size_t k = 0; k < c; ++k) inv_std[k] = static_cast<float>(1.0 / std::sqrt(double(var[k]) + eps));
    detail::for_ranges(rows, 64, 3 * rows * c, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        std::size_t k = 0;
        for (const std::size_t body = k + (c - k) / vw * vw; k < body; k += vw) {
          const Vec h =
              (Vec::load_unaligned(x + r * c + k) - Vec::load_unaligned(mean + k)) * Vec::load_unaligned(inv_std + k);
          h.store_unaligned(xhat + r * c + k);
          xsimd::fma(Vec::load_unaligned(gamma + k), h, Vec::load_unaligned(beta + k)).store_unaligned(y + r * c + k);
        }
        for (; k < c; ++k) {
          const float h = (x[r * c + k] - mean[k]) * inv_std[k];
          xhat[r * c + k] = h;
          y[r * c + k] = gamma[k] * h + beta[k];
        }
      }
    });
  }

  /// wf = w * s per column, bf = beta - mean * s, s = gamma / sqrt(var + eps): the scales once, then the kernel
  /// row by row, vectorised across the output channels and threaded across rows.
  static void batchnorm_fold(const backend::BatchNormFoldArgs& a) {
    const float* w = a.w;
    float* wf = a.wf;
    const std::size_t rows = a.rows, c = a.c;
    using detail::Vec, detail::vw;
    static thread_local detail::Workspace ws;
    float* s = ws.reserve(c);
    for (std::size_t k = 0; k < c; ++k) {
      const double sk = double(a.gamma[k]) / std::sqrt(double(a.moving_var[k]) + a.eps);
      s[k] = float(sk);
      a.bf[k] = float(a.beta[k] - a.moving_mean[k] * sk);
    }
    detail::for_ranges(rows, 16, rows * c, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        std::size_t k = 0;
        for (const std::size_t body = c / vw * vw; k < body; k += vw)
          (Vec::load_unaligned(w + r * c + k) * Vec::load_unaligned(s + k)).store_unaligned(wf + r * c + k);
        for (; k < c; ++k) wf[r * c + k] = w[r * c + k] * s[k];
      }
    });
  }

  /// dx (when not null) = gamma * inv_std / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)) after a training
  /// forward, gamma * inv_std * dy after an inference one; dgamma, dbeta (when not null) = sum(dy * xhat),
  /// sum(dy) per channel.
  static void batchnorm_backward(const backend::BatchNormGradArgs& a) {
    const float *dy = a.dy, *gamma = a.gamma, *xhat = a.xhat, *inv_std = a.inv_std;
    float *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
    const std::size_t rows = a.rows, c = a.c;
    using detail::Vec, detail::vw;
    static thread_local detail::Workspace ws;
    float* sdy = ws.reserve(4 * c);
    float* sdyh = sdy + c;
    float* coef = sdyh + c;  // gamma * inv_std / m
    float* mean_dy = coef + c;  // sum(dy) / m
    detail::column_reduce(dy, dy, c, rows, c, sdy, [](auto a, auto) { return a; });
    detail::column_reduce(dy, xhat, c, rows, c, sdyh, [](auto a, auto h) { return a * h; });
    for (std::size_t k = 0; k < c; ++k) {
      if (dgamma) dgamma[k] = sdyh[k];
      if (dbeta) dbeta[k] = sdy[k];
    }
    if (!dx) return;
    const double m = double(rows);
    const bool training = a.training;
    for (std::size_t k = 0; k < c; ++k) {
      coef[k] = float(double(gamma[k]) * inv_std[k]);
      mean_dy[k] = training ? float(sdy[k] / m) : 0.0f;  // inference: the statistics are constants
      sdyh[k] = training ? float(sdyh[k] / m) : 0.0f;
    }
    // dx = coef * (dy - sum(dy)/m - xhat * sum(dy*xhat)/m)
    detail::for_ranges(rows, 64, 3 * rows * c, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        std::size_t k = 0;
        for (const std::size_t body = k + (c - k) / vw * vw; k < body; k += vw) {
          const std::size_t i = r * c + k;
          const Vec t = Vec::load_unaligned(dy + i) - Vec::load_unaligned(mean_dy + k) -
                        Vec::load_unaligned(xhat + i) * Vec::load_unaligned(sdyh + k);
          (Vec::load_unaligned(coef + k) * t).store_unaligned(dx + i);
        }
        for (; k < c; ++k) {
          const std::size_t i = r * c + k;
          dx[i] = coef[k] * (dy[i] - mean_dy[k] - xhat[i] * sdyh[k]);
        }
      }
    });
  }
};

}  // namespace siamese::cpu
