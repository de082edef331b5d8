#pragma once
// GRU<Units>: a gated recurrent unit layer over a sequence, with Keras' reset_after=True layout.
#include <cstddef>

#include "rnn_base.hpp"

namespace siamese {

namespace detail {
/// GRU's cell (reset_after=True) for RecurrentImpl: three gates z, r, hh activated in place in the input
/// projection; the recurrence h_prev R + b_rec goes to a buffer of its own (rp), as the reset gate
/// multiplies it, and its gradient (drp) is what flows back through R.
template <std::size_t U, class In>
struct GRUCell {
  static_assert(In::rank == 2, "GRU expects a sequence input (rank 2: time steps, features), e.g. after Embedding");
  static constexpr std::size_t units = U, gates = 3;
  static constexpr const char* name = "GRU";
  static constexpr bool accumulate_recurrence = false;
  static constexpr ParamSpec bias_spec(std::size_t F) { return {"bias", {2, 3 * U}, 2, Init::Zeros, F, 3 * U}; }

  struct Extra {
    float *rp, *drp;
  };
  template <std::size_t T>
  static Extra extra(Carver& k, std::size_t n) {
    return {k.take(n * T * 3 * U), k.take(n * T * 3 * U)};
  }
  template <std::size_t T>
  static std::size_t extra_size(std::size_t n) {
    return 2 * align_floats(n * T * 3 * U);
  }
  static float* recurrent(const auto& p) { return p.cell.rp; }
  static float* d_recurrent(const auto& p) { return p.cell.drp; }

  template <class B, std::size_t T>
  static void step_forward(const auto& p, std::size_t n, std::size_t t, std::size_t tp, const float* bias,
                           const float* mask) {
    B::gru_step_forward({.n = n,
                         .steps = T,
                         .units = U,
                         .t = t,
                         .tp = tp,
                         .xp = p.xw,
                         .rp = p.cell.rp,
                         .brec = bias + 3 * U,  // bias row 1: the recurrence's
                         .h = p.h,
                         .mask = mask});
  }
  template <class B>
  static void begin_backward(const auto&, std::size_t) {}
  template <class B, std::size_t T>
  static void step_backward(const auto& p, std::size_t n, std::size_t t, std::size_t tp, const float* dy,
                            const float* mask) {
    B::gru_step_backward({.n = n,
                          .steps = T,
                          .units = U,
                          .t = t,
                          .tp = tp,
                          .xp = p.xw,
                          .rp = p.cell.rp,
                          .h = p.h,
                          .dy = dy,
                          .mask = mask,
                          .dh = p.dh,
                          .dxp = p.dxw,
                          .drp = p.cell.drp});
  }
  template <class B, std::size_t T>
  static void bias_grad(const auto& p, float* db, std::size_t n) {
    B::bias_grad({.dy = p.dxw, .db = db, .rows = n * T, .cols = 3 * U});
    B::bias_grad({.dy = p.cell.drp, .db = db + 3 * U, .rows = n * T, .cols = 3 * U});
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
struct GRU : detail::RecurrentSpecOf<detail::GRUCell, Units, ReturnSequences, Masked> {
  static_assert(Units > 0, "GRU needs at least one unit");
};

}  // namespace siamese
