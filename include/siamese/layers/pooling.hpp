#pragma once
// MaxPool2D, AvgPool2D over windows, and GlobalMaxPool2D, GlobalAvgPool2D over the whole map.
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <bool IsMax, std::size_t K, std::size_t S, Padding P, class In, class Pos>
struct Pool2DImpl : LayerDefaults {
  static_assert(In::rank == 3, "MaxPool2D/AvgPool2D expect an input of rank 3 (height, width, channels)");
  static constexpr std::size_t H = In::dims[0], W = In::rank == 3 ? In::dims[1] : 1,
                               C = In::rank == 3 ? In::dims[2] : 1;
  static_assert(In::rank != 3 || P == Padding::Same || (K <= H && K <= W),
                "MaxPool2D/AvgPool2D: the pooling window is larger than the input map");
  static constexpr std::size_t OH = out_extent(H, K, S, P) ? out_extent(H, K, S, P) : 1;
  static constexpr std::size_t OW = out_extent(W, K, S, P) ? out_extent(W, K, S, P) : 1;
  static constexpr PoolGeom geom{H, W, C, K, K, S, S, pad_before(H, K, S, P), pad_before(W, K, S, P), OH, OW};
  using in_shape = In;
  using out_shape = Shape<OH, OW, C>;
  template <class B>
  static void forward(const Forward& f) {
    B::pool2d_forward({.geom = geom, .is_max = IsMax, .x = f.x, .y = f.y, .n = f.n});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dx)
      B::pool2d_backward({.geom = geom, .is_max = IsMax, .x = b.x, .y = b.y, .dy = b.dy, .dx = b.dx, .n = b.n});
  }
  static std::string describe() {
    return std::string(IsMax ? "MaxPool2D<" : "AvgPool2D<") + std::to_string(K) + ",s" + std::to_string(S) +
           (P == Padding::Same ? ",same>" : ",valid>");
  }
};

template <bool IsMax, class In, class Pos>
struct GlobalPoolImpl : LayerDefaults {
  static_assert(In::rank >= 2,
                "GlobalMaxPool2D/GlobalAvgPool2D expect an input with positions and channels (rank 3 for images)");
  static constexpr std::size_t C = In::dims[In::rank - 1], R = In::size / C;
  using in_shape = In;
  using out_shape = Shape<C>;
  template <class B>
  static void forward(const Forward& f) {
    B::global_pool_forward({.is_max = IsMax, .x = f.x, .y = f.y, .n = f.n, .rows = R, .c = C});
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dx)
      B::global_pool_backward(
          {.is_max = IsMax, .x = b.x, .y = b.y, .dy = b.dy, .dx = b.dx, .n = b.n, .rows = R, .c = C});
  }
  static std::string describe() { return IsMax ? "GlobalMaxPool2D" : "GlobalAvgPool2D"; }
};
}  // namespace detail

/// Max over K x K windows with stride S (default K), per channel.
template <std::size_t K, std::size_t S = K, Padding P = Padding::Valid>
struct MaxPool2D {
  static_assert(K > 0 && S > 0, "MaxPool2D: window and stride must be positive");
  template <class In, class Pos>
  using bind = detail::Pool2DImpl<true, K, S, P, In, Pos>;
};

/// Mean over K x K windows with stride S (default K), per channel; padded cells are not counted.
template <std::size_t K, std::size_t S = K, Padding P = Padding::Valid>
struct AvgPool2D {
  static_assert(K > 0 && S > 0, "AvgPool2D: window and stride must be positive");
  template <class In, class Pos>
  using bind = detail::Pool2DImpl<false, K, S, P, In, Pos>;
};

/// Max over all positions, per channel: (H, W, C) -> (C). Also pools a sequence (T, C) over time.
struct GlobalMaxPool2D {
  template <class In, class Pos>
  using bind = detail::GlobalPoolImpl<true, In, Pos>;
};

/// Mean over all positions, per channel: (H, W, C) -> (C). Also pools a sequence (T, C) over time.
struct GlobalAvgPool2D {
  template <class In, class Pos>
  using bind = detail::GlobalPoolImpl<false, In, Pos>;
};

}  // namespace siamese
