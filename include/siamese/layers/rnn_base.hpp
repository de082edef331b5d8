#pragma once
// What the recurrent layers (LSTM, GRU, Bidirectional) share: the view of a sequence input, the order
// in which a pass visits the time steps, how the output is written from the states, and RecurrentImpl,
// the layer around a cell (LSTM's or GRU's), which holds the input projection, the recurrence over time,
// the weight gradients and the masking they have in common.
#include <cstddef>
#include <string>
#include <type_traits>

#include "layer.hpp"

namespace siamese::detail {

/// A recurrent layer's input Shape<T, F>; the extents stay well-formed after a failed rank check.
template <class In>
struct SequenceDims {
  static constexpr std::size_t T = In::dims[0], F = In::size / In::dims[0];
};

/// Step s of a pass visits time at(s); the state entering it is the one of time prev(s), where T
/// stands for the zero initial state. A reverse pass (Bidirectional's backward layer) runs from T-1.
template <std::size_t T, bool Reverse>
struct TimeOrder {
  static constexpr std::size_t at(std::size_t s) { return Reverse ? T - 1 - s : s; }
  static constexpr std::size_t prev(std::size_t s) { return s == 0 ? T : Reverse ? T - s : s - 1; }
  static constexpr std::size_t last = Reverse ? 0 : T - 1;  // the time of the final state
};

/// Writes the output of a recurrent layer from its states h (n, T, U): the whole sequence, masked
/// steps as zero rows (so that the next layer sees the mask), or the final state (n, U).
template <class B, std::size_t T, std::size_t U, bool Sequences, bool Reverse>
void write_recurrent_output(float* y, const float* h, const float* mask, std::size_t n) {
  if constexpr (Sequences) {
    B::copy(y, h, n * T * U);
    if (mask) B::scale_rows({.y = y, .s = mask, .rows = n * T, .cols = U});
  } else {
    B::copy_cols(
        {.dst = y, .ld_dst = U, .src = h + TimeOrder<T, Reverse>::last * U, .ld_src = T * U, .rows = n, .cols = U});
  }
}

/// Carves consecutive SIMD-aligned blocks out of a scratch buffer.
struct Carver {
  float* at;
  float* take(std::size_t count) {
    float* p = at;
    at += align_floats(count);
    return p;
  }
};

/// A recurrent layer of the gated cell Cell over a sequence In = Shape<T, F>, in Keras' layout: kernel
/// (F, G) and recurrent_kernel (U, G), G = Cell::gates * U, then the cell's bias. The input projection
/// x W + b of every step is one GEMM; each step then adds its recurrent projection h_prev R (one small
/// GEMM) and runs the cell's step kernel. Backward runs the step kernels from the last step, carrying
/// dL/dh through R, then forms the weight gradients in three GEMMs. Masked: an all-zero input row is a
/// padding step that carries the state over. Reverse: the pass runs from the last step to the first.
///
/// A Cell provides: `units`, `gates`, `name`; `bias_spec(F)`; `Extra`, the scratch it keeps beyond the
/// shared parts, with `extra(carver, n)` and `extra_size(n)`; `accumulate_recurrence` (whether h_prev R
/// adds into the input projection, or sets a buffer of its own; `recurrent(p)` is where); `step_forward`,
/// `begin_backward`, `step_backward`; `d_recurrent(p)`, the gradient that flows through R; `bias_grad`.
template <class Cell, bool Seq, bool Masked, bool Reverse, class In, class Pos>
struct RecurrentImpl : LayerDefaults {
  static constexpr std::size_t T = SequenceDims<In>::T, F = SequenceDims<In>::F, U = Cell::units,
                               G = Cell::gates * U;
  using order = TimeOrder<T, Reverse>;
  using in_shape = In;
  using out_shape = std::conditional_t<Seq, Shape<T, U>, Shape<U>>;
  static constexpr auto params = specs(ParamSpec{"kernel", {F, G}, 2, Init::GlorotUniform, F, G},
                                       ParamSpec{"recurrent_kernel", {U, G}, 2, Init::Orthogonal, U, G},
                                       Cell::bias_spec(F));

  // Kept from forward: the input projection (the cell may activate it in place), states h (all steps), the
  // mask, the cell's own. Backward only: the gradient of the input projection, states shifted by one step,
  // the running dL/dh, and the cell's own.
  struct Parts {
    float *xw, *h, *mask, *dxw, *hp, *dh;
    typename Cell::Extra cell;
  };
  static Parts parts(float* s, std::size_t n) {
    Carver k{s};
    Parts p{k.take(n * T * G), k.take(n * T * U), k.take(n * T), k.take(n * T * G), k.take(n * T * U), k.take(n * U),
            {}};
    p.cell = Cell::template extra<T>(k, n);
    return p;
  }
  static std::size_t scratch(std::size_t n) {
    return 2 * align_floats(n * T * G) + 2 * align_floats(n * T * U) + align_floats(n * T) + align_floats(n * U) +
           Cell::template extra_size<T>(n);
  }

  template <class B>
  static void forward(const Forward& f) {
    const std::size_t n = f.n;
    const Parts p = parts(f.scratch, n);
    const float *wk = f.w, *wr = f.w + F * G, *bias = wr + U * G;
    const float* mask = Masked ? p.mask : nullptr;
    // The input projection of every step at once; then one small GEMM per step for the recurrence.
    B::gemm({.m = n * T, .n = G, .k = F, .a = f.x, .lda = F, .b = wk, .ldb = G, .c = p.xw, .ldc = G});
    B::add_bias({.y = p.xw, .bias = bias, .rows = n * T, .cols = G});
    if constexpr (Masked) B::row_mask({.x = f.x, .mask = p.mask, .rows = n * T, .cols = F});
    float* rec = Cell::recurrent(p);
    for (std::size_t s = 0; s < T; ++s) {
      const std::size_t t = order::at(s), tp = order::prev(s);
      if (s > 0)
        B::gemm({.m = n,
                 .n = G,
                 .k = U,
                 .a = p.h + tp * U,
                 .lda = T * U,
                 .b = wr,
                 .ldb = G,
                 .beta = Cell::accumulate_recurrence ? 1.0f : 0.0f,
                 .c = rec + t * G,
                 .ldc = T * G});
      Cell::template step_forward<B, T>(p, n, t, tp, bias, mask);
    }
    write_recurrent_output<B, T, U, Seq, Reverse>(f.y, p.h, mask, n);
  }

  template <class B>
  static void backward(const Backward& b) {
    const std::size_t n = b.n;
    const Parts p = parts(b.scratch, n);
    const float *wk = b.w, *wr = b.w + F * G;
    const float* mask = Masked ? p.mask : nullptr;
    float* drec = Cell::d_recurrent(p);
    Cell::template begin_backward<B>(p, n);
    if constexpr (Seq) B::fill(p.dh, 0.0f, n * U);
    else B::copy(p.dh, b.dy, n * U);
    for (std::size_t s = T; s-- > 0;) {  // backward through time
      const std::size_t t = order::at(s), tp = order::prev(s);
      Cell::template step_backward<B, T>(p, n, t, tp, Seq ? b.dy : nullptr, mask);
      if (s > 0)
        B::gemm({.trans_b = true,
                 .m = n,
                 .n = U,
                 .k = G,
                 .a = drec + t * G,
                 .lda = T * G,
                 .b = wr,
                 .ldb = G,
                 .beta = 1.0f,
                 .c = p.dh,
                 .ldc = U});
    }
    if (b.dw) {
      B::gemm(
          {.trans_a = true, .m = F, .n = G, .k = n * T, .a = b.x, .lda = F, .b = p.dxw, .ldb = G, .c = b.dw, .ldc = G});
      B::shift_time({.dst = p.hp, .src = p.h, .n = n, .steps = T, .width = U, .reverse = Reverse});
      B::gemm({.trans_a = true,
               .m = U,
               .n = G,
               .k = n * T,
               .a = p.hp,
               .lda = U,
               .b = drec,
               .ldb = G,
               .c = b.dw + F * G,
               .ldc = G});
      Cell::template bias_grad<B, T>(p, b.dw + F * G + U * G, n);
    }
    if (b.dx)
      B::gemm(
          {.trans_b = true, .m = n * T, .n = F, .k = G, .a = p.dxw, .lda = G, .b = wk, .ldb = G, .c = b.dx, .ldc = F});
  }
  static std::string describe() {
    return std::string(Cell::name) + "<" + std::to_string(U) + (Seq ? ",sequences" : "") +
           (Masked ? "" : ",unmasked") + ">";
  }
};

/// The layer spec of a recurrent layer of cell Cell: what LSTM<...> and GRU<...> are.
template <template <std::size_t, class> class Cell, std::size_t Units, bool ReturnSequences, bool Masked>
struct RecurrentSpecOf {
  template <class In>
  static constexpr bool accepts = In::rank == 2;
  template <class In, class Pos>
  using bind = RecurrentImpl<Cell<Units, In>, ReturnSequences, Masked, false, In, Pos>;
  /// The same layer running from the last step to the first, its output aligned with the input.
  template <class In, class Pos>
  using bind_reverse = RecurrentImpl<Cell<Units, In>, ReturnSequences, Masked, true, In, Pos>;
};

/// A recurrent layer spec that can also run backwards in time: what Bidirectional wraps.
template <class R>
concept RecurrentSpec = requires { typename R::template bind_reverse<Shape<1, 1>, LayerIndex<0>>; };

}  // namespace siamese::detail
