#pragma once
// 64-byte aligned host memory: parameters, gradients, optimizer state and activations live here.
#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

namespace siamese {

/// An owning, 64-byte aligned array of floats on the host; contents start zeroed.
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(std::size_t n) { resize(n); }
  HostBuffer(const HostBuffer& o) : HostBuffer(o.size_) {
    if (size_) std::memcpy(data_, o.data_, size_ * sizeof(float));
  }
  HostBuffer(HostBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  HostBuffer& operator=(HostBuffer o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~HostBuffer() { release(); }

  /// Reallocates (zeroed) when the size changes; keeps the memory when it does not.
  void resize(std::size_t n) {
    if (n == size_) return;
    release();
    if (n) {
      data_ = static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t{64}));
      std::memset(data_, 0, n * sizeof(float));
    }
    size_ = n;
  }
  /// Grows when needed, never shrinks: a workspace sized for the largest batch seen.
  void reserve(std::size_t n) {
    if (n > size_) resize(n);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }
  std::size_t size() const { return size_; }
  float& operator[](std::size_t i) { return data_[i]; }
  float operator[](std::size_t i) const { return data_[i]; }

 private:
  void release() {
    if (data_) ::operator delete[](data_, std::align_val_t{64});
    data_ = nullptr;
    size_ = 0;
  }
  float* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace siamese
