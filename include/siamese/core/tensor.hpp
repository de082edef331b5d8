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

}  // namespace siamese
