#pragma once
// What the CUDA kernels share: the device buffer, scalar math callable on host and device, and the
// two-stage reductions. Each kernel is a lambda of one index run by an executor X (DeviceExec or
// HostExec), which keeps every kernel testable on the host.
#include <cstddef>
#include <cstdint>
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

// ---- reductions -----------------------------------------------------------------------------------
/// Sum over i in [0, n) of f(i) (a double), in two stages of partial sums and a last one on the host.
/// f may write per-index results as a side effect: it runs once for each i.
template <class X, class F>
double reduce_sum(const char* what, std::size_t n, const F& f) {
  if (n == 0) return 0.0;
  const std::size_t p = n < (std::size_t{1} << 15) ? n : (std::size_t{1} << 15);
  double* part = static_cast<double*>(X::scratch(Slot::Reduce, p * sizeof(double)));
  X::launch(what, p, [=] __host__ __device__(std::size_t t) {
    double s = 0;
    for (std::size_t i = t; i < n; i += p) s += f(i);
    part[t] = s;
  });
  constexpr std::size_t q_max = 256;
  const std::size_t q = p < q_max ? p : q_max;
  double* part2 = static_cast<double*>(X::scratch(Slot::Reduce2, q * sizeof(double)));
  X::launch(what, q, [=] __host__ __device__(std::size_t u) {
    double s = 0;
    for (std::size_t t = u; t < p; t += q) s += part[t];
    part2[u] = s;
  });
  double host[q_max];
  X::download(host, part2, q * sizeof(double));
  double s = 0;
  for (std::size_t u = 0; u < q; ++u) s += host[u];
  return s;
}

/// out[k] = sum over r in [0, rows) of f(r, k) for k in [0, c): per-channel sums of a (rows, c)
/// matrix, in stripes of rows that keep neighbouring threads on neighbouring channels. `out` is in
/// X's memory and must not be the Reduce slot.
template <class X, class F>
void channel_sums(const char* what, std::size_t rows, std::size_t c, const F& f, double* out) {
  if (c == 0) return;
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
