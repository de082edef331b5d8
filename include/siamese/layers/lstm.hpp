#pragma once
// LSTM<Units>: a long short-term memory layer over a sequence, with Keras' weight layout.
#include <cstddef>

#include "rnn_base.hpp"

namespace siamese {

namespace detail {
/// LSTM's cell for RecurrentImpl: four gates i, f, c, o activated in place in the input projection (z),
/// to which the recurrence adds; cell states c kept from forward, dL/dc carried backward.
template <std::size_t U, class In>
struct LSTMCell {
  static_assert(In::rank == 2, "LSTM expects a sequence input (rank 2: time steps, features), e.g. after Embedding");
  static constexpr std::size_t units = U, gates = 4;
  static constexpr const char* name = "LSTM";
  static constexpr bool accumulate_recurrence = true;
  static constexpr ParamSpec bias_spec(std::size_t F) { return {"bias", {4 * U}, 1, Init::UnitForgetBias, F, 4 * U}; }

  struct Extra {
    float *c, *dc;
  };
  template <std::size_t T>
  static Extra extra(Carver& k, std::size_t n) {
    return {k.take(n * T * U), k.take(n * U)};
  }
  template <std::size_t T>
  static std::size_t extra_size(std::size_t n) {
    return align_floats(n * T * U) + align_floats(n * U);
  }
  static float* recurrent(const auto& p) { return p.xw; }
  static float* d_recurrent(const auto& p) { return p.dxw; }  // dL/dz: the projections share it

  template <class B, std::size_t T>
  static void step_forward(const auto& p, std::size_t n, std::size_t t, std::size_t tp, const float*,
                           const float* mask) {
    B::lstm_step_forward(
        {.n = n, .steps = T, .units = U, .t = t, .tp = tp, .z = p.xw, .c = p.cell.c, .h = p.h, .mask = mask});
  }
  template <class B>
  static void begin_backward(const auto& p, std::size_t n) {
    B::fill(p.cell.dc, 0.0f, n * U);
  }
  template <class B, std::size_t T>
  static void step_backward(const auto& p, std::size_t n, std::size_t t, std::size_t tp, const float* dy,
                            const float* mask) {
    B::lstm_step_backward({.n = n,
                           .steps = T,
                           .units = U,
                           .t = t,
                           .tp = tp,
                           .z = p.xw,
                           .c = p.cell.c,
                           .dy = dy,
                           .mask = mask,
                           .dh = p.dh,
                           .dc = p.cell.dc,
                           .dz = p.dxw});
  }
  template <class B, std::size_t T>
  static void bias_grad(const auto& p, float* db, std::size_t n) {
    B::bias_grad({.dy = p.dxw, .db = db, .rows = n * T, .cols = 4 * U});
  }
};

}  // namespace detail

/// A long short-term memory layer of Units cells over a sequence Shape<T, F>: output Shape<Units> (the
/// last state) or, with ReturnSequences, Shape<T, Units>. Keras' layout and initialisers: kernel
/// (F, 4u) glorot_uniform, recurrent_kernel (u, 4u) orthogonal, bias (4u) with the forget gate's
/// quarter at 1 (unit_forget_bias); gate order i, f, c, o; tanh and sigmoid.
/// Masked (default): a step whose input row is exactly zero (Embedding's padding) is skipped, the
/// state carried over unchanged, as Keras does under mask_zero; a returned sequence holds a zero row
/// there (Keras' zero_output_for_mask), so the mask reaches the next sequence layer.
template <std::size_t Units, bool ReturnSequences = false, bool Masked = true>
struct LSTM : detail::RecurrentSpecOf<detail::LSTMCell, Units, ReturnSequences, Masked> {
  static_assert(Units > 0, "LSTM needs at least one unit");
};

}  // namespace siamese
