#pragma once
// backend::Cuda's dense algebra: row-major GEMM through cuBLAS (column-major), bias and its gradient.
#include <cstddef>

#include "../args/dense.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct DenseOps {
  /// Row-major C = alpha op(A) op(B) + beta C; beta == 0 never reads C. A row-major matrix is its
  /// transpose in column-major order, so cuBLAS computes C^T = op(B)^T op(A)^T: operands swapped.
  static void gemm(const GemmArgs& g) {
    const bool ta = g.trans_a, tb = g.trans_b;
    const std::size_t m = g.m, n = g.n, k = g.k, lda = g.lda, ldb = g.ldb, ldc = g.ldc;
    const float alpha = g.alpha, beta = g.beta;
    const float *a = g.a, *b = g.b;
    float* c = g.c;
    if (m == 0 || n == 0) return;
    if (k == 0) {  // C = beta C, without asking cuBLAS about an empty product
      X::launch("gemm (k = 0)", m * n, [=] __host__ __device__(std::size_t i) {
        float& v = c[(i / n) * ldc + i % n];
        v = beta == 0.0f ? 0.0f : beta * v;
      });
      return;
    }
    X::sgemm(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
  }
  /// y[r, c] += bias[c]
  static void add_bias(const BiasArgs& a) {
    float* y = a.y;
    const float* bias = a.bias;
    const std::size_t rows = a.rows, cols = a.cols;
    if (cols == 0) return;
    X::launch("add_bias", rows * cols, [=] __host__ __device__(std::size_t i) { y[i] += bias[i % cols]; });
  }
  /// db[c] = sum_r dy[r, c], in double, by channel_sums (block-level tree reductions on the device; a
  /// matrix product with a row of ones would leave cuBLAS a 1-row output to parallelise).
  static void bias_grad(const BiasGradArgs& a) {
    const float* dy = a.dy;
    float* db = a.db;
    const std::size_t rows = a.rows, cols = a.cols;
    if (cols == 0) return;
    double* sums = static_cast<double*>(X::scratch(Slot::Stats, cols * sizeof(double)));
    channel_sums<X>("bias_grad", rows, cols,
                    [=] __host__ __device__(std::size_t r, std::size_t k) { return double(dy[r * cols + k]); }, sums);
    X::launch("bias_grad", cols, [=] __host__ __device__(std::size_t k) { db[k] = static_cast<float>(sums[k]); });
  }
};

}  // namespace siamese::backend::detail_cuda
