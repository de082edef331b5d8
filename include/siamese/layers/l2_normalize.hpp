#pragma once
// L2Normalize<Eps>: each row divided by its Euclidean norm (sentence-transformers' Normalize layer).
#include <string>

#include "../backend/args/bert_layers.hpp"
#include "layer_norm.hpp"

namespace siamese {

namespace detail {
template <float Eps, class In, class Pos>
struct L2NormalizeImpl : LayerDefaults {
  static constexpr std::size_t C = last_dim<In>, R = leading_size<In>;
  using in_shape = In;
  using out_shape = In;
  static std::size_t scratch(std::size_t n) { return n * R; }  // each row's norm
  template <class B>
  static void forward(const Forward& f) {
    B::l2_normalize_forward({.x = f.x, .y = f.y, .norm = f.scratch, .rows = f.n * R, .cols = C, .eps = Eps});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dx)
      B::l2_normalize_backward(
          {.y = b.y, .dy = b.dy, .norm = b.scratch, .dx = b.dx, .rows = b.n * R, .cols = C, .eps = Eps});
  }
  static std::string describe() { return "L2Normalize<" + float_name(Eps) + ">"; }
};
}  // namespace detail

/// Scales each row of the last axis to unit Euclidean length: y = x / max(|x|, Eps), as PyTorch's
/// F.normalize(x, p=2, dim=-1, eps=1e-12) that sentence-transformers applies to all-MiniLM-L6-v2's embedding.
/// A zero row gives a zero row (never NaN), and so does its gradient; below Eps the map is x / Eps, whose
/// gradient is dy / Eps. Keeps the shape; no parameters.
template <float Eps = 1e-12f>
struct L2Normalize {
  static_assert(Eps > 0.0f, "L2Normalize: Eps must be positive (it is what keeps a zero row from giving NaN)");
  template <class In, class Pos>
  using bind = detail::L2NormalizeImpl<Eps, In, Pos>;
};

}  // namespace siamese
