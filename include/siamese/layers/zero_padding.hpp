#pragma once
// ZeroPadding2D<Top, Bottom, Left, Right>: rows and columns of zeros around each channels-last image, as Keras'
// ZeroPadding2D(((top, bottom), (left, right))). It runs the fill and block-copy kernels; no kernel of its own.
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <std::size_t Top, std::size_t Bottom, std::size_t Left, std::size_t Right, class In, class Pos>
struct ZeroPadding2DImpl : LayerDefaults {
  static_assert(In::rank == 3, "ZeroPadding2D expects an input of rank 3 (height, width, channels)");
  static constexpr std::size_t H = In::dims[0], W = In::rank == 3 ? In::dims[1] : 1,
                               C = In::rank == 3 ? In::dims[2] : 1;
  static constexpr std::size_t OH = H + Top + Bottom, OW = W + Left + Right;
  using in_shape = In;
  using out_shape = Shape<OH, OW, C>;

  template <class B>
  static void forward(const Forward& f) {
    B::fill(f.y, 0.0f, f.n * out_shape::size);
    for (std::size_t s = 0; s < f.n; ++s)
      B::copy_cols({.dst = f.y + s * out_shape::size + (Top * OW + Left) * C,
                    .ld_dst = OW * C,
                    .src = f.x + s * In::size,
                    .ld_src = W * C,
                    .rows = H,
                    .cols = W * C});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (!b.dx) return;
    for (std::size_t s = 0; s < b.n; ++s)
      B::copy_cols({.dst = b.dx + s * In::size,
                    .ld_dst = W * C,
                    .src = b.dy + s * out_shape::size + (Top * OW + Left) * C,
                    .ld_src = OW * C,
                    .rows = H,
                    .cols = W * C});
  }
  static std::string describe() {
    return "ZeroPadding2D<" + std::to_string(Top) + "," + std::to_string(Bottom) + "," + std::to_string(Left) + "," +
           std::to_string(Right) + ">";
  }
};
}  // namespace detail

namespace detail {
inline constexpr std::size_t same_padding = ~std::size_t{0};
}

/// Zeros around each image: Top and Bottom rows, Left and Right columns. (H, W, C) -> (H + Top + Bottom,
/// W + Left + Right, C). ZeroPadding2D<P> pads P on every side, as Keras' ZeroPadding2D(P);
/// ZeroPadding2D<Top, Bottom, Left, Right> as Keras' ZeroPadding2D(((Top, Bottom), (Left, Right))).
template <std::size_t Top, std::size_t Bottom = detail::same_padding, std::size_t Left = detail::same_padding,
          std::size_t Right = detail::same_padding>
struct ZeroPadding2D {
  static constexpr bool uniform = Bottom == detail::same_padding;
  static_assert(uniform ? (Left == detail::same_padding && Right == detail::same_padding)
                        : (Left != detail::same_padding && Right != detail::same_padding),
                "ZeroPadding2D takes one amount (every side) or four (top, bottom, left, right)");
  template <class In, class Pos>
  using bind = detail::ZeroPadding2DImpl<Top, uniform ? Top : Bottom, uniform ? Top : Left, uniform ? Top : Right, In,
                                         Pos>;
};

}  // namespace siamese
