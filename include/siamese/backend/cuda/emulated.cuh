#pragma once
// backend::CudaEmulated: backend::Cuda's own kernels run serially on the host. Every kernel of the
// CUDA backend is a function of one index (kernels.cuh), so calling it for each index in turn gives
// the same results without a GPU: this is how machines without one test the kernels' logic.
#include <cstddef>
#include <cstring>
#include <new>

#include <array>
#include <string_view>

#include "../contract.hpp"
#include "../fusions.hpp"
#include "kernels.cuh"
#include "runtime.cuh"

namespace siamese::backend {

namespace detail_cuda {

/// DeviceExec's interface on the host: memory is host memory, a launch is a loop over the indices,
/// SGEMM is the textbook column-major triple loop (what cuBLAS computes, in double).
struct HostExec {
  static constexpr bool on_device = false;

  template <class F>
  static void launch(const char*, std::size_t n, const F& f) {
    for (std::size_t i = 0; i < n; ++i) f(i);
  }
  static void* allocate(std::size_t bytes) { return ::operator new(bytes, std::align_val_t{64}); }
  static void release(void* p) noexcept {
    if (p) ::operator delete(p, std::align_val_t{64});
  }
  static void upload(void* dst, const void* host, std::size_t bytes) { std::memcpy(dst, host, bytes); }
  static void download(void* host, const void* src, std::size_t bytes) {
    ++state().waits;
    std::memcpy(host, src, bytes);
  }
  static void download_async(void* host, const void* src, std::size_t bytes) { std::memcpy(host, src, bytes); }
  static void* staging(std::size_t bytes) { return scratch_block(state().staging, bytes); }
  /// Counted where DeviceExec waits for its stream, so that tests on the host see the device's waits.
  static std::size_t host_waits() { return state().waits; }
  static float* scalar_sink() { return state().sink; }
  static void set_scalar_sink(float* p) { state().sink = p; }
  static void copy(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
  static void zero(void* dst, std::size_t bytes) { std::memset(dst, 0, bytes); }
  static void synchronize() { ++state().waits; }

  static void* scratch(Slot slot, std::size_t bytes) { return scratch_block(blocks()[std::size_t(slot)], bytes); }

  static void sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                    std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t i = 0; i < m; ++i) {
        double s = 0;
        for (std::size_t p = 0; p < k; ++p)
          s += double(ta ? a[p + i * lda] : a[i + p * lda]) * double(tb ? b[j + p * ldb] : b[p + j * ldb]);
        float& out = c[i + j * ldc];
        out = alpha * float(s) + (beta == 0.0f ? 0.0f : beta * out);
      }
  }

 private:
  struct Block {
    void* ptr = nullptr;
    std::size_t bytes = 0;
    ~Block() { release(ptr); }
  };
  static Block* blocks() {
    thread_local Block b[slot_count];
    return b;
  }
  struct State {
    std::size_t waits = 0;
    float* sink = nullptr;
    Block staging;
  };
  static State& state() {
    thread_local State s;
    return s;
  }
  static void* scratch_block(Block& s, std::size_t bytes) {
    if (bytes > s.bytes) {
      if (s.ptr) ++state().waits;  // the device waits for its stream before freeing a block
      release(s.ptr);
      s.ptr = nullptr;
      s.bytes = 0;
      s.ptr = allocate(bytes);
      s.bytes = bytes;
    }
    return s.ptr;
  }
};

}  // namespace detail_cuda

/// The CUDA backend's kernels executed serially on the host (no GPU needed): slow, for tests. Its
/// results are those of backend::Cuda up to the rounding of device math and cuBLAS' summation order.
struct CudaEmulated : detail_cuda::Kernels<detail_cuda::HostExec> {
  using Buffer = detail_cuda::DeviceArray<detail_cuda::HostExec>;
  static constexpr const char* name = "CudaEmulated";
  static constexpr Fusions fusions{.conv2d_forward_act = true};
  static constexpr std::array<std::string_view, 0> reference_fallbacks{};
};

static_assert(detail::honours_contract<CudaEmulated>());

}  // namespace siamese::backend
