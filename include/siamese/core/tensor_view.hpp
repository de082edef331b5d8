#pragma once
// What the models read a batch from: a read-only view of the caller's row-major floats (a Tensor, or another
// library's container), and the customisation point that lets other containers in without a copy.
#include <array>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "errors.hpp"
#include "tensor.hpp"

namespace siamese {

/// A read-only, non-owning view of row-major contiguous floats with a run-time shape of at most max_rank extents.
/// A Tensor converts to one; valid while the viewed memory lives and keeps its shape. Holds its shape in place, so
/// making one allocates nothing.
class TensorView {
 public:
  static constexpr std::size_t max_rank = 8;

  TensorView() = default;
  TensorView(const Tensor& t) : TensorView(t.data(), t.shape()) {}  // NOLINT: a Tensor is a view of itself
  /// `shape` extents over `data` (their product many floats); throws ShapeError past max_rank extents.
  TensorView(const float* data, std::span<const std::size_t> shape) : data_(data), rank_(shape.size()) {
    if (rank_ > max_rank)
      throw ShapeError("TensorView: an input of rank " + std::to_string(rank_) + " " + shape_str(shape) +
                       "; the library takes at most " + std::to_string(max_rank) + " extents");
    for (std::size_t i = 0; i < rank_; ++i) {
      shape_[i] = shape[i];
      size_ *= shape[i];
    }
  }

  const float* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t rank() const { return rank_; }
  std::span<const std::size_t> shape() const { return {shape_.data(), rank_}; }
  std::size_t dim(std::size_t i) const {
    if (i >= rank_)
      throw ShapeError("TensorView::dim: extent " + std::to_string(i) + " of a rank-" + std::to_string(rank_) +
                       " view");
    return shape_[i];
  }

  static std::string shape_str(std::span<const std::size_t> s) {
    std::string r = "(";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + ")";
  }

 private:
  const float* data_ = nullptr;
  std::array<std::size_t, max_rank> shape_{};
  std::size_t rank_ = 0, size_ = 1;
};

/// An input as a model reads it: a view of the caller's memory, or, for data that is not contiguous row-major
/// floats, the values evaluated once into a Tensor it owns (the view then points there). Movable, not copyable:
/// the view follows the owned Tensor's heap memory, which a move keeps.
class InputData {
 public:
  explicit InputData(TensorView borrowed) : view_(borrowed) {}
  explicit InputData(Tensor evaluated) : owned_(std::move(evaluated)), view_(owned_), owns_(true) {}
  InputData(InputData&&) = default;
  InputData& operator=(InputData&&) = default;
  InputData(const InputData&) = delete;
  InputData& operator=(const InputData&) = delete;

  const TensorView& view() const { return view_; }
  /// True when the values were evaluated into memory of the library's own (not the caller's buffer).
  bool owns() const { return owns_; }

 private:
  Tensor owned_;
  TensorView view_;
  bool owns_ = false;
};

/// Customisation point that lets predict, embed, evaluate, train_step and the *BatchOf structs take a T: a
/// specialisation has `static InputData get(const T&)`, a view of T's memory where it is contiguous row-major
/// floats, else T's values evaluated once. <siamese/xtensor.hpp> specialises it for xtensor expressions, which keeps
/// xtensor out of every other header.
template <class T>
struct input_source;

/// A type the models take as an input batch: a Tensor or TensorView, or a type with an input_source.
template <class T>
concept ModelInput = std::convertible_to<const T&, TensorView> || requires(const T& t) {
  { input_source<T>::get(t) } -> std::same_as<InputData>;
};

namespace detail {
/// Throws a ShapeError naming `where` and `what` unless `t` is (batch, dims...) for Shape S.
template <class S>
std::size_t check_batch(const TensorView& t, const char* where, const char* what) {
  bool ok = t.rank() == S::rank + 1;
  for (std::size_t i = 0; ok && i < S::rank; ++i) ok = t.dim(i + 1) == S::dims[i];
  if (!ok || t.dim(0) == 0) {
    std::string want = "(batch";
    for (auto d : S::dims) want += ", " + std::to_string(d);
    throw ShapeError(std::string(where) + ": " + what + " has shape " + TensorView::shape_str(t.shape()) +
                     ", but the model expects " + want + ") with batch > 0");
  }
  return t.dim(0);
}

/// The view a model reads `t` through (see InputData).
template <class T>
InputData model_input(const T& t) {
  static_assert(ModelInput<T>,
                "the model takes a Tensor, a TensorView, or (with <siamese/xtensor.hpp>) an xtensor container or "
                "expression as an input; this type is none of them");
  if constexpr (std::convertible_to<const T&, TensorView>) return InputData(TensorView(t));
  else if constexpr (ModelInput<T>) return input_source<T>::get(t);
  else return InputData(TensorView());
}

/// A batch's labels as a model reads them: a contiguous range of floats (std::vector<float>, a Tensor) is used in
/// place; a ModelInput (an xtensor of floats, say) through model_input. `keep` holds what that made.
template <class L>
std::span<const float> labels_input(const L& labels, InputData& keep) {
  if constexpr (std::convertible_to<const L&, std::span<const float>>) {
    return std::span<const float>(labels);
  } else {
    static_assert(ModelInput<L>,
                  "a batch's labels are a contiguous range of floats (std::vector<float>) or, with "
                  "<siamese/xtensor.hpp>, an xtensor of floats");
    if constexpr (ModelInput<L>) {
      keep = model_input(labels);
      return {keep.view().data(), keep.view().size()};
    } else {
      return {};
    }
  }
}
}  // namespace detail

}  // namespace siamese
