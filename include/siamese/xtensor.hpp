#pragma once
// xtensor interoperability: view the library's tensors as xtensor expressions without copying, and
// turn any xtensor expression into a Tensor. Kept out of the umbrella header: xtensor is heavy to compile.
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <cstddef>
#include <vector>

#include "core/tensor.hpp"

namespace siamese {

/// A writable xtensor view of `t` (no copy); valid while `t` lives and keeps its shape.
inline auto as_xtensor(Tensor& t) {
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), t.shape());
}
/// A read-only xtensor view of `t` (no copy).
inline auto as_xtensor(const Tensor& t) {
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), t.shape());
}

/// A Tensor holding the values of an xtensor expression (evaluated, row-major), e.g. a batch
/// prepared with xtensor's operations, ready for Siamese::predict or train_step.
template <class E>
Tensor to_tensor(const xt::xexpression<E>& expr) {
  // Assigned to an xarray, not xt::eval'd: xtensor 0.24's eval of a scalar times a dynamic-rank expression
  // gives a result of rank 4 whatever the operand's rank.
  const xt::xarray<typename E::value_type> v = expr.derived_cast();
  Tensor t(std::vector<std::size_t>(v.shape().begin(), v.shape().end()));
  std::size_t i = 0;
  for (auto x : v) t[i++] = static_cast<float>(x);
  return t;
}

}  // namespace siamese
