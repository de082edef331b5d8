#pragma once
// GRU<Units>: a gated recurrent unit layer over a sequence, with Keras' reset_after=True layout.
#include <string>
#include <type_traits>

#include "rnn_base.hpp"

namespace siamese {

namespace detail {
template <std::size_t U, bool Seq, bool Masked, bool Reverse, class In, class Pos>
struct GRUImpl : LayerDefaults {
  static_assert(In::rank == 2, "GRU expects a sequence input (rank 2: time steps, features), e.g. after Embedding");
  static constexpr std::size_t T = SequenceDims<In>::T, F = SequenceDims<In>::F, G = 3 * U;
  using order = TimeOrder<T, Reverse>;
  using in_shape = In;
  using out_shape = std::conditional_t<Seq, Shape<T, U>, Shape<U>>;
  static constexpr auto params = specs(ParamSpec{"kernel", {F, G}, 2, Init::GlorotUniform, F, G},
                                       ParamSpec{"recurrent_kernel", {U, G}, 2, Init::Orthogonal, U, G},
                                       ParamSpec{"bias", {2, G}, 2, Init::Zeros, F, G});

  // Kept from forward: activated gates [z, r, hh] (xp), recurrent pre-activations h_prev R + b_rec
  // (rp), states h, the mask. Backward only: gradients of xp and rp, states shifted by a step, dL/dh.
  struct Parts {
    float *xp, *rp, *h, *mask, *dxp, *drp, *hp, *dh;
  };
  static Parts parts(float* s, std::size_t n) {
    Carver k{s};
    return {k.take(n * T * G), k.take(n * T * G), k.take(n * T * U), k.take(n * T),
            k.take(n * T * G), k.take(n * T * G), k.take(n * T * U), k.take(n * U)};
  }
  static std::size_t scratch(std::size_t n) {
    return 4 * align_floats(n * T * G) + 2 * align_floats(n * T * U) + align_floats(n * T) + align_floats(n * U);
  }

  template <class B>
  static void forward(const Forward& f) {
    const std::size_t n = f.n;
    const Parts p = parts(f.scratch, n);
    const float *wk = f.w, *wr = f.w + F * G, *bias = wr + U * G;
    const float* mask = Masked ? p.mask : nullptr;
    B::gemm({.m = n * T, .n = G, .k = F, .a = f.x, .lda = F, .b = wk, .ldb = G, .c = p.xp, .ldc = G});
    B::add_bias({.y = p.xp, .bias = bias, .rows = n * T, .cols = G});
    if constexpr (Masked) B::row_mask({.x = f.x, .mask = p.mask, .rows = n * T, .cols = F});
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
                 .c = p.rp + t * G,
                 .ldc = T * G});
      B::gru_step_forward({.n = n,
                           .steps = T,
                           .units = U,
                           .t = t,
                           .tp = tp,
                           .xp = p.xp,
                           .rp = p.rp,
                           .brec = bias + G,
                           .h = p.h,
                           .mask = mask});
    }
    write_recurrent_output<B, T, U, Seq, Reverse>(f.y, p.h, mask, n);
  }

  template <class B>
  static void backward(const Backward& b) {
    const std::size_t n = b.n;
    const Parts p = parts(b.scratch, n);
    const float *wk = b.w, *wr = b.w + F * G;
    const float* mask = Masked ? p.mask : nullptr;
    if constexpr (Seq) B::fill(p.dh, 0.0f, n * U);
    else B::copy(p.dh, b.dy, n * U);
    for (std::size_t s = T; s-- > 0;) {
      const std::size_t t = order::at(s), tp = order::prev(s);
      B::gru_step_backward({.n = n,
                            .steps = T,
                            .units = U,
                            .t = t,
                            .tp = tp,
                            .xp = p.xp,
                            .rp = p.rp,
                            .h = p.h,
                            .dy = Seq ? b.dy : nullptr,
                            .mask = mask,
                            .dh = p.dh,
                            .dxp = p.dxp,
                            .drp = p.drp});
      if (s > 0)
        B::gemm({.trans_b = true,
                 .m = n,
                 .n = U,
                 .k = G,
                 .a = p.drp + t * G,
                 .lda = T * G,
                 .b = wr,
                 .ldb = G,
                 .beta = 1.0f,
                 .c = p.dh,
                 .ldc = U});
    }
    if (b.dw) {
      float* db = b.dw + F * G + U * G;
      B::gemm(
          {.trans_a = true, .m = F, .n = G, .k = n * T, .a = b.x, .lda = F, .b = p.dxp, .ldb = G, .c = b.dw, .ldc = G});
      B::shift_time({.dst = p.hp, .src = p.h, .n = n, .steps = T, .width = U, .reverse = Reverse});
      B::gemm({.trans_a = true,
               .m = U,
               .n = G,
               .k = n * T,
               .a = p.hp,
               .lda = U,
               .b = p.drp,
               .ldb = G,
               .c = b.dw + F * G,
               .ldc = G});
      B::bias_grad({.dy = p.dxp, .db = db, .rows = n * T, .cols = G});
      B::bias_grad({.dy = p.drp, .db = db + G, .rows = n * T, .cols = G});
    }
    if (b.dx)
      B::gemm(
          {.trans_b = true, .m = n * T, .n = F, .k = G, .a = p.dxp, .lda = G, .b = wk, .ldb = G, .c = b.dx, .ldc = F});
  }
  static std::string describe() {
    return "GRU<" + std::to_string(U) + (Seq ? ",sequences" : "") + (Masked ? "" : ",unmasked") + ">";
  }
};
}  // namespace detail

/// A gated recurrent unit layer of Units cells over a sequence Shape<T, F>: output Shape<Units> (the
/// last state) or, with ReturnSequences, Shape<T, Units>. Keras' default (reset_after=True) layout:
/// kernel (F, 3u) glorot_uniform, recurrent_kernel (u, 3u) orthogonal, bias (2, 3u) zeros (row 0 for
/// the input, row 1 for the recurrence); gates z, r, h:
///   z = sigmoid(x Wz + bz + h Rz + b'z), r = sigmoid(x Wr + br + h Rr + b'r),
///   hh = tanh(x Wh + bh + r * (h Rh + b'h)), h_new = z * h + (1 - z) * hh.
/// Masked (default): as LSTM, an all-zero input row is a padding step that carries the state over.
template <std::size_t Units, bool ReturnSequences = false, bool Masked = true>
struct GRU {
  static_assert(Units > 0, "GRU needs at least one unit");
  template <class In>
  static constexpr bool accepts = In::rank == 2;
  template <class In, class Pos>
  using bind = detail::GRUImpl<Units, ReturnSequences, Masked, false, In, Pos>;
  /// The same layer running from the last step to the first, its output aligned with the input.
  template <class In, class Pos>
  using bind_reverse = detail::GRUImpl<Units, ReturnSequences, Masked, true, In, Pos>;
};

}  // namespace siamese
