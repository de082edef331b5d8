#pragma once
// backend::Cuda's kernels of the text-encoder layers (GELU, LayerNorm, L2Normalize, masked mean pooling,
// BertEmbeddings), the counterparts of backend/reference/bert_kernels.hpp with the same argument structs. Row
// statistics are one thread per row (in double), element-wise passes one thread per element.
#include <cmath>
#include <cstddef>
#include <limits>

#include "../args/bert_layers.hpp"
#include "common.cuh"

namespace siamese::backend::detail_cuda {

/// Phi(v) from erfc (no cancellation below 0), and GELU with its derivative, as Reference computes them.
__host__ __device__ inline float normal_cdf(float v) { return 0.5f * ::erfcf(-v * 0.70710678118654752f); }
__host__ __device__ inline float gelu1(float v) { return v * normal_cdf(v); }
__host__ __device__ inline float gelu_grad1(float v) {
  const float c = v < -16.0f ? -16.0f : v > 16.0f ? 16.0f : v;  // phi is 0 beyond: infinities give 0 or 1
  return normal_cdf(v) + c * ::expf(-0.5f * c * c) * 0.39894228040143268f;
}

template <class X>
struct BertOps {
  // ---- GELU ----------------------------------------------------------------------------------------------
  static void gelu_forward(const GeluArgs& a) {
    const GeluArgs g = a;
    X::launch("gelu_forward", a.rows * a.cols, [=] __host__ __device__(std::size_t i) {
      const float z = g.bias ? g.x[i] + g.bias[i % g.cols] : g.x[i];
      if (g.pre) g.pre[i] = z;
      g.y[i] = gelu1(z);
    });
  }
  static void gelu_backward(const GeluBackwardArgs& a) {
    const GeluBackwardArgs g = a;
    X::launch("gelu_backward", a.n, [=] __host__ __device__(std::size_t i) { g.dx[i] = g.dy[i] * gelu_grad1(g.pre[i]); });
  }

  // ---- LayerNorm -------------------------------------------------------------------------------------------
  static void layernorm_forward(const LayerNormArgs& a) {
    if (a.rows == 0 || a.cols == 0) return;
    // mean and rstd where asked, else in the Stats slot
    float* st = (!a.mean || !a.rstd) ? static_cast<float*>(X::scratch(Slot::Stats, 2 * a.rows * sizeof(float))) : nullptr;
    float* mean = a.mean ? a.mean : st;
    float* rstd = a.rstd ? a.rstd : st + a.rows;
    const LayerNormArgs g = a;
    X::launch("layernorm_forward (rows)", a.rows, [=] __host__ __device__(std::size_t r) {
      const float* x = g.x + r * g.cols;
      double m = 0, v = 0;
      for (std::size_t c = 0; c < g.cols; ++c) m += x[c];
      m /= double(g.cols);
      for (std::size_t c = 0; c < g.cols; ++c) v += (x[c] - m) * (x[c] - m);
      mean[r] = float(m);
      rstd[r] = float(1.0 / ::sqrt(v / double(g.cols) + double(g.eps)));
    });
    X::launch("layernorm_forward", a.rows * a.cols, [=] __host__ __device__(std::size_t i) {
      const std::size_t r = i / g.cols, c = i % g.cols;
      g.y[i] = g.gamma[c] * ((g.x[i] - mean[r]) * rstd[r]) + g.beta[c];
    });
  }
  static void layernorm_backward(const LayerNormBackwardArgs& a) {
    if (a.rows == 0 || a.cols == 0) return;
    const LayerNormBackwardArgs g = a;
    if (a.dgamma) {  // before dx, which may overwrite x
      double* sums = static_cast<double*>(X::scratch(Slot::Stats, 2 * a.cols * sizeof(double)));
      channel_sums<X>("layernorm_backward (parameters)", a.rows, a.cols,
                      [=] __host__ __device__(std::size_t r, std::size_t c) {
                        const std::size_t i = r * g.cols + c;
                        return double(g.dy[i]) * ((g.x[i] - g.mean[r]) * g.rstd[r]);
                      },
                      sums);
      channel_sums<X>("layernorm_backward (parameters)", a.rows, a.cols,
                      [=] __host__ __device__(std::size_t r, std::size_t c) { return double(g.dy[r * g.cols + c]); },
                      sums + a.cols);
      X::launch("layernorm_backward (parameters)", a.cols, [=] __host__ __device__(std::size_t c) {
        g.dgamma[c] = float(sums[c]);
        if (g.dbeta) g.dbeta[c] = float(sums[g.cols + c]);
      });
    }
    if (!a.dx) return;
    float* rs = static_cast<float*>(X::scratch(Slot::Temp, 2 * a.rows * sizeof(float)));
    X::launch("layernorm_backward (rows)", a.rows, [=] __host__ __device__(std::size_t r) {
      double sg = 0, sgx = 0;
      for (std::size_t c = 0; c < g.cols; ++c) {
        const std::size_t i = r * g.cols + c;
        const double q = double(g.dy[i]) * g.gamma[c];
        sg += q;
        sgx += q * ((g.x[i] - g.mean[r]) * g.rstd[r]);
      }
      rs[r] = float(sg / double(g.cols));
      rs[g.rows + r] = float(sgx / double(g.cols));
    });
    X::launch("layernorm_backward", a.rows * a.cols, [=] __host__ __device__(std::size_t i) {
      const std::size_t r = i / g.cols, c = i % g.cols;
      const float xh = (g.x[i] - g.mean[r]) * g.rstd[r];
      g.dx[i] = g.rstd[r] * (g.dy[i] * g.gamma[c] - rs[r] - xh * rs[g.rows + r]);
    });
  }

  // ---- L2Normalize -------------------------------------------------------------------------------------------
  static void l2_normalize_forward(const L2NormalizeArgs& a) {
    if (a.rows == 0 || a.cols == 0) return;
    float* norm = a.norm ? a.norm : static_cast<float*>(X::scratch(Slot::Stats, a.rows * sizeof(float)));
    const L2NormalizeArgs g = a;
    X::launch("l2_normalize_forward (rows)", a.rows, [=] __host__ __device__(std::size_t r) {
      double s = 0;
      for (std::size_t c = 0; c < g.cols; ++c) s += double(g.x[r * g.cols + c]) * g.x[r * g.cols + c];
      norm[r] = float(::sqrt(s));
    });
    X::launch("l2_normalize_forward", a.rows * a.cols, [=] __host__ __device__(std::size_t i) {
      const float nr = norm[i / g.cols];
      g.y[i] = g.x[i] / (nr > g.eps ? nr : g.eps);
    });
  }
  static void l2_normalize_backward(const L2NormalizeBackwardArgs& a) {
    if (a.rows == 0 || a.cols == 0) return;
    float* dot = static_cast<float*>(X::scratch(Slot::Stats, a.rows * sizeof(float)));
    const L2NormalizeBackwardArgs g = a;
    X::launch("l2_normalize_backward (rows)", a.rows, [=] __host__ __device__(std::size_t r) {
      double s = 0;
      for (std::size_t c = 0; c < g.cols && g.norm[r] > g.eps; ++c) s += double(g.y[r * g.cols + c]) * g.dy[r * g.cols + c];
      dot[r] = float(s);
    });
    X::launch("l2_normalize_backward", a.rows * a.cols, [=] __host__ __device__(std::size_t i) {
      const std::size_t r = i / g.cols;
      const bool clamped = !(g.norm[r] > g.eps);
      g.dx[i] = (g.dy[i] - g.y[i] * dot[r]) / (clamped ? g.eps : g.norm[r]);
    });
  }

  // ---- masked mean pooling -------------------------------------------------------------------------------------
  /// inv[b] = 1 / (the number of positions that enter sample b's mean), 0 when none.
  static float* inverse_counts(const float* tokens, std::size_t stride, std::size_t n, std::size_t steps) {
    float* inv = static_cast<float*>(X::scratch(Slot::Mask, n * sizeof(float)));
    X::launch("masked_mean_pool (counts)", n, [=] __host__ __device__(std::size_t b) {
      std::size_t count = 0;
      for (std::size_t t = 0; t < steps; ++t) count += !tokens || tokens[b * stride + t] != 0.0f;
      inv[b] = count ? 1.0f / float(count) : 0.0f;
    });
    return inv;
  }
  static void masked_mean_pool_forward(const MaskedMeanPoolArgs& a) {
    if (a.n == 0 || a.dim == 0) return;
    const float* inv = inverse_counts(a.tokens, a.tokens_stride, a.n, a.steps);
    const MaskedMeanPoolArgs g = a;
    X::launch("masked_mean_pool_forward", a.n * a.dim, [=] __host__ __device__(std::size_t i) {
      const std::size_t b = i / g.dim, k = i % g.dim;
      double s = 0;
      for (std::size_t t = 0; t < g.steps; ++t)
        if (!g.tokens || g.tokens[b * g.tokens_stride + t] != 0.0f) s += g.x[(b * g.steps + t) * g.dim + k];
      g.y[i] = float(s * inv[b]);
    });
  }
  static void masked_mean_pool_backward(const MaskedMeanPoolBackwardArgs& a) {
    if (a.n == 0 || a.dim == 0) return;
    const float* inv = inverse_counts(a.tokens, a.tokens_stride, a.n, a.steps);
    const MaskedMeanPoolBackwardArgs g = a;
    X::launch("masked_mean_pool_backward", a.n * a.steps * a.dim, [=] __host__ __device__(std::size_t i) {
      const std::size_t k = i % g.dim, bt = i / g.dim, b = bt / g.steps, t = bt % g.steps;
      const bool valid = !g.tokens || g.tokens[b * g.tokens_stride + t] != 0.0f;
      g.dx[i] = valid ? g.dy[b * g.dim + k] * inv[b] : 0.0f;
    });
  }

  // ---- BertEmbeddings ------------------------------------------------------------------------------------------
  /// A bad id gives a NaN row (a kernel cannot throw), so that the loss turns NaN; models check ids beforehand.
  static void bert_embeddings_forward(const BertEmbeddingsArgs& a) {
    if (a.dim == 0) return;
    const BertEmbeddingsArgs g = a;
    X::launch("bert_embeddings_forward", a.rows * a.dim, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / g.dim, k = e % g.dim;
      const float v = g.ids[i];
      if (!(v >= 0.0f && v < float(g.vocab) && v == ::floorf(v))) {
        g.sum[e] = std::numeric_limits<float>::quiet_NaN();
        return;
      }
      const std::size_t id = static_cast<std::size_t>(v);
      g.sum[e] = g.word[id * g.dim + k] + g.position[(i % g.steps) * g.dim + k] + g.token_type[k];
    });
  }
  static void bert_embeddings_backward(const BertEmbeddingsBackwardArgs& a) {
    if (a.dim == 0) return;
    const BertEmbeddingsBackwardArgs g = a;
    X::zero(a.dword, a.vocab * a.dim * sizeof(float));
    X::launch("bert_embeddings_backward (words)", a.rows * a.dim, [=] __host__ __device__(std::size_t e) {
      const std::size_t i = e / g.dim, k = e % g.dim;
      const float v = g.ids[i];
      if (!(v >= 1.0f && v < float(g.vocab))) return;  // id 0 ([PAD]) gets no gradient
      atomic_add(g.dword + static_cast<std::size_t>(v) * g.dim + k, g.dsum[e]);
    });
    const std::size_t n = a.rows / a.steps;
    X::launch("bert_embeddings_backward (positions)", a.max_len * a.dim, [=] __host__ __device__(std::size_t e) {
      const std::size_t t = e / g.dim, k = e % g.dim;
      double s = 0;
      for (std::size_t b = 0; b < n && t < g.steps; ++b) s += g.dsum[(b * g.steps + t) * g.dim + k];
      g.dposition[e] = float(s);
    });
    X::launch("bert_embeddings_backward (token types)", a.type_vocab * a.dim, [=] __host__ __device__(std::size_t e) {
      double s = 0;
      for (std::size_t t = 0; t < g.steps && e < g.dim; ++t) s += g.dposition[t * g.dim + e];
      g.dtoken_type[e] = float(s);
    });
  }
};

}  // namespace siamese::backend::detail_cuda
