#pragma once
// Reference kernels of the text-encoder layers (GELU, LayerNorm, L2Normalize, masked mean pooling,
// BertEmbeddings): plain loops in double, the oracle for backend::Cpu and backend::Cuda. The contracts are
// those of the argument structs (backend/args/bert_layers.hpp).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "../../layers/token_ids.hpp"
#include "../args/bert_layers.hpp"

namespace siamese::backend::detail_reference {

struct BertKernels {
  /// Phi(v), the standard normal CDF, from erfc (no cancellation for v < 0).
  static double normal_cdf(double v) { return 0.5 * std::erfc(-v / std::sqrt(2.0)); }
  static float gelu1(float v) { return float(double(v) * normal_cdf(v)); }
  static float gelu_grad1(float v) {
    const double d = v;
    return float(normal_cdf(d) + d * std::exp(-0.5 * d * d) / std::sqrt(2.0 * 3.14159265358979323846));
  }

  static void gelu_forward(const GeluArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r)
      for (std::size_t c = 0; c < a.cols; ++c) {
        const std::size_t i = r * a.cols + c;
        const float z = a.bias ? a.x[i] + a.bias[c] : a.x[i];
        if (a.pre) a.pre[i] = z;
        a.y[i] = gelu1(z);
      }
  }
  static void gelu_backward(const GeluBackwardArgs& a) {
    for (std::size_t i = 0; i < a.n; ++i) a.dx[i] = a.dy[i] * gelu_grad1(a.pre[i]);
  }

  static void layernorm_forward(const LayerNormArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r) {
      const float* x = a.x + r * a.cols;
      double mean = 0, var = 0;
      for (std::size_t c = 0; c < a.cols; ++c) mean += x[c];
      mean /= double(a.cols);
      for (std::size_t c = 0; c < a.cols; ++c) var += (x[c] - mean) * (x[c] - mean);
      var /= double(a.cols);
      const double rstd = 1.0 / std::sqrt(var + double(a.eps));
      if (a.mean) a.mean[r] = float(mean);
      if (a.rstd) a.rstd[r] = float(rstd);
      for (std::size_t c = 0; c < a.cols; ++c)
        a.y[r * a.cols + c] = float(a.gamma[c] * ((x[c] - mean) * rstd) + a.beta[c]);
    }
  }
  static void layernorm_backward(const LayerNormBackwardArgs& a) {
    const std::size_t C = a.cols;
    if (a.dgamma) std::fill(a.dgamma, a.dgamma + C, 0.0f);
    if (a.dbeta) std::fill(a.dbeta, a.dbeta + C, 0.0f);
    for (std::size_t c = 0; c < C && a.dgamma; ++c) {
      double sg = 0, sb = 0;
      for (std::size_t r = 0; r < a.rows; ++r) {
        const double xh = (a.x[r * C + c] - double(a.mean[r])) * a.rstd[r];
        sg += a.dy[r * C + c] * xh;
        sb += a.dy[r * C + c];
      }
      a.dgamma[c] = float(sg);
      if (a.dbeta) a.dbeta[c] = float(sb);
    }
    if (!a.dx) return;
    for (std::size_t r = 0; r < a.rows; ++r) {
      double sg = 0, sgx = 0;
      for (std::size_t c = 0; c < C; ++c) {
        const double xh = (a.x[r * C + c] - double(a.mean[r])) * a.rstd[r], g = double(a.dy[r * C + c]) * a.gamma[c];
        sg += g;
        sgx += g * xh;
      }
      for (std::size_t c = 0; c < C; ++c) {  // reads x and dy at [r, c] before writing dx there: they may alias
        const double xh = (a.x[r * C + c] - double(a.mean[r])) * a.rstd[r], g = double(a.dy[r * C + c]) * a.gamma[c];
        a.dx[r * C + c] = float(a.rstd[r] * (g - sg / double(C) - xh * sgx / double(C)));
      }
    }
  }

  static void l2_normalize_forward(const L2NormalizeArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r) {
      double s = 0;
      for (std::size_t c = 0; c < a.cols; ++c) s += double(a.x[r * a.cols + c]) * a.x[r * a.cols + c];
      const double norm = std::sqrt(s);
      if (a.norm) a.norm[r] = float(norm);
      for (std::size_t c = 0; c < a.cols; ++c)
        a.y[r * a.cols + c] = float(a.x[r * a.cols + c] / std::max(norm, double(a.eps)));
    }
  }
  static void l2_normalize_backward(const L2NormalizeBackwardArgs& a) {
    for (std::size_t r = 0; r < a.rows; ++r) {
      const float* y = a.y + r * a.cols;
      const float* dy = a.dy + r * a.cols;
      const bool clamped = !(a.norm[r] > a.eps);
      double dot = 0;
      for (std::size_t c = 0; c < a.cols && !clamped; ++c) dot += double(y[c]) * dy[c];
      const double s = 1.0 / (clamped ? double(a.eps) : double(a.norm[r]));
      for (std::size_t c = 0; c < a.cols; ++c) a.dx[r * a.cols + c] = float((dy[c] - y[c] * dot) * s);
    }
  }

  static void masked_mean_pool_forward(const MaskedMeanPoolArgs& a) {
    for (std::size_t b = 0; b < a.n; ++b) {
      std::size_t count = 0;
      for (std::size_t t = 0; t < a.steps; ++t) count += valid(a.tokens, a.tokens_stride, b, t);
      for (std::size_t k = 0; k < a.dim; ++k) {
        double s = 0;
        for (std::size_t t = 0; t < a.steps; ++t)
          if (valid(a.tokens, a.tokens_stride, b, t)) s += a.x[(b * a.steps + t) * a.dim + k];
        a.y[b * a.dim + k] = count ? float(s / double(count)) : 0.0f;
      }
    }
  }
  static void masked_mean_pool_backward(const MaskedMeanPoolBackwardArgs& a) {
    for (std::size_t b = 0; b < a.n; ++b) {
      std::size_t count = 0;
      for (std::size_t t = 0; t < a.steps; ++t) count += valid(a.tokens, a.tokens_stride, b, t);
      for (std::size_t t = 0; t < a.steps; ++t)
        for (std::size_t k = 0; k < a.dim; ++k)
          a.dx[(b * a.steps + t) * a.dim + k] =
              valid(a.tokens, a.tokens_stride, b, t) ? float(double(a.dy[b * a.dim + k]) / double(count)) : 0.0f;
    }
  }

  static void bert_embeddings_forward(const BertEmbeddingsArgs& a) {
    if (!all_token_ids(a.ids, a.rows, a.vocab))
      check_token_ids(a.ids, a.rows, a.steps, a.vocab,
                      "BertEmbeddings<" + std::to_string(a.vocab) + "," + std::to_string(a.dim) + ">");
    for (std::size_t i = 0; i < a.rows; ++i) {
      const std::size_t id = static_cast<std::size_t>(a.ids[i]), t = i % a.steps;
      for (std::size_t k = 0; k < a.dim; ++k)
        a.sum[i * a.dim + k] = float(double(a.word[id * a.dim + k]) + a.position[t * a.dim + k] + a.token_type[k]);
    }
  }
  static void bert_embeddings_backward(const BertEmbeddingsBackwardArgs& a) {
    std::fill(a.dword, a.dword + a.vocab * a.dim, 0.0f);
    std::fill(a.dposition, a.dposition + a.max_len * a.dim, 0.0f);
    std::fill(a.dtoken_type, a.dtoken_type + a.type_vocab * a.dim, 0.0f);
    for (std::size_t i = 0; i < a.rows; ++i) {
      const std::size_t id = static_cast<std::size_t>(a.ids[i]), t = i % a.steps;
      for (std::size_t k = 0; k < a.dim; ++k) {
        const float g = a.dsum[i * a.dim + k];
        if (id != 0 && id < a.vocab) a.dword[id * a.dim + k] += g;
        a.dposition[t * a.dim + k] += g;
        a.dtoken_type[k] += g;
      }
    }
  }

 private:
  static bool valid(const float* tokens, std::size_t stride, std::size_t b, std::size_t t) {
    return !tokens || tokens[b * stride + t] != 0.0f;
  }
};

}  // namespace siamese::backend::detail_reference
