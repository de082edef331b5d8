#pragma once
// LayerNorm<Eps>: normalisation over the last axis of each sample's rows (Keras LayerNormalization(axis=-1),
// PyTorch nn.LayerNorm(dim)).
#include <cstdio>
#include <string>

#include "../backend/args/bert_layers.hpp"
#include "layer.hpp"

namespace siamese {

namespace detail {
inline std::string float_name(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(v));
  return buf;
}

template <float Eps, class In, class Pos>
struct LayerNormImpl : LayerDefaults {
  static constexpr std::size_t C = last_dim<In>, R = leading_size<In>;
  using in_shape = In;
  using out_shape = In;
  static constexpr auto params = specs(ParamSpec{"gamma", {C}, 1, Init::Ones, C, C},
                                       ParamSpec{"beta", {C}, 1, Init::Zeros, C, C});
  // mean and 1/std of each row, for backward (which recomputes the normalised rows from its input)
  static std::size_t scratch(std::size_t n) { return 2 * align_floats(n * R); }
  template <class B>
  static void forward(const Forward& f) {
    B::layernorm_forward({.x = f.x, .y = f.y, .gamma = f.w, .beta = f.w + C, .mean = f.scratch,
                          .rstd = f.scratch + align_floats(f.n * R), .rows = f.n * R, .cols = C, .eps = Eps});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (!b.dx && !b.dw) return;
    B::layernorm_backward({.x = b.x, .dy = b.dy, .gamma = b.w, .mean = b.scratch,
                           .rstd = b.scratch + align_floats(b.n * R), .dx = b.dx, .dgamma = b.dw,
                           .dbeta = b.dw ? b.dw + C : nullptr, .rows = b.n * R, .cols = C});
  }
  static std::string describe() { return "LayerNorm<" + float_name(Eps) + ">"; }
};
}  // namespace detail

/// Layer normalisation over the last axis, for inputs of any rank: each row of C values becomes
/// gamma * (x - mean) / sqrt(var + Eps) + beta (biased variance), with trainable gamma (ones) and beta (zeros)
/// of C values, as Keras names them. The same in training and inference (no moving statistics).
/// Eps defaults to 1e-5, PyTorch's nn.LayerNorm default (Keras uses 1e-3); BERT and all-MiniLM-L6-v2 use
/// 1e-12: LayerNorm<1e-12f> (BertEmbeddings does).
template <float Eps = 1e-5f>
struct LayerNorm {
  static_assert(Eps >= 0.0f, "LayerNorm: Eps must not be negative");
  template <class In, class Pos>
  using bind = detail::LayerNormImpl<Eps, In, Pos>;
};

}  // namespace siamese
