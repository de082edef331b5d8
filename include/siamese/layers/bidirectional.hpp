#pragma once
// Bidirectional<RNN, Merge>: a recurrent layer run forwards and backwards in time, outputs merged.
#include <string>
#include <type_traits>
#include <vector>

#include "lstm.hpp"
#include "rnn_base.hpp"

namespace siamese {

/// How Bidirectional joins its two outputs: side by side (Keras' default), summed, or averaged.
enum class Merge { Concat, Sum, Average };

namespace detail {
template <class Rnn, Merge M, class In, class Pos>
struct BidirectionalImpl {
  static_assert(RecurrentSpec<Rnn>, "Bidirectional wraps a recurrent layer: LSTM<...> or GRU<...>");
  using rnn = std::conditional_t<RecurrentSpec<Rnn>, Rnn, LSTM<1>>;  // a stand-in after a failed check
  using fwd = typename rnn::template bind<In, Pos>;
  using bwd = typename rnn::template bind_reverse<In, Pos>;
  using rnn_out = typename fwd::out_shape;
  static constexpr std::size_t W = last_dim<rnn_out>, rows = leading_size<rnn_out>;
  static constexpr std::size_t OW = M == Merge::Concat ? 2 * W : W;
  using in_shape = In;
  using out_shape = std::conditional_t<rnn_out::rank == 2, Shape<rnn_out::dims[0], OW>, Shape<OW>>;
  static constexpr std::size_t half = param_count_of<fwd>();
  static constexpr std::size_t param_count = 2 * half;
  static constexpr std::size_t state_count = 0;
  static constexpr bool has_trainable_params = true;
  static constexpr bool alias = false;

  // Scratch: each direction's output and output gradient, an input-gradient buffer, their own scratch.
  struct Parts {
    float *yf, *yb, *dyf, *dyb, *dxt, *sf, *sb;
  };
  static Parts parts(float* s, std::size_t n) {
    Carver k{s};
    const std::size_t o = n * rows * W;
    return {k.take(o), k.take(o), k.take(o), k.take(o), k.take(n * In::size), k.take(fwd::scratch(n)),
            k.take(bwd::scratch(n))};
  }
  static std::size_t scratch(std::size_t n) {
    return 4 * align_floats(n * rows * W) + align_floats(n * In::size) + align_floats(fwd::scratch(n)) +
           align_floats(bwd::scratch(n));
  }

  template <class B>
  static void forward(const Forward& f) {
    const Parts p = parts(f.scratch, f.n);
    const std::size_t r = f.n * rows;
    fwd::template forward<B>(
        Forward{f.x, p.yf, f.n, f.w, f.state, p.sf, f.training, f.seed, f.tokens, f.tokens_stride});
    bwd::template forward<B>(
        Forward{f.x, p.yb, f.n, f.w + half, f.state, p.sb, f.training, f.seed + 1, f.tokens, f.tokens_stride});
    if constexpr (M == Merge::Concat) {
      B::copy_cols({.dst = f.y, .ld_dst = 2 * W, .src = p.yf, .ld_src = W, .rows = r, .cols = W});
      B::copy_cols({.dst = f.y + W, .ld_dst = 2 * W, .src = p.yb, .ld_src = W, .rows = r, .cols = W});
    } else {
      B::copy(f.y, p.yf, r * W);
      B::add(f.y, p.yb, r * W);
      if constexpr (M == Merge::Average) B::scale(f.y, 0.5f, r * W);
    }
  }
  template <class B>
  static void backward(const Backward& b) {
    const Parts p = parts(b.scratch, b.n);
    const std::size_t r = b.n * rows;
    const float *dyf = b.dy, *dyb = b.dy;
    if constexpr (M == Merge::Concat) {
      B::copy_cols({.dst = p.dyf, .ld_dst = W, .src = b.dy, .ld_src = 2 * W, .rows = r, .cols = W});
      B::copy_cols({.dst = p.dyb, .ld_dst = W, .src = b.dy + W, .ld_src = 2 * W, .rows = r, .cols = W});
      dyf = p.dyf;
      dyb = p.dyb;
    } else if constexpr (M == Merge::Average) {
      B::copy(p.dyf, b.dy, r * W);
      B::scale(p.dyf, 0.5f, r * W);
      dyf = dyb = p.dyf;
    }
    fwd::template backward<B>(Backward{b.x, p.yf, dyf, b.dx, b.n, b.w, b.dw, b.state, p.sf, b.tokens, b.tokens_stride, b.training});
    bwd::template backward<B>(Backward{b.x, p.yb, dyb, b.dx ? p.dxt : nullptr, b.n, b.w + half,
                                       b.dw ? b.dw + half : nullptr, b.state, p.sb, b.tokens,
                                       b.tokens_stride, b.training});
    if (b.dx) B::add(b.dx, p.dxt, b.n * In::size);
  }
  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    detail::collect<fwd>(out, prefix + "forward/", offset, trainable, states);
    detail::collect<bwd>(out, prefix + "backward/", offset + (states ? 0 : half), trainable, states);
  }
  static std::string describe() {
    return "Bidirectional<" + fwd::describe() + (M == Merge::Concat ? ",concat>" : M == Merge::Sum ? ",sum>" : ",ave>");
  }
};
}  // namespace detail

/// A recurrent layer (LSTM or GRU) run over the sequence forwards and, with its own weights,
/// backwards; the two outputs (last states, or sequences aligned step by step) are merged by M.
/// Parameters: the forward layer's, then the backward layer's ("forward/kernel", ...).
template <class RNN, Merge M = Merge::Concat>
struct Bidirectional {
  template <class In>
  static constexpr bool accepts = In::rank == 2;
  template <class In, class Pos>
  using bind = detail::BidirectionalImpl<RNN, M, In, Pos>;
};

}  // namespace siamese
