#pragma once
// Element-wise activation layers: ReLU, Sigmoid, Tanh (and Linear, the identity). Each type also names
// the activation that Dense and Conv2D fuse: Dense<100, ReLU>.
#include <concepts>
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <Act A, class In, class Pos>
struct ActivationImpl : LayerDefaults {
  using in_shape = In;
  using out_shape = In;
  static constexpr bool alias = A == Act::Linear;
  template <class B>
  static void forward(const Forward& f) {
    if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.x, .y = f.y, .n = f.n * In::size});
  }
  template <class B>
  static void backward(const Backward& b) {
    if constexpr (A != Act::Linear)
      if (b.dx) B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = b.dx, .n = b.n * In::size});
  }
  static std::string describe() { return std::string(act_name(A)); }
};
}  // namespace detail

/// An activation applied element-wise; keeps the shape. As a template argument of Dense or Conv2D it
/// is fused into that layer.
template <Act A>
struct Activation {
  static constexpr Act act = A;
  template <class In, class Pos>
  using bind = detail::ActivationImpl<A, In, Pos>;
};

using Linear = Activation<Act::Linear>;
using ReLU = Activation<Act::ReLU>;
using Sigmoid = Activation<Act::Sigmoid>;
using Tanh = Activation<Act::Tanh>;

namespace detail {
template <class T>
concept ActivationType = requires { { T::act } -> std::convertible_to<Act>; };
}

}  // namespace siamese
