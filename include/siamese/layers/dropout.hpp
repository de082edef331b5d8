#pragma once
// Dropout<Rate>: inverted dropout while training, the identity at inference.
#include <string>

#include "layer.hpp"

namespace siamese {

namespace detail {
template <float Rate, class In, class Pos>
struct DropoutImpl : LayerDefaults {
  using in_shape = In;
  using out_shape = In;
  static std::size_t scratch(std::size_t n) { return n * In::size; }  // the mask
  template <class B>
  static void forward(const Forward& f) {
    if (f.training && Rate > 0.0f) B::dropout_forward(
          {.x = f.x, .y = f.y, .mask = f.scratch, .rate = Rate, .seed = f.seed, .n = f.n * In::size});
    else B::copy(f.y, f.x, f.n * In::size);
  }
  template <class B>
  static void backward(const Backward& b) {
    if (b.dx) B::mul(b.dy, b.scratch, b.dx, b.n * In::size);
  }
  static std::string describe() { return "Dropout<" + std::to_string(Rate) + ">"; }
};
}  // namespace detail

/// Zeroes each value with probability Rate while training and scales the rest by 1/(1-Rate), as Keras
/// does; the mask is a pure function of the model's seed and step, so a run is reproducible.
template <float Rate>
struct Dropout {
  static_assert(Rate >= 0.0f && Rate < 1.0f, "Dropout: the rate must lie in [0, 1)");
  template <class In, class Pos>
  using bind = detail::DropoutImpl<Rate, In, Pos>;
};

}  // namespace siamese
