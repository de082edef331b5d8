#pragma once
// ClsPool: the first position of a sequence (BERT's [CLS] token) as the sequence's vector.
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <class In, class Pos>
struct ClsPoolImpl : LayerDefaults {
  static_assert(In::rank == 2, "ClsPool expects a sequence (rank 2: positions, features), e.g. Shape<128, 384>");
  static constexpr std::size_t T = In::dims[0], D = In::dims[1];
  using in_shape = In;
  using out_shape = Shape<D>;
  template <class B>
  static void forward(const Forward& f) {
    B::copy_cols({.dst = f.y, .ld_dst = D, .src = f.x, .ld_src = T * D, .rows = f.n, .cols = D});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (!b.dx) return;
    B::fill(b.dx, 0.0f, b.n * T * D);
    B::copy_cols({.dst = b.dx, .ld_dst = T * D, .src = b.dy, .ld_src = D, .rows = b.n, .cols = D});
  }
  static std::string describe() { return "ClsPool"; }
};
}  // namespace detail

/// (T, D) -> (D): the row at position 0 (the [CLS] token of BERT's input), as BERT's pooler reads it; the
/// other positions get no gradient.
struct ClsPool {
  template <class In, class Pos>
  using bind = detail::ClsPoolImpl<In, Pos>;
};

}  // namespace siamese
