#pragma once
// Plain descriptions shared by layers and backends: activations, geometries, loss kinds.
#include <cstddef>

namespace siamese {

/// Element-wise activation applied by a layer or fused into its kernel. GELU is the exact erf form
/// (0.5 x (1 + erf(x / sqrt 2)), BERT's); unlike the others its derivative needs its input, not its output.
enum class Act { Linear, ReLU, Sigmoid, Tanh, GELU };

/// Spatial padding, as Keras names it.
enum class Padding { Valid, Same };

/// Distance between two embeddings for triplet and retrieval losses.
enum class Distance { SquaredEuclidean, Euclidean, Cosine };

namespace detail {
constexpr const char* act_name(Act a) {
  return a == Act::ReLU      ? "relu"
         : a == Act::Sigmoid ? "sigmoid"
         : a == Act::Tanh    ? "tanh"
         : a == Act::GELU    ? "gelu"
                             : "linear";
}

/// A 2-D convolution over NHWC input with an HWIO kernel.
struct ConvGeom {
  std::size_t h, w, c;     // input
  std::size_t kh, kw;      // kernel
  std::size_t sh, sw;      // stride
  std::size_t pt, pl;      // padding before (top, left)
  std::size_t oh, ow, f;   // output
};

/// A 2-D pooling window over NHWC input.
struct PoolGeom {
  std::size_t h, w, c, ph, pw, sh, sw, pt, pl, oh, ow;
};

/// Output extent and leading padding of a convolution or pooling axis, as Keras computes them.
constexpr std::size_t out_extent(std::size_t in, std::size_t k, std::size_t s, Padding p) {
  if (p == Padding::Same) return (in + s - 1) / s;
  return in >= k ? (in - k) / s + 1 : 0;
}
constexpr std::size_t pad_before(std::size_t in, std::size_t k, std::size_t s, Padding p) {
  if (p == Padding::Valid) return 0;
  const std::size_t out = (in + s - 1) / s;
  const std::size_t need = (out - 1) * s + k;
  return need > in ? (need - in) / 2 : 0;
}
}  // namespace detail

}  // namespace siamese
