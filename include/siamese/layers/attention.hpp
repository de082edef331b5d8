#pragma once
// MultiHeadSelfAttention<Dim, Heads>: BERT's self-attention (Hugging Face's BertSelfAttention followed
// by the dense projection of BertSelfOutput; its residual and LayerNorm are layers of their own).
#include <cmath>
#include <string>

#include "../backend/args/attention.hpp"
#include "../core/errors.hpp"
#include "layer.hpp"

namespace siamese {

namespace detail {
template <std::size_t Dim, std::size_t Heads, class In, class Pos>
struct AttentionImpl : LayerDefaults {
  static_assert(In::rank == 2,
                "MultiHeadSelfAttention expects a sequence (rank 2: positions x features), e.g. the output of an "
                "Embedding");
  static_assert(In::rank != 2 || In::dims[In::rank - 1] == Dim,
                "MultiHeadSelfAttention<Dim, Heads>: the input's feature width (its last extent) is not Dim");
  static constexpr std::size_t T = In::dims[0], D = Dim, dh = Dim / Heads;
  using in_shape = In;
  using out_shape = Shape<T, Dim>;
  /// Each projection is a (Dim, Dim) kernel in Keras' (in, out) layout followed by its bias.
  static constexpr std::size_t block = D * D + D;
  static constexpr auto params = specs(
      ParamSpec{"query/kernel", {D, D}, 2, Init::GlorotUniform, D, D}, ParamSpec{"query/bias", {D}, 1, Init::Zeros, D, D},
      ParamSpec{"key/kernel", {D, D}, 2, Init::GlorotUniform, D, D}, ParamSpec{"key/bias", {D}, 1, Init::Zeros, D, D},
      ParamSpec{"value/kernel", {D, D}, 2, Init::GlorotUniform, D, D}, ParamSpec{"value/bias", {D}, 1, Init::Zeros, D, D},
      ParamSpec{"output/kernel", {D, D}, 2, Init::GlorotUniform, D, D},
      ParamSpec{"output/bias", {D}, 1, Init::Zeros, D, D});

  /// Q, K, V and the context (n T Dim floats each), then the probabilities (n Heads T^2).
  static std::size_t scratch(std::size_t n) { return 4 * align_floats(n * T * D) + align_floats(n * Heads * T * T); }

  struct Buffers {
    float *q, *k, *v, *ctx, *probs;
  };
  static Buffers buffers(float* s, std::size_t n) {
    const std::size_t m = align_floats(n * T * D);
    return {s, s + m, s + 2 * m, s + 3 * m, s + 4 * m};
  }
  static float scale() { return 1.0f / std::sqrt(float(dh)); }
  static void check_tokens(const float* tokens, std::size_t stride) {
    if (tokens != nullptr && stride != T)
      throw ShapeError(describe() + ": the model's token ids have " + std::to_string(stride) +
                       " positions per sample, but this layer's input has " + std::to_string(T) +
                       ": the padding mask needs one id per position");
  }

  template <class B>
  static void forward(const Forward& f) {
    check_tokens(f.tokens, f.tokens_stride);
    const std::size_t rows = f.n * T;
    const Buffers s = buffers(f.scratch, f.n);
    float* qkv[3] = {s.q, s.k, s.v};
    for (std::size_t p = 0; p < 3; ++p) {
      B::gemm({.m = rows, .n = D, .k = D, .a = f.x, .lda = D, .b = f.w + p * block, .ldb = D, .c = qkv[p], .ldc = D});
      B::add_bias({.y = qkv[p], .bias = f.w + p * block + D * D, .rows = rows, .cols = D});
    }
    B::attention_forward({.q = s.q, .k = s.k, .v = s.v, .ld = D, .ctx = s.ctx, .ldc = D, .probs = s.probs,
                          .tokens = f.tokens, .tokens_stride = f.tokens_stride, .n = f.n, .T = T, .heads = Heads,
                          .head_dim = dh, .scale = scale()});
    B::gemm({.m = rows, .n = D, .k = D, .a = s.ctx, .lda = D, .b = f.w + 3 * block, .ldb = D, .c = f.y, .ldc = D});
    B::add_bias({.y = f.y, .bias = f.w + 3 * block + D * D, .rows = rows, .cols = D});
  }

  template <class B>
  static void backward(const Backward& b) {
    if (b.dw == nullptr && b.dx == nullptr) return;
    check_tokens(b.tokens, b.tokens_stride);
    const std::size_t rows = b.n * T;
    const Buffers s = buffers(b.scratch, b.n);
    const float* wo = b.w + 3 * block;
    if (b.dw) {
      B::gemm({.trans_a = true, .m = D, .n = D, .k = rows, .a = s.ctx, .lda = D, .b = b.dy, .ldb = D,
               .c = b.dw + 3 * block, .ldc = D});
      B::bias_grad({.dy = b.dy, .db = b.dw + 3 * block + D * D, .rows = rows, .cols = D});
    }
    float* dctx = s.ctx;  // the context is no longer needed
    B::gemm({.trans_b = true, .m = rows, .n = D, .k = D, .a = b.dy, .lda = D, .b = wo, .ldb = D, .c = dctx, .ldc = D});
    // Q, K, V become their gradients.
    B::attention_backward({.q = s.q, .k = s.k, .v = s.v, .ld = D, .dctx = dctx, .ldc = D, .probs = s.probs,
                           .tokens = b.tokens, .tokens_stride = b.tokens_stride, .n = b.n, .T = T, .heads = Heads,
                           .head_dim = dh, .scale = scale()});
    const float* dqkv[3] = {s.q, s.k, s.v};
    for (std::size_t p = 0; p < 3; ++p) {
      if (b.dw) {
        B::gemm({.trans_a = true, .m = D, .n = D, .k = rows, .a = b.x, .lda = D, .b = dqkv[p], .ldb = D,
                 .c = b.dw + p * block, .ldc = D});
        B::bias_grad({.dy = dqkv[p], .db = b.dw + p * block + D * D, .rows = rows, .cols = D});
      }
      if (b.dx)  // the three input gradients add up in dx
        B::gemm({.trans_b = true, .m = rows, .n = D, .k = D, .a = dqkv[p], .lda = D, .b = b.w + p * block, .ldb = D,
                 .beta = p ? 1.0f : 0.0f, .c = b.dx, .ldc = D});
    }
  }

  static std::string describe() {
    return "MultiHeadSelfAttention<" + std::to_string(Dim) + "," + std::to_string(Heads) + ">";
  }
};
}  // namespace detail

/// BERT's multi-head self-attention over a sequence: input Shape<T, Dim> (positions x features),
/// output Shape<T, Dim>. Q = x Wq + bq, K = x Wk + bk, V = x Wv + bv; for each of the Heads heads h
/// (Dim / Heads features each) A = softmax(Q_h K_h^T / sqrt(Dim / Heads) + mask), ctx_h = A V_h; then
/// y = ctx Wo + bo. Parameters, in this order: query/kernel, query/bias, key/kernel, key/bias,
/// value/kernel, value/bias, output/kernel, output/bias; kernels (Dim, Dim) in Keras' (in, out) layout
/// (Hugging Face's Linear weights transposed), glorot_uniform, biases zero.
/// Padding: when the model's input is token ids, a position whose id is 0 is padding. A padded key
/// gets weight exactly 0; a padded query attends to nothing (its context row is 0, so its output row
/// is bo) and no gradient flows through it, so a sample's valid positions give the same outputs
/// whatever padding follows. A sample that is all padding outputs bo in every row. Without token ids
/// nothing is masked. No attention dropout.
/// Scratch: 4 n T Dim floats (Q, K, V, context) plus n Heads T^2 (the probabilities kept for
/// backward): 100 MB for n = 64, T = 128, Dim = 384, Heads = 12.
/// Requires Dim to be a multiple of Heads and a rank-2 input whose last extent is Dim (compile time);
/// token ids with T positions per sample (ShapeError otherwise).
template <std::size_t Dim, std::size_t Heads>
struct MultiHeadSelfAttention {
  static_assert(Dim > 0 && Heads > 0, "MultiHeadSelfAttention needs a width and at least one head");
  static_assert(Heads == 0 || Dim % Heads == 0,
                "MultiHeadSelfAttention<Dim, Heads>: Dim must be a multiple of Heads (each head gets Dim / Heads "
                "features)");
  template <class In, class Pos>
  using bind = detail::AttentionImpl<Dim, Heads, In, Pos>;
};

}  // namespace siamese
