#pragma once
// MaskedMeanPool: the mean of a sequence's rows over its real tokens (sentence-transformers' mean pooling).
#include <string>

#include "../backend/args/bert_layers.hpp"
#include "../core/errors.hpp"
#include "layer.hpp"

namespace siamese {

namespace detail {
template <class In, class Pos>
struct MaskedMeanPoolImpl : LayerDefaults {
  static_assert(In::rank == 2, "MaskedMeanPool expects a sequence (rank 2: positions, features), e.g. Shape<128, 384>");
  static constexpr std::size_t T = In::dims[0], D = In::dims[1];
  using in_shape = In;
  using out_shape = Shape<D>;
  static void check(const float* tokens, std::size_t stride) {
    if (tokens && stride < T)
      throw ShapeError("MaskedMeanPool: the model's token ids have " + std::to_string(stride) +
                       " positions per sample, fewer than the " + std::to_string(T) + " positions it pools");
  }
  template <class B>
  static void forward(const Forward& f) {
    check(f.tokens, f.tokens_stride);
    B::masked_mean_pool_forward(
        {.x = f.x, .y = f.y, .tokens = f.tokens, .tokens_stride = f.tokens_stride, .n = f.n, .steps = T, .dim = D});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (!b.dx) return;
    check(b.tokens, b.tokens_stride);
    B::masked_mean_pool_backward(
        {.dy = b.dy, .dx = b.dx, .tokens = b.tokens, .tokens_stride = b.tokens_stride, .n = b.n, .steps = T, .dim = D});
  }
  static std::string describe() { return "MaskedMeanPool"; }
};
}  // namespace detail

/// (T, D) -> (D): the mean over the positions t whose token id (the model's input, Forward::tokens) is not 0,
/// the attention-mask-weighted mean pooling of sentence-transformers. Position t of the sequence is token t of
/// the input. Without token ids (a model whose input is not ids) the mean over all T positions. A sample with
/// no real token gives zeros, not NaN.
struct MaskedMeanPool {
  template <class In, class Pos>
  using bind = detail::MaskedMeanPoolImpl<In, Pos>;
};

}  // namespace siamese
