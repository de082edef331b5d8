#pragma once
// backend::Cuda: every kernel of the library on an NVIDIA GPU. Include this header in a translation
// unit compiled by nvcc (a .cu file, C++20, --extended-lambda --expt-relaxed-constexpr), link cuBLAS,
// and name the backend in a model: Siamese<Encoder, Head<...>, backend::Cuda>.
#include <array>
#include <string_view>

#include "../backend.hpp"
#include "../contract.hpp"
#include "kernels.cuh"
#include "runtime.cuh"

namespace siamese::backend {

/// The GPU backend. Parameters, gradients, optimizer slots and activations live in device memory
/// (Buffer: cudaMalloc, grow-only); model code moves inputs and results with to_device / to_host.
/// All kernels, copies and cuBLAS calls of a process are queued on one stream of one context
/// (detail_cuda::Context: the device current at first use, created once), so they run in program
/// order; to_host and the losses' scalar results wait for them. Use it from one host thread at a
/// time. Matrix products are cuBLAS SGEMM in full FP32 unless set_tf32(true). Convolutions are
/// im2col + SGEMM; dropout masks are Reference's, bit for bit. Failures throw CudaError naming the
/// CUDA or cuBLAS call and its error string.
struct Cuda : detail_cuda::Kernels<detail_cuda::DeviceExec> {
  using Buffer = detail_cuda::DeviceArray<detail_cuda::DeviceExec>;
  static constexpr const char* name = "Cuda";
  static constexpr Fusions fusions{.conv2d_forward_act = true};
  /// Every kernel is Cuda's own (contract.hpp checks it): none comes from Reference.
  static constexpr std::array<std::string_view, 0> reference_fallbacks{};

  /// Lets cuBLAS use TF32 tensor cores for matrix products: faster, about 3 significant digits.
  static void set_tf32(bool on) { detail_cuda::Context::get().set_tf32(on); }
  static bool tf32() { return detail_cuda::Context::get().tf32(); }
  /// Number of CUDA devices visible to this process (0 without a device or driver); never throws.
  static int device_count() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
  }
};

static_assert(detail::honours_contract<Cuda>());  // each rule with its own message
static_assert(Backend<Cuda>);

}  // namespace siamese::backend
