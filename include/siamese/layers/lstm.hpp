#pragma once
// LSTM<Units>: a long short-term memory layer over a sequence, with Keras' weight layout.
#include <string>
#include <type_traits>

#include "rnn_base.hpp"

namespace siamese {

namespace detail {
template <std::size_t U, bool Seq, bool Masked, RecurrentInit I, bool Reverse, class In, class Pos>
struct LSTMImpl : LayerDefaults {
  static_assert(In::rank == 2, "LSTM expects a sequence input (rank 2: time steps, features), e.g. after Embedding");
  static constexpr std::size_t T = SequenceDims<In>::T, F = SequenceDims<In>::F, G = 4 * U;
  using order = TimeOrder<T, Reverse>;
  using in_shape = In;
  using out_shape = std::conditional_t<Seq, Shape<T, U>, Shape<U>>;
  static constexpr bool keras = I == RecurrentInit::Keras;
  // PyTorch draws every tensor uniformly in +-1/sqrt(units): UniformFanIn with fan_in = U.
  static constexpr auto params =
      specs(ParamSpec{"kernel", {F, G}, 2, keras ? Init::GlorotUniform : Init::UniformFanIn, keras ? F : U, G},
            ParamSpec{"recurrent_kernel", {U, G}, 2, keras ? Init::Orthogonal : Init::UniformFanIn, U, G},
            ParamSpec{"bias", {G}, 1, keras ? Init::UnitForgetBias : Init::UniformFanIn, keras ? F : U, G});

  // Kept from forward: activated gates z, cell states c, hidden states h (all steps), the mask.
  // Backward only: gate gradients dz, states shifted by one step, the running dL/dh and dL/dc.
  struct Parts {
    float *z, *c, *h, *mask, *dz, *hp, *dh, *dc;
  };
  static Parts parts(float* s, std::size_t n) {
    Carver k{s};
    return {k.take(n * T * G), k.take(n * T * U), k.take(n * T * U), k.take(n * T),
            k.take(n * T * G), k.take(n * T * U), k.take(n * U),     k.take(n * U)};
  }
  static std::size_t scratch(std::size_t n) {
    return 2 * align_floats(n * T * G) + 3 * align_floats(n * T * U) + align_floats(n * T) + 2 * align_floats(n * U);
  }

  template <class B>
  static void forward(const Forward& f) {
    const std::size_t n = f.n;
    const Parts p = parts(f.scratch, n);
    const float *wk = f.w, *wr = f.w + F * G, *bias = wr + U * G;
    const float* mask = Masked ? p.mask : nullptr;
    // The input projection of every step at once; then one small GEMM per step for the recurrence.
    B::gemm(false, false, n * T, G, F, 1.0f, f.x, F, wk, G, 0.0f, p.z, G);
    B::add_bias(p.z, bias, n * T, G);
    if constexpr (Masked) B::row_mask(f.x, p.mask, n * T, F);
    for (std::size_t s = 0; s < T; ++s) {
      const std::size_t t = order::at(s), tp = order::prev(s);
      if (s > 0) B::gemm(false, false, n, G, U, 1.0f, p.h + tp * U, T * U, wr, G, 1.0f, p.z + t * G, T * G);
      B::lstm_step_forward(n, T, U, t, tp, p.z, p.c, p.h, mask);
    }
    write_recurrent_output<B, T, U, Seq, Reverse>(f.y, p.h, mask, n);
  }

  template <class B>
  static void backward(const Backward& b) {
    const std::size_t n = b.n;
    const Parts p = parts(b.scratch, n);
    const float *wk = b.w, *wr = b.w + F * G;
    const float* mask = Masked ? p.mask : nullptr;
    B::fill(p.dc, 0.0f, n * U);
    if constexpr (Seq) B::fill(p.dh, 0.0f, n * U);
    else B::copy(p.dh, b.dy, n * U);
    for (std::size_t s = T; s-- > 0;) {  // backward through time
      const std::size_t t = order::at(s), tp = order::prev(s);
      B::lstm_step_backward(n, T, U, t, tp, p.z, p.c, Seq ? b.dy : nullptr, mask, p.dh, p.dc, p.dz);
      if (s > 0) B::gemm(false, true, n, U, G, 1.0f, p.dz + t * G, T * G, wr, G, 1.0f, p.dh, U);
    }
    if (b.dw) {
      B::gemm(true, false, F, G, n * T, 1.0f, b.x, F, p.dz, G, 0.0f, b.dw, G);
      B::shift_time(p.hp, p.h, n, T, U, Reverse);
      B::gemm(true, false, U, G, n * T, 1.0f, p.hp, U, p.dz, G, 0.0f, b.dw + F * G, G);
      B::bias_grad(p.dz, b.dw + F * G + U * G, n * T, G);
    }
    if (b.dx) B::gemm(false, true, n * T, F, G, 1.0f, p.dz, G, wk, G, 0.0f, b.dx, F);
  }
  static std::string describe() {
    return "LSTM<" + std::to_string(U) + (Seq ? ",sequences" : "") + (Masked ? "" : ",unmasked") + ">";
  }
};
}  // namespace detail

/// A long short-term memory layer of Units cells over a sequence Shape<T, F>: output Shape<Units> (the
/// last state) or, with ReturnSequences, Shape<T, Units>. Keras' layout and initialisers: kernel
/// (F, 4u) glorot_uniform, recurrent_kernel (u, 4u) orthogonal, bias (4u) with the forget gate's
/// quarter at 1 (unit_forget_bias); gate order i, f, c, o; tanh and sigmoid.
/// I: RecurrentInit::Keras (default) as above; RecurrentInit::PyTorch as nn.LSTM, every tensor
/// uniform in +-1/sqrt(Units) (nn.LSTM's two biases b_ih + b_hh are one bias here, drawn once).
/// Masked (default): a step whose input row is exactly zero (Embedding's padding) is skipped, the
/// state carried over unchanged, as Keras does under mask_zero; a returned sequence holds a zero row
/// there (Keras' zero_output_for_mask), so the mask reaches the next sequence layer.
template <std::size_t Units, bool ReturnSequences = false, bool Masked = true, RecurrentInit I = RecurrentInit::Keras>
struct LSTM {
  static_assert(Units > 0, "LSTM needs at least one unit");
  template <class In>
  static constexpr bool accepts = In::rank == 2;
  template <class In, class Pos>
  using bind = detail::LSTMImpl<Units, ReturnSequences, Masked, I, false, In, Pos>;
  /// The same layer running from the last step to the first, its output aligned with the input.
  template <class In, class Pos>
  using bind_reverse = detail::LSTMImpl<Units, ReturnSequences, Masked, I, true, In, Pos>;
};

}  // namespace siamese
