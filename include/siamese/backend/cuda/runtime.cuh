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
enum class Slot { Reduce, Reduce2, Columns, Stats, Mask, Temp, Filter, FilterGrad, Workspace, Fixed, Count };
inline constexpr std::size_t slot_count = std::size_t(Slot::Count);

/// A grid-stride loop over [0, n): f(i) once per index, in any order and in parallel.
template <class F>
__global__ void for_each_index(std::size_t n, F f) {
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

/// A queue of backend::Cuda's work: one non-blocking stream that every kernel, copy and cuBLAS call
/// is queued on (so they run in program order), one cuBLAS handle bound to it, scratch slots and
/// pinned staging memory. Context::get() is the thread's current one: the process-wide context
/// (created at first use on the device current then, never destroyed, so that model buffers freed
/// during static destruction never outlive it), or a model's own while a ContextScope of it is alive.
/// Calls from several host threads at once are not supported.
class Context {
 public:
  static Context& get() { return *current(); }
  static Context& process() {
    static Context* c = new Context();
    return *c;
  }
  static Context*& current() {
    thread_local Context* c = nullptr;
    if (!c) c = &process();
    return c;
  }

  /// A context of its own (a model's: model/network.hpp); frees its stream, handle and memory when
  /// destroyed, once the work queued on it is done.
  Context() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    check(cublasCreate(&blas_), "cublasCreate");
    check(cublasSetStream(blas_, stream_), "cublasSetStream");
    check(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST), "cublasSetPointerMode");
    check(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    const char* env = std::getenv("SIAMESE_CUDA_SYNC");
    sync_ = env && env[0] == '1';
  }
  ~Context() {
    (void)cudaStreamSynchronize(stream_);
    for (auto& s : slots_) (void)cudaFree(s.ptr);
    if (staging_) (void)cudaFreeHost(staging_);
    (void)cublasDestroy(blas_);
    (void)cudaEventDestroy(done_);
    (void)cudaStreamDestroy(stream_);
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// `to` waits (on the device) for everything queued on `from` so far; the host does not wait.
  static void order(Context& from, Context& to) {
    check(cudaEventRecord(from.done_, from.stream_), "cudaEventRecord");
    check(cudaStreamWaitEvent(to.stream_, from.done_, 0), "cudaStreamWaitEvent");
  }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  bool sync_each_launch() const { return sync_; }

  /// How many times the host has waited for a stream, over all contexts (copies to the host,
  /// synchronize, growth of scratch memory; not the debugging waits of SIAMESE_CUDA_SYNC=1): what a
  /// training step's single wait is counted by.
  static std::size_t host_waits() { return waits(); }
  void wait(const std::string& why, bool counted = true) {
    if (counted) ++waits();
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (" + why + ")");
  }

  /// Pinned host memory of at least `bytes` (grow-only): asynchronous copies to the host land here.
  void* staging(std::size_t bytes) {
    if (bytes > staging_bytes_) {
      if (staging_) {
        wait("before growing pinned staging memory");
        check(cudaFreeHost(staging_), "cudaFreeHost (staging)");
      }
      staging_ = nullptr;
      staging_bytes_ = 0;
      check(cudaMallocHost(&staging_, bytes), "cudaMallocHost of " + std::to_string(bytes) + " bytes (staging)");
      staging_bytes_ = bytes;
    }
    return staging_;
  }

  /// Where the next loss kernel writes its mean (device memory) instead of returning it; null: returned.
  float* scalar_sink() const { return sink_; }
  void set_scalar_sink(float* p) { sink_ = p; }

  /// TF32 tensor cores for cuBLAS matrix products (about 10 significant bits per input): off by default.
  void set_tf32(bool on) { tf32_flag() = on; }
  bool tf32() const { return tf32_flag(); }
  /// The cuBLAS handle, its math mode brought up to date with set_tf32 (process-wide, so it reaches every context).
  cublasHandle_t blas_for_gemm() {
    if (blas_tf32_ != tf32_flag()) {
      check(cublasSetMathMode(blas_, tf32_flag() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
            "cublasSetMathMode");
      blas_tf32_ = tf32_flag();
    }
    return blas_;
  }

  /// At least `bytes` of device memory in `slot`; growing it frees the old block once the queued
  /// kernels, which may still read it, are done.
  void* scratch(Slot slot, std::size_t bytes) {
    auto& s = slots_[std::size_t(slot)];
    if (bytes > s.bytes) {
      if (s.ptr) {
        wait("before growing scratch memory");
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
  static bool& tf32_flag() {
    static bool on = false;
    return on;
  }
  static std::size_t& waits() {
    static std::size_t w = 0;
    return w;
  }
  struct Block {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };
  cudaStream_t stream_{};
  cudaEvent_t done_{};
  cublasHandle_t blas_{};
  bool blas_tf32_ = false, sync_ = false;
  Block slots_[slot_count];
  std::size_t staging_bytes_ = 0;
  void* staging_ = nullptr;
  float* sink_ = nullptr;
};

/// Makes `ctx` the thread's current context while alive. Entering, ctx's stream waits for the work
/// queued on the previous context; leaving, the previous one waits for ctx's: both in device order,
/// without a host wait, so buffers pass between a model's stream and the process-wide one safely.
class ContextScope {
 public:
  explicit ContextScope(Context& ctx) : prev_(Context::current()), ctx_(&ctx) {
    if (ctx_ == prev_) return;
    Context::order(*prev_, *ctx_);
    Context::current() = ctx_;
  }
  ~ContextScope() {
    if (ctx_ == prev_) return;
    Context::current() = prev_;
    try {
      Context::order(*ctx_, *prev_);
    } catch (const CudaError&) {  // the device failed: the next call on prev_ reports it
    }
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  Context *prev_, *ctx_;
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
    if (c.sync_each_launch()) c.wait(std::string("SIAMESE_CUDA_SYNC=1, after kernel '") + what + "'", false);
  }

  /// Launches a kernel of its own grid and blocks (block-level code: shared memory, barriers).
  template <class... P, class... A>
  static void launch_blocks(const char* what, dim3 grid, dim3 block, void (*kernel)(P...), const A&... args) {
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
    Context& c = Context::get();
    kernel<<<grid, block, 0, c.stream()>>>(args...);
    check(cudaGetLastError(), std::string("launch of kernel '") + what + "'");
    if (c.sync_each_launch()) c.wait(std::string("SIAMESE_CUDA_SYNC=1, after kernel '") + what + "'", false);
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
    Context::get().wait("after a copy to the host");
  }
  /// Queues a copy to pinned host memory (staging()) without waiting: valid after the next synchronize().
  static void download_async(void* host, const void* src, std::size_t bytes) {
    check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, Context::get().stream()),
          "cudaMemcpyAsync device to pinned host (" + std::to_string(bytes) + " bytes)");
  }
  static void* staging(std::size_t bytes) { return Context::get().staging(bytes); }
  static std::size_t host_waits() { return Context::get().host_waits(); }
  static float* scalar_sink() { return Context::get().scalar_sink(); }
  static void set_scalar_sink(float* p) { Context::get().set_scalar_sink(p); }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, Context::get().stream()),
          "cudaMemcpyAsync device to device (" + std::to_string(bytes) + " bytes)");
  }
  static void zero(void* dst, std::size_t bytes) {
    check(cudaMemsetAsync(dst, 0, bytes, Context::get().stream()), "cudaMemsetAsync (" + std::to_string(bytes) + " bytes)");
  }
  static void synchronize() { Context::get().wait("synchronize"); }
  static void* scratch(Slot s, std::size_t bytes) { return Context::get().scratch(s, bytes); }

  /// Column-major C = alpha op(A) op(B) + beta C (BLAS conventions; beta == 0 never reads C).
  static void sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                    std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    for (std::size_t v : {m, n, k, lda, ldb, ldc})
      if (v > std::size_t(INT_MAX))
        throw CudaError("backend::Cuda: gemm extent " + std::to_string(v) + " exceeds cuBLAS' 32-bit int range");
    check(cublasSgemm(Context::get().blas_for_gemm(), ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, int(m),
                      int(n), int(k), &alpha, a, int(lda), b, int(ldb), &beta, c, int(ldc)),
          "cublasSgemm (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ")");
    if (Context::get().sync_each_launch()) Context::get().wait("SIAMESE_CUDA_SYNC=1, after cublasSgemm", false);
  }
};

}  // namespace backend::detail_cuda
}  // namespace siamese
