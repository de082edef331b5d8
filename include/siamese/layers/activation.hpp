#pragma once
// Element-wise activation layers: ReLU, Sigmoid, Tanh, GELU (and Linear, the identity). Each type also names
// the activation that Dense (and, but for GELU, Conv2D) fuses: Dense<100, ReLU>, Dense<1536, GELU>.
#include <concepts>
#include <string>

#include "../backend/args/bert_layers.hpp"
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
    if constexpr (A == Act::GELU) B::gelu_forward({.x = f.x, .y = f.y, .pre = nullptr, .bias = nullptr,
                                                   .rows = f.n, .cols = In::size});
    else if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.x, .y = f.y, .n = f.n * In::size});
  }
  // GELU's derivative needs its input: the layer's input x, which the enclosing model keeps for backward.
  template <class B>
  static void backward(const Backward& b) {
    if (!b.dx) return;
    if constexpr (A == Act::GELU) B::gelu_backward({.pre = b.x, .dy = b.dy, .dx = b.dx, .n = b.n * In::size});
    else if constexpr (A != Act::Linear)
      B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = b.dx, .n = b.n * In::size});
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
/// GELU, the exact form: x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as BERT and PyTorch's nn.GELU() compute it
/// (not the tanh approximation).
using GELU = Activation<Act::GELU>;

namespace detail {
template <class T>
concept ActivationType = requires { { T::act } -> std::convertible_to<Act>; };
}

}  // namespace siamese
