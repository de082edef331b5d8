#pragma once
// Reference kernels of the attention core (MultiHeadSelfAttention): scores, masked softmax, context
// and their backward pass as plain loops with double accumulation, the oracle of the fast backends.
// Arguments and layout: backend/args/attention.hpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../args/attention.hpp"

namespace siamese::backend::detail_reference {

struct AttentionKernels {
  /// Position t of sample b takes part in attention (its token id is not 0, or there are no ids).
  static bool attends(const float* tokens, std::size_t stride, std::size_t b, std::size_t t) {
    return tokens == nullptr || tokens[b * stride + t] != 0.0f;
  }

  static void attention_forward(const AttentionArgs& a) {
    const std::size_t T = a.T, dh = a.head_dim;
    std::vector<double> s(T);
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t h = 0; h < a.heads; ++h) {
        float* P = a.probs + (b * a.heads + h) * T * T;
        for (std::size_t i = 0; i < T; ++i) {
          float* ctx = a.ctx + (b * T + i) * a.ldc + h * dh;
          float* p = P + i * T;
          if (!attends(a.tokens, a.tokens_stride, b, i)) {  // a padded query attends to nothing
            std::fill(p, p + T, 0.0f);
            std::fill(ctx, ctx + dh, 0.0f);
            continue;
          }
          const float* q = a.q + (b * T + i) * a.ld + h * dh;
          double mx = -INFINITY;
          for (std::size_t j = 0; j < T; ++j) {
            if (!attends(a.tokens, a.tokens_stride, b, j)) continue;
            const float* k = a.k + (b * T + j) * a.ld + h * dh;
            double d = 0;
            for (std::size_t c = 0; c < dh; ++c) d += double(q[c]) * k[c];
            s[j] = d * a.scale;
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (std::size_t j = 0; j < T; ++j)
            if (attends(a.tokens, a.tokens_stride, b, j)) sum += (s[j] = std::exp(s[j] - mx));
          for (std::size_t j = 0; j < T; ++j)
            p[j] = attends(a.tokens, a.tokens_stride, b, j) ? float(s[j] / sum) : 0.0f;  // a padded key: exactly 0
          for (std::size_t c = 0; c < dh; ++c) {
            double acc = 0;
            for (std::size_t j = 0; j < T; ++j)
              if (p[j] != 0.0f) acc += double(p[j]) * a.v[(b * T + j) * a.ld + h * dh + c];
            ctx[c] = float(acc);
          }
        }
      }
  }

  /// dP = dctx V^T, dS = P (dP - rowsum(P dP)), dQ = scale dS K, dK = scale dS^T Q, dV = P^T dctx;
  /// a head's gradients are gathered in double, then written over its Q, K, V.
  static void attention_backward(const AttentionGradArgs& a) {
    const std::size_t T = a.T, dh = a.head_dim;
    std::vector<double> dq(T * dh), dk(T * dh), dv(T * dh), dp(T);
    for (std::size_t b = 0; b < a.n; ++b)
      for (std::size_t h = 0; h < a.heads; ++h) {
        const float* P = a.probs + (b * a.heads + h) * T * T;
        std::fill(dq.begin(), dq.end(), 0.0);
        std::fill(dk.begin(), dk.end(), 0.0);
        std::fill(dv.begin(), dv.end(), 0.0);
        auto row = [&](float* base, std::size_t t) { return base + (b * T + t) * a.ld + h * dh; };
        for (std::size_t i = 0; i < T; ++i) {
          if (!attends(a.tokens, a.tokens_stride, b, i)) continue;
          const float* g = a.dctx + (b * T + i) * a.ldc + h * dh;
          double rowdot = 0;
          for (std::size_t j = 0; j < T; ++j) {
            dp[j] = 0;
            if (!attends(a.tokens, a.tokens_stride, b, j)) continue;
            const float* v = row(a.v, j);
            for (std::size_t c = 0; c < dh; ++c) dp[j] += double(g[c]) * v[c];
            rowdot += dp[j] * P[i * T + j];
          }
          for (std::size_t j = 0; j < T; ++j) {
            if (!attends(a.tokens, a.tokens_stride, b, j)) continue;
            const double pij = P[i * T + j], ds = pij * (dp[j] - rowdot) * a.scale;
            const float *q = row(a.q, i), *k = row(a.k, j);
            for (std::size_t c = 0; c < dh; ++c) {
              dv[j * dh + c] += pij * g[c];
              dq[i * dh + c] += ds * k[c];
              dk[j * dh + c] += ds * q[c];
            }
          }
        }
        for (std::size_t t = 0; t < T; ++t)
          for (std::size_t c = 0; c < dh; ++c) {
            row(a.q, t)[c] = float(dq[t * dh + c]);
            row(a.k, t)[c] = float(dk[t * dh + c]);
            row(a.v, t)[c] = float(dv[t * dh + c]);
          }
      }
  }
};

}  // namespace siamese::backend::detail_reference
