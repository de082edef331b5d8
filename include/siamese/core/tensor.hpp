#pragma once
// A host tensor with a run-time shape: how batches, embeddings and predictions cross the API.
#include <cstddef>
#include <initializer_list>
#include <numeric>
#include <string>
#include <vector>

#include "buffer.hpp"
#include "errors.hpp"

namespace siamese {

/// Row-major float tensor whose first extent is usually the batch. Owns aligned memory.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::vector<std::size_t> shape) : shape_(std::move(shape)), data_(count(shape_)) {}
  Tensor(std::initializer_list<std::size_t> shape) : Tensor(std::vector<std::size_t>(shape)) {}

  const std::vector<std::size_t>& shape() const { return shape_; }
  std::size_t rank() const { return shape_.size(); }
  std::size_t size() const { return data_.size(); }
  std::size_t dim(std::size_t i) const { return shape_.at(i); }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  float& operator[](std::size_t i) { return data_[i]; }
  float operator[](std::size_t i) const { return data_[i]; }
  float* begin() { return data(); }
  float* end() { return data() + size(); }
  const float* begin() const { return data(); }
  const float* end() const { return data() + size(); }

  /// Changes the shape; the storage is kept (contents too) when the element count is unchanged.
  void reshape(std::vector<std::size_t> shape) {
    data_.resize(count(shape));
    shape_ = std::move(shape);
  }

  static std::string shape_str(const std::vector<std::size_t>& s) {
    std::string r = "(";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + ")";
  }

 private:
  static std::size_t count(const std::vector<std::size_t>& s) {
    return std::accumulate(s.begin(), s.end(), std::size_t{1}, std::multiplies<>{});
  }
  std::vector<std::size_t> shape_;
  HostBuffer data_;
};

namespace detail {
/// Throws a ShapeError naming `where` and `what` unless `t` is (batch, dims...) for Shape S.
template <class S>
std::size_t check_batch(const Tensor& t, const char* where, const char* what) {
  bool ok = t.rank() == S::rank + 1;
  for (std::size_t i = 0; ok && i < S::rank; ++i) ok = t.dim(i + 1) == S::dims[i];
  if (!ok || t.dim(0) == 0) {
    std::string want = "(batch";
    for (auto d : S::dims) want += ", " + std::to_string(d);
    throw ShapeError(std::string(where) + ": " + what + " has shape " + Tensor::shape_str(t.shape()) +
                     ", but the model expects " + want + ") with batch > 0");
  }
  return t.dim(0);
}
}  // namespace detail

}  // namespace siamese
