// Helpers of the sequence tests: gradient checks of bound layers on inputs with padding rows.
#pragma once
#include <siamese/backend/reference/reference.hpp>
#include <siamese/layers/layer.hpp>

#include "../support/gradcheck.hpp"

namespace siamese::test {

using Ref = backend::Reference;
template <class Spec, class In>
using Bound = typename Spec::template bind<In, LayerIndex<0>>;

/// x for n sequences of Shape<T, F>: random, with the rows (b, t) for which pad(b, t) is true all zero.
template <class In, class Pad>
std::vector<float> padded_input(std::size_t n, std::uint64_t seed, Pad pad) {
  constexpr std::size_t T = In::dims[0], F = In::size / T;
  std::vector<float> x = random_vector(n * In::size, seed);
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t t = 0; t < T; ++t)
      if (pad(b, t))
        for (std::size_t k = 0; k < F; ++k) x[(b * T + t) * F + k] = 0.0f;
  return x;
}

/// Finite-difference check of dx and dw of bound layer L at input x (loss sum(y * r)). Entries of
/// all-zero rows (padding) are not perturbed, since a perturbed row is no longer padding; their
/// gradient must be exactly 0.
template <class L, class B = Ref>
void check_layer_at(const std::string& name, std::vector<float> x, std::size_t n, std::uint64_t seed = 1) {
  constexpr std::size_t F = detail::last_dim<typename L::in_shape>;
  const std::size_t out = n * L::out_shape::size;
  std::vector<float> r = random_vector(out, seed + 1);
  std::vector<float> w = random_vector(detail::param_count_of<L>(), seed + 2, -0.5f, 0.5f);
  std::vector<float> state(detail::state_count_of<L>() + 1, 1.0f);
  std::vector<float> scratch(L::scratch(n) + 1), y(out), dx(x.size(), 7.0f), dw(w.size(), 7.0f);
  auto loss = [&] {
    L::template forward<B>(Forward{x.data(), y.data(), n, w.data(), state.data(), scratch.data(), true, 99});
    double s = 0;
    for (std::size_t i = 0; i < out; ++i) s += double(y[i]) * r[i];
    return s;
  };
  loss();
  L::template backward<B>(
      Backward{x.data(), y.data(), r.data(), dx.data(), n, w.data(), dw.data(), state.data(), scratch.data()});
  std::vector<std::size_t> live;
  std::size_t pads = 0;
  for (std::size_t row = 0; row < x.size() / F; ++row) {
    bool zero = true;
    for (std::size_t k = 0; k < F; ++k) zero = zero && x[row * F + k] == 0.0f;
    for (std::size_t k = 0; k < F; ++k) {
      if (!zero) live.push_back(row * F + k);
      else if (dx[row * F + k] != 0.0f) ++pads;
    }
  }
  INFO(name << ": padding entries with a non-zero input gradient: " << pads);
  CHECK(pads == 0);
  std::vector<float> xv, gv;
  for (auto i : live) {
    xv.push_back(x[i]);
    gv.push_back(dx[i]);
  }
  check_gradient(name + " d/dx", xv, gv, [&] {
    for (std::size_t j = 0; j < live.size(); ++j) x[live[j]] = xv[j];
    return loss();
  });
  for (std::size_t j = 0; j < live.size(); ++j) x[live[j]] = xv[j];  // the last perturbation undone
  if (!w.empty()) check_gradient(name + " d/dw", w, dw, loss);
}

}  // namespace siamese::test
