#pragma once
// Arguments of the attention core kernels (attention_forward, attention_backward), shared by every
// backend. The core is what lies between the projections of MultiHeadSelfAttention: per sample b and
// head h, A = softmax(scale * Q_h K_h^T + mask) and ctx_h = A V_h.
//
// Layout: q, k, v and ctx are (n, T, heads * head_dim) row-major with row stride ld; head h of row
// (b, t) is the head_dim floats at (b * T + t) * ld + h * head_dim. probs is (n, heads, T, T).
// Padding: position t of sample b is padding when tokens[b * tokens_stride + t] == 0 (tokens in the
// backend's memory; nullptr: nothing is masked). A padded key gets probability exactly 0; a padded
// query attends to nothing: its probability row and its ctx row are 0, and no gradient flows through it.
#include <cstddef>

namespace siamese::backend {

struct AttentionArgs {
  const float* q;
  const float* k;
  const float* v;
  std::size_t ld;  // row stride of q, k, v (floats)
  float* ctx;      // out: context, row stride ldc; rows of padded queries are 0
  std::size_t ldc;
  float* probs;    // out: kept for attention_backward; probs[b][h][i][j] is the probability of key j for
                   // query i when both are valid; other entries are unspecified (the fast backends skip them)
  const float* tokens;
  std::size_t tokens_stride;
  std::size_t n, T, heads, head_dim;
  float scale;     // 1 / sqrt(head_dim) in BERT
};

/// The backward pass of the core, after an attention_forward with the same q, k, v, tokens and sizes.
/// It works in place: q, k and v receive dQ, dK and dV (their values are read first), and probs is
/// used as workspace (its contents are lost). Gradient rows of padded positions are 0.
struct AttentionGradArgs {
  float* q;  // in: Q; out: dL/dQ
  float* k;  // in: K; out: dL/dK
  float* v;  // in: V; out: dL/dV
  std::size_t ld;
  const float* dctx;  // dL/dctx, row stride ldc (rows of padded queries are ignored)
  std::size_t ldc;
  float* probs;  // in: attention_forward's probabilities; out: unspecified
  const float* tokens;
  std::size_t tokens_stride;
  std::size_t n, T, heads, head_dim;
  float scale;
};

}  // namespace siamese::backend
