#pragma once
// Compile-time per-sample shapes (the batch size is a run-time value).
#include <array>
#include <cstddef>
#include <string>

namespace siamese {

/// A per-sample tensor shape known at compile time, channels-last: Shape<28, 28, 1> is an image of
/// 28 rows, 28 columns and one channel. Requires at least one extent; every extent is positive.
template <std::size_t... Dims>
struct Shape {
  static_assert(sizeof...(Dims) > 0, "Shape needs at least one extent");
  static constexpr std::size_t rank = sizeof...(Dims);
  static constexpr std::array<std::size_t, rank> dims{Dims...};
  static constexpr std::size_t size = (std::size_t{1} * ... * Dims);

  /// "28x28x1": how shapes appear in messages and architecture signatures.
  static std::string str() {
    std::string s;
    for (std::size_t i = 0; i < rank; ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
    return s;
  }
};

/// The position of a layer inside its Sequential; it appears in compile-time diagnostics.
template <std::size_t I>
struct LayerIndex {
  static constexpr std::size_t value = I;
};

namespace detail {
template <class T>
inline constexpr bool is_shape_v = false;
template <std::size_t... D>
inline constexpr bool is_shape_v<Shape<D...>> = true;

/// Shape<A..., B> -> the extents without the last one, multiplied (rows of a channels-last tensor).
template <class S>
inline constexpr std::size_t leading_size = S::size / S::dims[S::rank - 1];
template <class S>
inline constexpr std::size_t last_dim = S::dims[S::rank - 1];

/// Rounds a float count up to 16 floats (64 bytes) so that every sub-buffer stays SIMD aligned.
constexpr std::size_t align_floats(std::size_t n) { return (n + 15) / 16 * 16; }
}  // namespace detail

}  // namespace siamese
