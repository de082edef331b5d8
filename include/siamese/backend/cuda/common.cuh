#pragma once
// What the CUDA kernels share: the device buffer, scalar math callable on host and device, and the
// two-stage reductions. Each kernel is a lambda of one index run by an executor X (DeviceExec or
// HostExec), which keeps every kernel testable on the host.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "../../core/random.hpp"
#include "../kinds.hpp"
#include "runtime.cuh"

#if !defined(__CUDACC_EXTENDED_LAMBDA__) || !defined(__CUDACC_RELAXED_CONSTEXPR__)
#error "backend::Cuda's kernels need nvcc's --extended-lambda and --expt-relaxed-constexpr"
#endif

namespace siamese::backend::detail_cuda {

/// An owning array of floats in X's memory (device memory for DeviceExec); contents start zeroed.
/// Grow-only: a smaller size keeps the block; a larger one replaces it.
template <class X>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) { resize(n); }
  DeviceArray(const DeviceArray& o) : DeviceArray(o.size_) {
    if (size_) X::copy(data_, o.data_, size_ * sizeof(float));
  }
  DeviceArray(DeviceArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)) {}
  DeviceArray& operator=(DeviceArray o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    return *this;
  }
  ~DeviceArray() { X::release(data_); }

  /// Sets the size; when it changes, the contents become zero (as HostBuffer's do).
  void resize(std::size_t n) {
    if (n == size_) return;
    if (n > cap_) {
      X::release(data_);
      data_ = nullptr;
      size_ = cap_ = 0;
      data_ = static_cast<float*>(X::allocate(n * sizeof(float)));
      cap_ = n;
    }
    size_ = n;
    if (n) X::zero(data_, n * sizeof(float));
  }
  /// Grows when needed, never shrinks: a workspace sized for the largest batch seen.
  void reserve(std::size_t n) {
    if (n > size_) resize(n);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  std::size_t size_ = 0, cap_ = 0;
};

// ---- scalar math, the same expressions as backend::Reference ----------------------------------------
__host__ __device__ inline float sigmoid(float x) {
  return x >= 0 ? 1.0f / (1.0f + ::expf(-x)) : ::expf(x) / (1.0f + ::expf(x));
}
__host__ __device__ inline float act1(Act a, float x) {
  switch (a) {
    case Act::ReLU: return x > 0 ? x : 0.0f;
    case Act::Sigmoid: return sigmoid(x);
    case Act::Tanh: return ::tanhf(x);
    case Act::GELU: return x * 0.5f * ::erfcf(-x * 0.70710678118654752f);
    default: return x;
  }
}
/// x - x is 0 for every finite x and NaN for infinities and NaN (valid without fast-math).
__host__ __device__ inline bool finite(float x) { return x - x == 0.0f; }
/// std::max(a, b) as the standard defines it: a NaN in b is ignored, as in Reference's loops.
__host__ __device__ inline float max_of(float a, float b) { return a < b ? b : a; }
__host__ __device__ inline double max_of(double a, double b) { return a < b ? b : a; }
/// Adds concurrently on the device; a plain add on the host, where kernels run serially.
__host__ __device__ inline void atomic_add(float* p, float v) {
#ifdef __CUDA_ARCH__
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

/// Adds concurrently on the device; integer addition is associative, so the sum does not depend on
/// the order of the adds (embedding_backward_fixed relies on it).
__host__ __device__ inline void atomic_add(unsigned long long* p, unsigned long long v) {
#ifdef __CUDA_ARCH__
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

/// True when the environment variable `name` is "1".
inline bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && v[0] == '1' && v[1] == '\0';
}

// ---- reductions -----------------------------------------------------------------------------------
/// Partial sums of a reduction's second stage (the host or one thread adds them).
inline constexpr std::size_t reduce_width = 256;

/// The partial sums of f(i) over i in [0, n), in two stages; returns the q partial sums' pointer
/// (device memory, the Reduce2 slot) and sets q. f may write per-index results: it runs once for each i.
template <class X, class F>
double* reduce_parts(const char* what, std::size_t n, const F& f, std::size_t& q) {
  const std::size_t p = n < (std::size_t{1} << 15) ? n : (std::size_t{1} << 15);
  double* part = static_cast<double*>(X::scratch(Slot::Reduce, p * sizeof(double)));
  X::launch(what, p, [=] __host__ __device__(std::size_t t) {
    double s = 0;
    for (std::size_t i = t; i < n; i += p) s += f(i);
    part[t] = s;
  });
  q = p < reduce_width ? p : reduce_width;
  const std::size_t qq = q;
  double* part2 = static_cast<double*>(X::scratch(Slot::Reduce2, q * sizeof(double)));
  X::launch(what, q, [=] __host__ __device__(std::size_t u) {
    double s = 0;
    for (std::size_t t = u; t < p; t += qq) s += part[t];
    part2[u] = s;
  });
  return part2;
}

/// Sum over i in [0, n) of f(i) (a double), in two stages of partial sums and a last one on the host.
/// f may write per-index results as a side effect: it runs once for each i.
template <class X, class F>
double reduce_sum(const char* what, std::size_t n, const F& f) {
  if (n == 0) return 0.0;
  std::size_t q = 0;
  const double* part2 = reduce_parts<X>(what, n, f, q);
  double host[reduce_width];
  X::download(host, part2, q * sizeof(double));
  double s = 0;
  for (std::size_t u = 0; u < q; ++u) s += host[u];
  return s;
}

/// reduce_sum without the host: the sum stays on the device, where finish(sum) runs (one thread, in
/// the same order of additions as reduce_sum's last stage). Nothing waits for the stream.
template <class X, class F, class G>
void reduce_sum_into(const char* what, std::size_t n, const F& f, const G& finish) {
  std::size_t q = 0;
  const double* part2 = n ? reduce_parts<X>(what, n, f, q) : nullptr;
  const std::size_t qq = q;
  X::launch(what, 1, [=] __host__ __device__(std::size_t) {
    double s = 0;
    for (std::size_t u = 0; u < qq; ++u) s += part2[u];
    finish(s);
  });
}

/// A loss kernel's mean over n of f(i): returned (the host waits), or, while a scalar sink is set
/// (ScalarSink), written to it on the device and 0 returned, with no wait.
template <class X, class F>
float loss_mean(const char* what, std::size_t n, const F& f) {
  if (float* sink = X::scalar_sink()) {
    X::set_scalar_sink(nullptr);  // one result per sink
    const double dn = double(n);
    reduce_sum_into<X>(what, n, f, [=] __host__ __device__(double s) { *sink = float(s / dn); });
    return 0.0f;
  }
  return float(reduce_sum<X>(what, n, f) / double(n));
}

/// Row lanes of channel_sum_blocks' blocks: a block is 32 neighbouring channels by this many lanes.
inline constexpr unsigned channel_lanes = 8;

/// One block sums rows [blockIdx.y * split, + split) of 32 neighbouring channels: each of its
/// channel_lanes lanes a stride of the rows (a warp reads 32 neighbouring floats of a row), then the
/// lanes are added as a tree in shared memory. part[blockIdx.y * c + k]: the block's sum of channel k.
template <class F>
__global__ void channel_sum_blocks(std::size_t rows, std::size_t c, std::size_t split, F f, double* part) {
  __shared__ double lane[channel_lanes][33];  // 33: no bank conflicts between lanes
  const unsigned tx = threadIdx.x, ty = threadIdx.y;
  const std::size_t k = std::size_t(blockIdx.x) * 32 + tx;
  const std::size_t r0 = std::size_t(blockIdx.y) * split, r1 = r0 + split < rows ? r0 + split : rows;
  double acc = 0;
  if (k < c)
    for (std::size_t r = r0 + ty; r < r1; r += channel_lanes) acc += f(r, k);
  lane[ty][tx] = acc;
  __syncthreads();
  for (unsigned s = channel_lanes / 2; s > 0; s >>= 1) {
    if (ty < s) lane[ty][tx] += lane[ty + s][tx];
    __syncthreads();
  }
  if (ty == 0 && k < c) part[std::size_t(blockIdx.y) * c + k] = lane[0][tx];
}

/// out[k] = sum over r in [0, rows) of f(r, k) for k in [0, c): per-channel sums of a (rows, c)
/// matrix. On the device: channel_sum_blocks over tiles of 32 channels and splits of the rows, then
/// one thread per channel over the splits' sums (few). On the host (the emulation, which runs no
/// block-level code): stripes of rows, then the stripes, the same sums in another order. `out` is in
/// X's memory and must not be the Reduce slot.
template <class X, class F>
void channel_sums(const char* what, std::size_t rows, std::size_t c, const F& f, double* out) {
  if (c == 0) return;
  if constexpr (X::on_device) {
    const std::size_t tiles = (c + 31) / 32;
    std::size_t splits = (rows + 255) / 256;  // at least 32 rows per lane
    const std::size_t enough = 2048 / tiles + 1;  // blocks to fill the device
    splits = splits > enough ? enough : splits;
    splits = splits < 1 ? 1 : splits > 65535 ? 65535 : splits;
    std::size_t split = (rows + splits - 1) / splits;
    split = split < 1 ? 1 : split;
    splits = rows ? (rows + split - 1) / split : 1;
    double* part = splits == 1 ? out : static_cast<double*>(X::scratch(Slot::Reduce, splits * c * sizeof(double)));
    X::launch_blocks(what, dim3(unsigned(tiles), unsigned(splits)), dim3(32, channel_lanes),
                     channel_sum_blocks<F>, rows, c, split, f, part);
    if (splits > 1)
      X::launch(what, c, [=] __host__ __device__(std::size_t k) {
        double acc = 0;
        for (std::size_t s = 0; s < splits; ++s) acc += part[s * c + k];
        out[k] = acc;
      });
    return;
  }
  std::size_t j = (std::size_t{1} << 16) / c;
  j = j < 1 ? 1 : j > rows ? (rows ? rows : 1) : j;
  double* part = static_cast<double*>(X::scratch(Slot::Reduce, j * c * sizeof(double)));
  X::launch(what, j * c, [=] __host__ __device__(std::size_t i) {
    const std::size_t s = i / c, k = i % c;
    double acc = 0;
    for (std::size_t r = s; r < rows; r += j) acc += f(r, k);
    part[i] = acc;
  });
  X::launch(what, c, [=] __host__ __device__(std::size_t k) {
    double acc = 0;
    for (std::size_t s = 0; s < j; ++s) acc += part[s * c + k];
    out[k] = acc;
  });
}

}  // namespace siamese::backend::detail_cuda
