#pragma once
// Input and Flatten: layers that only name or reinterpret a shape; they run no kernel.
#include <string>
#include <type_traits>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <class Declared, class In, class Pos>
struct InputImpl : LayerDefaults {
  static_assert(std::is_void_v<In> || std::is_same_v<In, Declared>,
                "Input: the shape it declares differs from the shape that reaches it (Input belongs first)");
  using in_shape = Declared;
  using out_shape = Declared;
  static constexpr bool alias = true;
  template <class B> static void forward(const Forward&) {}
  template <class B> static void backward(const Backward&) {}
  static std::string describe() { return "Input<" + Declared::str() + ">"; }
};

template <class In, class Pos>
struct FlattenImpl : LayerDefaults {
  using in_shape = In;
  using out_shape = Shape<In::size>;
  static constexpr bool alias = true;
  template <class B> static void forward(const Forward&) {}
  template <class B> static void backward(const Backward&) {}
  static std::string describe() { return "Flatten"; }
};
}  // namespace detail

/// The per-sample input shape of a model, channels-last: Input<28, 28, 1> or Input<30> (30 tokens).
/// Belongs first in a Sequential; it fixes every shape after it.
template <std::size_t... Dims>
struct Input {
  using shape = Shape<Dims...>;
  template <class In, class Pos>
  using bind = detail::InputImpl<Shape<Dims...>, In, Pos>;
};

/// Reinterprets a sample as a vector of In::size values (row-major, as Keras' Flatten).
struct Flatten {
  template <class In, class Pos>
  using bind = detail::FlattenImpl<In, Pos>;
};

}  // namespace siamese
