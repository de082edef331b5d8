#pragma once
// Arguments of the dense algebra kernels: matrix product, bias and its gradient.
#include <cstddef>

namespace siamese::backend {

/// gemm: row-major C = alpha * op(A) * op(B) + beta * C, op(A) m x k, op(B) k x n; beta == 0 never
/// reads C. A is stored m x k (k x m when trans_a) with row stride lda; B likewise with ldb.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  std::size_t m, n, k;
  float alpha = 1.0f;
  const float* a;
  std::size_t lda;
  const float* b;
  std::size_t ldb;
  float beta = 0.0f;
  float* c;
  std::size_t ldc;
};

/// add_bias: y[r, c] += bias[c] over a rows x cols matrix.
struct BiasArgs {
  float* y;
  const float* bias;
  std::size_t rows, cols;
};

/// bias_grad: db[c] = sum over r of dy[r, c] (overwritten).
struct BiasGradArgs {
  const float* dy;
  float* db;
  std::size_t rows, cols;
};

}  // namespace siamese::backend
