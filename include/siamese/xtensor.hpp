#pragma once
// xtensor at the library's API. With this header the models take xtensor containers, views and expressions
// wherever they take a Tensor (predict, predict_embeddings, embed, train_step and evaluate through the *BatchOf
// structs): contiguous row-major float data is read in place, anything else is evaluated once. xt_predict,
// xt_predict_embeddings and xt_embed return xt::xtensor of the result's static rank; as_xtensor and to_tensor convert
// single tensors. Kept out of every other header: with XTENSOR_USE_XSIMD the type xt::xtensor<float, N> depends on
// the ISA flags of the translation unit (TOOLCHAIN.md), and xtensor is heavy to compile.
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xtensor.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "core/errors.hpp"
#include "core/tensor.hpp"
#include "core/tensor_view.hpp"

namespace siamese {

/// A writable xtensor view of `t` (no copy); valid while `t` lives and keeps its shape.
inline auto as_xtensor(Tensor& t) { return xt::adapt(t.data(), t.size(), xt::no_ownership(), t.shape()); }
/// A read-only xtensor view of `t` (no copy).
inline auto as_xtensor(const Tensor& t) { return xt::adapt(t.data(), t.size(), xt::no_ownership(), t.shape()); }

/// A Tensor holding the values of an xtensor expression, evaluated once (each element computed once) straight
/// into the Tensor's memory, row-major and converted to float.
template <class E>
Tensor to_tensor(const xt::xexpression<E>& expr) {
  const E& e = expr.derived_cast();
  Tensor t(std::vector<std::size_t>(e.shape().begin(), e.shape().end()));
  auto dst = xt::adapt(t.data(), t.size(), xt::no_ownership(), t.shape());
  // noalias: plain assignment would evaluate into a temporary first, then copy.
  if constexpr (std::is_same_v<std::remove_cv_t<typename E::value_type>, float>) xt::noalias(dst) = e;
  else xt::noalias(dst) = xt::cast<float>(e);
  return t;
}

/// The values of `t` as an xt::xtensor of rank N (one copy); throws ShapeError naming both ranks when t's differs.
template <std::size_t N>
xt::xtensor<float, N> to_xtensor(const Tensor& t, const char* where = "to_xtensor") {
  if (t.rank() != N)
    throw ShapeError(std::string(where) + ": a result of shape " + Tensor::shape_str(t.shape()) +
                     " cannot become an xt::xtensor of rank " + std::to_string(N));
  std::array<std::size_t, N> shape{};
  for (std::size_t i = 0; i < N; ++i) shape[i] = t.dim(i);
  xt::xtensor<float, N> out(shape);
  std::copy(t.begin(), t.end(), out.data());
  return out;
}

namespace detail {
/// An expression that exposes its memory: xtensor's containers, adaptors and strided views.
template <class E>
concept XtStrided = requires(const E& e) {
  e.data();
  e.data_offset();
  e.strides();
};

/// True when `e`'s elements lie contiguous and row-major in its memory (extents of 1 may carry any stride).
template <class E>
bool xt_row_major_contiguous(const E& e) {
  const auto& shape = e.shape();
  const auto& strides = e.strides();
  std::ptrdiff_t expected = 1;
  for (std::size_t k = shape.size(); k-- > 0;) {
    if (shape[k] != 1 && static_cast<std::ptrdiff_t>(strides[k]) != expected) return false;
    expected *= static_cast<std::ptrdiff_t>(shape[k]);
  }
  return true;
}
}  // namespace detail

/// Every xtensor expression is a model input: read in place when it is float data, contiguous and row-major in
/// memory (xt::xtensor<float, N>, xt::xarray<float>, their adaptors, row ranges of them, expand_dims / reshape views of
/// them); else evaluated once into a Tensor (to_tensor): transposed or strided views, index views, `a + b`, doubles.
template <class E>
  requires xt::is_xexpression<E>::value
struct input_source<E> {
  static InputData get(const E& e) {
    if constexpr (detail::XtStrided<E> && std::is_same_v<std::remove_cv_t<typename E::value_type>, float>) {
      const auto& shape = e.shape();
      if (shape.size() <= TensorView::max_rank && detail::xt_row_major_contiguous(e)) {
        std::array<std::size_t, TensorView::max_rank> dims{};
        for (std::size_t k = 0; k < shape.size(); ++k) dims[k] = static_cast<std::size_t>(shape[k]);
        return InputData(
            TensorView(e.data() + e.data_offset(), std::span<const std::size_t>(dims.data(), shape.size())));
      }
    }
    return InputData(to_tensor(e));
  }
};

/// model.predict(a, b) as an xt::xtensor<float, 1> of n match probabilities; a and b as predict takes them.
template <class Model, class A, class B>
xt::xtensor<float, 1> xt_predict(Model& model, const A& a, const B& b) {
  return to_xtensor<1>(model.predict(a, b), "xt_predict");
}
/// model.predict_embeddings(ea, eb) as an xt::xtensor<float, 1>.
template <class Model, class A, class B>
xt::xtensor<float, 1> xt_predict_embeddings(Model& model, const A& ea, const B& eb) {
  return to_xtensor<1>(model.predict_embeddings(ea, eb), "xt_predict_embeddings");
}
/// model.embed(x) as an xt::xtensor<float, 2> of shape (n, Model::embedding_width).
template <class Model, class X>
xt::xtensor<float, 2> xt_embed(Model& model, const X& x) {
  return to_xtensor<2>(model.embed(x), "xt_embed");
}

}  // namespace siamese
