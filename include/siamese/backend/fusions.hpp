#pragma once
// Fusions: the fused kernels a backend offers beyond the common interface. A backend declares them
// (`static constexpr Fusions fusions{...}`) and layers branch on the declaration, never on whether a
// call happens to compile; backend/contract.hpp checks at compile time that each declared fusion's
// kernel exists with its args struct, and that no undeclared one does.
namespace siamese::backend {

struct Fusions {
  /// conv2d_forward_act(const ConvActArgs&): convolution, bias and activation in one pass.
  bool conv2d_forward_act = false;
  /// conv2d_backward_act(const ConvActGradArgs&): activation gradient and convolution backward in one.
  bool conv2d_backward_act = false;
};

}  // namespace siamese::backend
