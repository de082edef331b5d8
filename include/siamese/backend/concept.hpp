#pragma once
// The Backend concept: what a type must provide for layers, losses and optimizers to run on it. A backend is a
// struct of static kernels over raw pointers in its own memory space (host for Reference and Cpu, the device's
// for Cuda), with a Buffer type that owns such memory. Each backend header static_asserts Backend<itself>.
#include <concepts>
#include <cstddef>

#include "kinds.hpp"

namespace siamese {

/// A backend: its memory (Buffer, to_device, to_host) and the kernels every layer, loss and optimizer of the
/// library calls. Kernels take an argument struct where they need more than a few values (see backend/args/).
template <class B>
concept Backend = requires(float* p, const float* c, std::size_t n, float v) {
  typename B::Buffer;
  { B::name } -> std::convertible_to<const char*>;
  // memory
  B::to_device(p, c, n);
  B::to_host(p, c, n);
  B::copy(p, c, n);
  B::fill(p, v, n);
  B::add(p, c, n);
  B::copy_cols(p, n, c, n, n, n);
  B::scale(p, v, n);
  { B::all_finite(c, n) } -> std::convertible_to<bool>;
  { B::sum_squares(c, n) } -> std::convertible_to<double>;
  // dense algebra and activations
  B::gemm(false, false, n, n, n, v, c, n, c, n, v, p, n);
  B::add_bias(p, c, n, n);
  B::bias_grad(c, p, n, n);
  B::activation(Act::ReLU, c, p, n);
  B::activation_backward(Act::ReLU, c, c, p, n);
  // convolution, pooling, normalisation, sequences, losses, optimizers
  B::conv2d_forward(detail::ConvGeom{}, c, c, c, p, n);
  B::pool2d_forward(detail::PoolGeom{}, true, c, p, n);
  B::global_pool_forward(true, c, p, n, n, n);
  B::embedding_forward(c, c, p, n, n, n, n, true);
  { B::bce_logits(c, c, p, n) } -> std::convertible_to<float>;
  B::sgd_step(p, c, p, n, v, v, false, v);
};

}  // namespace siamese
