#pragma once
// The layer interface. A layer spec (Dense<16>, Conv2D<8, 3>, ...) is a tag that users write; binding
// it to an input shape at a position, `Spec::template bind<In, LayerIndex<I>>`, gives the bound layer:
//
//   using in_shape, out_shape;                      per-sample shapes
//   static constexpr std::array<ParamSpec, P> params;  trainable tensors (Keras layouts)
//   static constexpr std::array<ParamSpec, S> states;  saved, non-trainable tensors (BatchNorm moments)
//   static constexpr bool alias;                    output is the input reinterpreted (no kernel)
//   static std::size_t scratch(std::size_t n);     floats kept from forward to backward for batch n
//   template <class B> static void forward(const Forward&);
//   template <class B> static void backward(const Backward&);
//   static std::string describe();                  "Conv2D<8,3x3,s1,valid,linear>" for signatures
//
// Pointers are in the backend's memory space: a layer never reads them, it only calls kernels of B.
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../backend/kinds.hpp"
#include "../core/shape.hpp"

namespace siamese {

/// How a parameter tensor starts (Keras' defaults: glorot_uniform kernels, zero biases).
/// UniformKeras: uniform on [-0.05, 0.05], Keras' 'uniform' initializer (RandomUniform's default range), which
/// Keras' Embedding starts its table with.
/// UnitForgetBias: an LSTM bias (4u), zero but for the forget gate's quarter [u, 2u), set to 1.
/// Normal002: normal(0, 0.02), BERT's initializer_range as Hugging Face's BertPreTrainedModel applies it.
/// PyTorch's defaults: Normal is N(0, 1) (nn.Embedding); UniformFanIn is uniform in +-1/sqrt(fan_in)
/// (nn.Linear's kernel and bias).
enum class Init { Zeros, Ones, GlorotUniform, HeNormal, HeUniform, UniformKeras, Orthogonal, UnitForgetBias, Normal002,
                  Normal, UniformFanIn };

/// A parameter tensor of a layer: name, shape (row-major, up to 4 extents) and initialiser.
struct ParamSpec {
  const char* name;
  std::array<std::size_t, 4> dims;
  std::size_t rank;
  Init init;
  std::size_t fan_in, fan_out;
  constexpr std::size_t size() const {
    std::size_t s = 1;
    for (std::size_t i = 0; i < rank; ++i) s *= dims[i];
    return s;
  }
};

/// Arguments of a forward pass over a batch of n samples.
struct Forward {
  const float* x;       // input, n * in_shape::size
  float* y;             // output, n * out_shape::size
  std::size_t n;
  const float* w;       // this layer's parameters, packed in the order of `params`
  float* state;         // this layer's states
  float* scratch;       // scratch(n) floats, handed unchanged to backward
  bool training;
  std::uint64_t seed;   // per step and layer; dropout draws from it
  /// The model's input of this batch when it is token ids (n rows of `tokens_stride`), else null. Layers that
  /// mask padding (attention, masked pooling) read position t of sample b as tokens[b * tokens_stride + t]:
  /// id 0 is padding. Combinators pass both fields on unchanged.
  const float* tokens = nullptr;
  std::size_t tokens_stride = 0;
};

/// Hears, during a model's backward pass, that every parameter gradient at or above `dw` in the model's gradient
/// buffer is final (distributed training starts reducing those while backward goes on). Only a model's top-level
/// layer list calls it, after each of its layers; combinators do not pass it on.
struct GradientsFinal {
  virtual void gradients_final_from(const float* dw) = 0;

 protected:
  ~GradientsFinal() = default;
};

/// Arguments of a backward pass. dx == nullptr: the input gradient is not needed. dw == nullptr: the
/// layer is frozen, no parameter gradient. Gradients are overwritten, not accumulated.
struct Backward {
  const float* x;
  const float* y;
  const float* dy;
  float* dx;
  std::size_t n;
  const float* w;
  float* dw;
  const float* state;
  float* scratch;
  const float* tokens = nullptr;  // as in Forward
  std::size_t tokens_stride = 0;
  /// The `training` of the forward pass being differentiated (false inside Frozen groups, which run in inference
  /// mode): BatchNorm's gradient differs between batch and moving statistics. Combinators pass it on unchanged.
  bool training = true;
  /// Told after each layer of the model's top-level list that the gradients from that layer up are final; null in a
  /// single process (then the check per layer is all it costs).
  GradientsFinal* final_listener = nullptr;
};

/// A parameter of a whole model, with its place in the packed parameter buffer.
struct ParamInfo {
  std::string name;
  std::vector<std::size_t> shape;
  std::size_t offset;
  std::size_t size;
  Init init;
  std::size_t fan_in, fan_out;
  bool trainable;
  /// Row width of a row-sparse gradient (Embedding's table), 0 for a dense one: the optimizers update
  /// only the rows whose gradient is not all zero, so rows absent from a batch keep their values and
  /// optimizer state (no momentum drift, no weight decay), as TensorFlow's and PyTorch's sparse updates do.
  std::size_t sparse_row = 0;
};

/// A layer spec (what users write: Dense<16>, Conv2D<8, 3>, ...): binding it to an input shape at a position
/// names its bound layer. Naming the bound type checks nothing yet; its own static_asserts check the shapes.
template <class S, class In>
concept LayerSpec = requires { typename S::template bind<In, LayerIndex<0>>; };

/// A bound layer: per-sample shapes, parameter and state lists (or counts), scratch, and a description; its
/// forward<B>(const Forward&) and backward<B>(const Backward&) call only kernels of B.
template <class L>
concept BoundLayer = requires(std::size_t n) {
  typename L::in_shape;
  typename L::out_shape;
  { L::alias } -> std::convertible_to<bool>;
  { L::scratch(n) } -> std::convertible_to<std::size_t>;
  { L::describe() } -> std::convertible_to<std::string>;
} && (requires { L::params; L::states; } || requires { L::param_count; L::state_count; });

namespace detail {

template <class... P>
constexpr std::array<ParamSpec, sizeof...(P)> specs(P... p) {
  return {p...};
}

template <class L>
constexpr std::size_t param_count_of() {
  if constexpr (requires { L::param_count; }) return L::param_count;
  else {
    std::size_t s = 0;
    for (const auto& p : L::params) s += p.size();
    return s;
  }
}
template <class L>
constexpr std::size_t state_count_of() {
  if constexpr (requires { L::state_count; }) return L::state_count;
  else {
    std::size_t s = 0;
    for (const auto& p : L::states) s += p.size();
    return s;
  }
}
/// True when a backward pass through L can produce parameter gradients.
template <class L>
constexpr bool has_trainable() {
  if constexpr (requires { L::has_trainable_params; }) return L::has_trainable_params;
  else return param_count_of<L>() > 0;
}

/// Appends L's parameters (or states) with their names and offsets inside the model's buffer.
template <class L>
void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
             bool states) {
  if constexpr (requires { L::collect(out, prefix, offset, trainable, states); }) {
    L::collect(out, prefix, offset, trainable, states);
  } else {
    auto emit = [&](const auto& list) {
      for (const auto& p : list) {
        out.push_back({prefix + p.name, std::vector<std::size_t>(p.dims.begin(), p.dims.begin() + p.rank), offset,
                       p.size(), p.init, p.fan_in, p.fan_out, trainable && !states});
        offset += p.size();
      }
    };
    if (states) emit(L::states);
    else emit(L::params);
  }
}

/// Default members for simple layers: no parameters, no states, no scratch.
struct LayerDefaults {
  static constexpr std::array<ParamSpec, 0> params{};
  static constexpr std::array<ParamSpec, 0> states{};
  static constexpr bool alias = false;
  static std::size_t scratch(std::size_t) { return 0; }
};

}  // namespace detail
}  // namespace siamese
