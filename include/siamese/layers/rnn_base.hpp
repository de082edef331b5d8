#pragma once
// What the recurrent layers (LSTM, GRU, Bidirectional) share: the view of a sequence input, the order
// in which a pass visits the time steps, and how the output is written from the states.
#include <cstddef>

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

/// A recurrent layer spec that can also run backwards in time: what Bidirectional wraps.
template <class R>
concept RecurrentSpec = requires { typename R::template bind_reverse<Shape<1, 1>, LayerIndex<0>>; };

}  // namespace siamese::detail
