#pragma once
// GlobalMaxPool1D, GlobalAvgPool1D: pooling over the time steps of a sequence, skipping padding.
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <bool IsMax, class In, class Pos>
struct TimePoolImpl : LayerDefaults {
  static_assert(In::rank == 2,
                "GlobalMaxPool1D/GlobalAvgPool1D expect a sequence (rank 2: time steps, features); use "
                "GlobalMaxPool2D/GlobalAvgPool2D for images");
  static constexpr std::size_t T = In::dims[0], C = In::size / In::dims[0];
  using in_shape = In;
  using out_shape = Shape<C>;
  template <class B>
  static void forward(const Forward& f) {
    B::masked_time_pool_forward({.is_max = IsMax, .x = f.x, .y = f.y, .n = f.n, .rows = T, .c = C});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dx)
      B::masked_time_pool_backward(
          {.is_max = IsMax, .x = b.x, .y = b.y, .dy = b.dy, .dx = b.dx, .n = b.n, .rows = T, .c = C});
  }
  static std::string describe() { return IsMax ? "GlobalMaxPool1D" : "GlobalAvgPool1D"; }
};
}  // namespace detail

/// Max over the time steps of a sequence (T, C) -> (C), per feature. Mask-aware: steps whose row is
/// exactly zero (padding after Embedding, LSTM<..., true>, GRU<..., true>) are left out, as Keras does
/// under mask_zero; a sequence of padding only gives zeros. To pool every step, use GlobalMaxPool2D.
struct GlobalMaxPool1D {
  template <class In>
  static constexpr bool accepts = In::rank == 2;
  template <class In, class Pos>
  using bind = detail::TimePoolImpl<true, In, Pos>;
};

/// Mean over the unmasked time steps of a sequence (T, C) -> (C): the average of the rows that are not
/// exactly zero (Keras' GlobalAveragePooling1D under mask_zero). To average every step, use
/// GlobalAvgPool2D.
struct GlobalAvgPool1D {
  template <class In>
  static constexpr bool accepts = In::rank == 2;
  template <class In, class Pos>
  using bind = detail::TimePoolImpl<false, In, Pos>;
};

}  // namespace siamese
