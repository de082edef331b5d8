#pragma once
// backend::Cuda's attention core (MultiHeadSelfAttention): per head, one cuBLAS strided batched GEMM over
// the samples for the scores and one for the context, and a masked softmax kernel with a thread per
// row; backward likewise. Same contract as Reference (backend/args/attention.hpp); the whole T x T
// block is computed and the mask applied in the softmax (padded keys and queries get probability 0).
#include <cstddef>
#include <string>

#include "../args/attention.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

template <class X>
struct AttentionOps {
  /// Row-major C_i = alpha op(A_i) op(B_i) + beta C_i for i < count, X_i = x + i * stride_x: cuBLAS'
  /// strided batched SGEMM on the device (operands swapped for column-major, as DenseOps::gemm does),
  /// a loop of X::sgemm on the host.
  static void gemm_batched(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                           std::size_t lda, std::size_t sa, const float* b, std::size_t ldb, std::size_t sb, float beta,
                           float* c, std::size_t ldc, std::size_t sc, std::size_t count) {
    if (m == 0 || n == 0 || k == 0 || count == 0) return;
    if constexpr (X::on_device) {
      for (std::size_t v : {m, n, k, lda, ldb, ldc, count})
        if (v > std::size_t(INT_MAX))
          throw CudaError("backend::Cuda: batched gemm extent " + std::to_string(v) + " exceeds cuBLAS' int range");
      Context& ctx = Context::get();
      check(cublasSgemmStridedBatched(ctx.blas_for_gemm(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      int(n), int(m), int(k), &alpha, b, int(ldb), static_cast<long long>(sb), a,
                                      int(lda), static_cast<long long>(sa), &beta, c, int(ldc),
                                      static_cast<long long>(sc), int(count)),
            "cublasSgemmStridedBatched (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " +
                std::to_string(k) + ", batch " + std::to_string(count) + ")");
      if (ctx.sync_each_launch()) check(cudaStreamSynchronize(ctx.stream()), "cublasSgemmStridedBatched");
    } else {
      for (std::size_t i = 0; i < count; ++i)
        X::sgemm(tb, ta, n, m, k, alpha, b + i * sb, ldb, a + i * sa, lda, beta, c + i * sc, ldc);
    }
  }

  static void attention_forward(const AttentionArgs& a) {
    const std::size_t n = a.n, T = a.T, H = a.heads, dh = a.head_dim, ld = a.ld, ldc = a.ldc;
    if (n == 0 || T == 0 || H == 0 || dh == 0) return;
    float* const probs = a.probs;
    for (std::size_t h = 0; h < H; ++h)
      gemm_batched(false, true, T, T, dh, a.scale, a.q + h * dh, ld, T * ld, a.k + h * dh, ld, T * ld, 0.0f,
                   probs + h * T * T, T, H * T * T, n);
    const float* const tok = a.tokens;
    const std::size_t ts = a.tokens_stride;
    // One thread per (sample, head, query) row: a padded query gets a zero row, a padded key 0.
    X::launch("attention softmax", n * H * T, [=] __host__ __device__(std::size_t r) {
      const std::size_t b = r / (H * T), i = r % T;
      float* p = probs + r * T;
      auto valid = [=](std::size_t t) { return tok == nullptr || tok[b * ts + t] != 0.0f; };
      if (!valid(i)) {
        for (std::size_t j = 0; j < T; ++j) p[j] = 0.0f;
        return;
      }
      float m = -3.402823466e38f;
      for (std::size_t j = 0; j < T; ++j)
        if (valid(j)) m = max_of(m, p[j]);
      float sum = 0.0f;
      for (std::size_t j = 0; j < T; ++j) {
        const float e = valid(j) ? ::expf(p[j] - m) : 0.0f;
        p[j] = e;
        sum += e;
      }
      const float inv = 1.0f / sum;
      for (std::size_t j = 0; j < T; ++j) p[j] *= inv;
    });
    for (std::size_t h = 0; h < H; ++h)
      gemm_batched(false, false, T, dh, T, 1.0f, probs + h * T * T, T, H * T * T, a.v + h * dh, ld, T * ld, 0.0f,
                   a.ctx + h * dh, ldc, T * ldc, n);
  }

  /// Per head: dP = dctx V^T (scratch), dV = P^T dctx over V, dS = scale P (dP - rowsum(P dP)) over dP,
  /// dQ = dS K (scratch, then over Q once K has been used), dK = dS^T Q over K.
  static void attention_backward(const AttentionGradArgs& a) {
    const std::size_t n = a.n, T = a.T, H = a.heads, dh = a.head_dim, ld = a.ld, ldc = a.ldc;
    if (n == 0 || T == 0 || H == 0 || dh == 0) return;
    float* const dp = static_cast<float*>(X::scratch(Slot::Temp, n * T * T * sizeof(float)));
    float* const dq = static_cast<float*>(X::scratch(Slot::Columns, n * T * dh * sizeof(float)));
    const float* const probs = a.probs;
    const float scale = a.scale;
    for (std::size_t h = 0; h < H; ++h) {
      float *qh = a.q + h * dh, *kh = a.k + h * dh, *vh = a.v + h * dh;
      const float* gh = a.dctx + h * dh;
      const float* ph = probs + h * T * T;
      gemm_batched(false, true, T, T, dh, 1.0f, gh, ldc, T * ldc, vh, ld, T * ld, 0.0f, dp, T, T * T, n);
      gemm_batched(true, false, T, dh, T, 1.0f, ph, T, H * T * T, gh, ldc, T * ldc, 0.0f, vh, ld, T * ld, n);
      X::launch("attention softmax backward", n * T, [=] __host__ __device__(std::size_t r) {
        const std::size_t b = r / T, i = r % T;
        const float* p = ph + (b * H * T + i) * T;
        float* d = dp + r * T;
        float dot = 0.0f;
        for (std::size_t j = 0; j < T; ++j) dot += p[j] * d[j];
        for (std::size_t j = 0; j < T; ++j) d[j] = scale * p[j] * (d[j] - dot);
      });
      gemm_batched(false, false, T, dh, T, 1.0f, dp, T, T * T, kh, ld, T * ld, 0.0f, dq, dh, T * dh, n);
      gemm_batched(true, false, T, dh, T, 1.0f, dp, T, T * T, qh, ld, T * ld, 0.0f, kh, ld, T * ld, n);
      X::launch("attention dQ", n * T * dh, [=] __host__ __device__(std::size_t e) {
        qh[(e / dh) * ld + e % dh] = dq[e];
      });
    }
  }
};

}  // namespace siamese::backend::detail_cuda
