#pragma once
// backend::Cuda: every kernel of the library on an NVIDIA GPU. Include this header in a translation
// unit compiled by nvcc (a .cu file, C++20, --extended-lambda --expt-relaxed-constexpr), link cuBLAS,
// and name the backend in a model: Siamese<Encoder, Head<...>, backend::Cuda>.
#include <array>
#include <memory>
#include <string_view>

#include "../backend.hpp"
#include "../contract.hpp"
#include "kernels.cuh"
#include "runtime.cuh"

namespace siamese::backend {

/// The GPU backend. Parameters, gradients, optimizer slots and activations live in device memory
/// (Buffer: cudaMalloc, grow-only); model code moves inputs and results with to_device / to_host.
/// Each model queues its work on a stream of its own (Queue, entered by its training and inference
/// calls), other calls on the process-wide one (detail_cuda::Context); the two wait for each other on
/// the device where they meet, so everything runs in program order. to_host and the losses' scalar
/// results wait for the stream; a training step of the library's own losses and optimizers waits once
/// (model/device_step.hpp). Use it from one host thread at a time. Matrix products are cuBLAS SGEMM in
/// full FP32 unless set_tf32(true). Convolutions go through cuDNN where built in (-DSIAMESE_CUDNN=1)
/// and the shape suits it, else im2col + SGEMM; dropout masks are Reference's, bit for bit. Failures
/// throw CudaError naming the CUDA, cuBLAS or cuDNN call and its error string; with
/// SIAMESE_CUDA_SYNC=1 each launch is waited for, so a kernel's fault names that kernel.
struct Cuda : detail_cuda::Kernels<detail_cuda::DeviceExec> {
  using Buffer = detail_cuda::DeviceArray<detail_cuda::DeviceExec>;
  static constexpr const char* name = "Cuda";
  static constexpr Fusions fusions{.conv2d_forward_act = true};
  /// Every kernel is Cuda's own (contract.hpp checks it): none comes from Reference.
  static constexpr std::array<std::string_view, 0> reference_fallbacks{};

  /// A model's own stream (with its cuBLAS handle and scratch memory), made at its first enter().
  /// enter() makes it the current one until the returned scope ends.
  class Queue {
   public:
    [[nodiscard]] detail_cuda::ContextScope enter() {
      if (!ctx_) ctx_ = std::make_shared<detail_cuda::Context>();
      return detail_cuda::ContextScope(*ctx_);
    }

   private:
    std::shared_ptr<detail_cuda::Context> ctx_;  // shared by copies of a model, which then queue alike
  };

  /// Lets cuBLAS (and cuDNN) use TF32 tensor cores for matrix products: faster, about 3 significant digits.
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
