#pragma once
// The CUDA runtime side of backend::Cuda: errors, the process-wide context (stream, cuBLAS handle,
// scratch memory) and DeviceExec, the executor through which every kernel is launched.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace siamese {

/// A failed CUDA runtime or cuBLAS call (no device, out of memory, an illegal address inside a
/// kernel, ...). The message names the call and the library's error string. Kernels run
/// asynchronously: a kernel's fault is reported by the next call that waits for the stream, unless
/// the environment variable SIAMESE_CUDA_SYNC=1 makes every launch wait.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace backend::detail_cuda {

inline void check(cudaError_t e, const std::string& call) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();  // reset the runtime's last error, or the next launch check would report it again
  throw CudaError("backend::Cuda: " + call + " failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const std::string& call) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw CudaError("backend::Cuda: " + call + " failed: " + cublasGetStatusName(s) + ": " + cublasGetStatusString(s));
}

/// Temporary memory of the kernels, one grow-only block per use, so that no kernel allocates per call.
/// A kernel holds a slot's pointer only until it returns; two slots never alias.
enum class Slot { Reduce, Reduce2, Columns, Stats, Mask, Temp, Count };
inline constexpr std::size_t slot_count = std::size_t(Slot::Count);

/// A grid-stride loop over [0, n): f(i) once per index, in any order and in parallel.
template <class F>
__global__ void for_each_index(std::size_t n, F f) {
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

/// The process-wide state of backend::Cuda on the device that is current at its first use: one
/// non-blocking stream that every kernel, copy and cuBLAS call is queued on (so they run in program
/// order), one cuBLAS handle bound to it, and the scratch slots. It is created once and never
/// destroyed (the driver reclaims it at exit), so model buffers freed during static destruction
/// never outlive it. Calls from several host threads at once are not supported.
class Context {
 public:
  static Context& get() {
    static Context* c = new Context();
    return *c;
  }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  bool sync_each_launch() const { return sync_; }

  /// TF32 tensor cores for cuBLAS matrix products (about 10 significant bits per input): off by default.
  void set_tf32(bool on) {
    check(cublasSetMathMode(blas_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    tf32_ = on;
  }
  bool tf32() const { return tf32_; }

  /// At least `bytes` of device memory in `slot`; growing it frees the old block once the queued
  /// kernels, which may still read it, are done.
  void* scratch(Slot slot, std::size_t bytes) {
    auto& s = slots_[std::size_t(slot)];
    if (bytes > s.bytes) {
      if (s.ptr) {
        check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (before growing scratch memory)");
        check(cudaFree(s.ptr), "cudaFree (scratch)");
      }
      s.ptr = nullptr;
      s.bytes = 0;
      check(cudaMalloc(&s.ptr, bytes), "cudaMalloc of " + std::to_string(bytes) + " bytes (scratch)");
      s.bytes = bytes;
    }
    return s.ptr;
  }

 private:
  Context() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cublasCreate(&blas_), "cublasCreate");
    check(cublasSetStream(blas_, stream_), "cublasSetStream");
    check(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST), "cublasSetPointerMode");
    check(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    const char* env = std::getenv("SIAMESE_CUDA_SYNC");
    sync_ = env && env[0] == '1';
  }
  struct Block {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };
  cudaStream_t stream_{};
  cublasHandle_t blas_{};
  bool tf32_ = false, sync_ = false;
  Block slots_[slot_count];
};

/// The executor of backend::Cuda: device memory, copies and launches on the context's stream, and
/// column-major SGEMM through cuBLAS. HostExec (emulated.cuh) has the same interface on the host.
struct DeviceExec {
  static constexpr bool on_device = true;

  /// Runs f(i) for every i in [0, n) as one kernel; `what` names it in errors.
  template <class F>
  static void launch(const char* what, std::size_t n, const F& f) {
    if (n == 0) return;
    Context& c = Context::get();
    constexpr unsigned threads = 256;
    const std::size_t want = (n + threads - 1) / threads;
    const unsigned blocks = unsigned(want < (std::size_t{1} << 16) ? want : (std::size_t{1} << 16));
    for_each_index<<<blocks, threads, 0, c.stream()>>>(n, f);
    check(cudaGetLastError(), std::string("launch of kernel '") + what + "'");
    if (c.sync_each_launch()) check(cudaStreamSynchronize(c.stream()), std::string("kernel '") + what + "'");
  }

  static void* allocate(std::size_t bytes) {
    Context::get();  // the device is chosen and checked before the first allocation
    void* p = nullptr;
    check(cudaMalloc(&p, bytes), "cudaMalloc of " + std::to_string(bytes) + " bytes");
    return p;
  }
  /// Frees without throwing (destructors call it, possibly after the runtime has shut down).
  static void release(void* p) noexcept {
    if (p) (void)cudaFree(p);
  }
  static void upload(void* dst, const void* host, std::size_t bytes) {
    check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, Context::get().stream()),
          "cudaMemcpyAsync host to device (" + std::to_string(bytes) + " bytes)");
  }
  /// Waits for every queued kernel, then copies: the host sees their results.
  static void download(void* host, const void* src, std::size_t bytes) {
    const cudaStream_t s = Context::get().stream();
    check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, s),
          "cudaMemcpyAsync device to host (" + std::to_string(bytes) + " bytes)");
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize after a copy to the host");
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, Context::get().stream()),
          "cudaMemcpyAsync device to device (" + std::to_string(bytes) + " bytes)");
  }
  static void zero(void* dst, std::size_t bytes) {
    check(cudaMemsetAsync(dst, 0, bytes, Context::get().stream()), "cudaMemsetAsync (" + std::to_string(bytes) + " bytes)");
  }
  static void synchronize() { check(cudaStreamSynchronize(Context::get().stream()), "cudaStreamSynchronize"); }
  static void* scratch(Slot s, std::size_t bytes) { return Context::get().scratch(s, bytes); }

  /// Column-major C = alpha op(A) op(B) + beta C (BLAS conventions; beta == 0 never reads C).
  static void sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                    std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    for (std::size_t v : {m, n, k, lda, ldb, ldc})
      if (v > std::size_t(INT_MAX))
        throw CudaError("backend::Cuda: gemm extent " + std::to_string(v) + " exceeds cuBLAS' 32-bit int range");
    check(cublasSgemm(Context::get().blas(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, int(m),
                      int(n), int(k), &alpha, a, int(lda), b, int(ldb), &beta, c, int(ldc)),
          "cublasSgemm (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ")");
    if (Context::get().sync_each_launch()) check(cudaStreamSynchronize(Context::get().stream()), "cublasSgemm");
  }
};

}  // namespace backend::detail_cuda
}  // namespace siamese
