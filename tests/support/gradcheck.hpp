#pragma once
// Finite-difference gradient checks for bound layers and for scalar functions of buffers.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <siamese/core/random.hpp>
#include <siamese/layers/layer.hpp>

namespace siamese::test {

inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  detail::Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(lo, hi);
  return v;
}

/// Compares an analytic gradient with central differences of `loss` over the entries of `x`
/// (at most `max_checks` of them, spread evenly). Reports the worst entry on failure.
inline void check_gradient(const std::string& what, std::vector<float>& x, const std::vector<float>& analytic,
                           const std::function<double()>& loss, double eps = 1e-3, double rtol = 2e-2,
                           double atol = 2e-3, std::size_t max_checks = 160) {
  REQUIRE(x.size() == analytic.size());
  const std::size_t stride = x.size() > max_checks ? x.size() / max_checks : 1;
  double worst = 0;
  std::size_t worst_i = 0;
  double worst_a = 0, worst_n = 0;
  std::size_t checked = 0;
  for (std::size_t i = 0; i < x.size(); i += stride, ++checked) {
    const float keep = x[i];
    x[i] = keep + float(eps);
    const double up = loss();
    x[i] = keep - float(eps);
    const double down = loss();
    x[i] = keep;
    const double num = (up - down) / (double(keep + float(eps)) - double(keep - float(eps)));
    double err = std::fabs(num - analytic[i]) / (atol + rtol * std::max(std::fabs(num), std::fabs(double(analytic[i]))));
    if (std::isnan(err)) err = std::numeric_limits<double>::infinity();  // a NaN gradient (either side) fails
    if (err > worst) {
      worst = err;
      worst_i = i;
      worst_a = analytic[i];
      worst_n = num;
    }
  }
  INFO(what << ": worst entry " << worst_i << " analytic " << worst_a << " numeric " << worst_n << " ("
            << checked << " entries checked)");
  CHECK(worst <= 1.0);
}

/// Gradient check of a bound layer L on backend B: loss = sum(y * r) for a random r.
template <class L, class B>
void check_layer(const std::string& name, std::size_t n, std::uint64_t seed = 1, bool training = true,
                 double rtol = 2e-2, double atol = 2e-3) {
  const std::size_t in = n * L::in_shape::size, out = n * L::out_shape::size;
  std::vector<float> x = random_vector(in, seed), r = random_vector(out, seed + 1);
  std::vector<float> w = random_vector(detail::param_count_of<L>(), seed + 2, -0.5f, 0.5f);
  std::vector<float> state(detail::state_count_of<L>(), 1.0f);
  std::vector<float> scratch(L::scratch(n) + 1), y(out), dx(in), dw(w.size());
  auto loss = [&] {
    L::template forward<B>(Forward{x.data(), y.data(), n, w.data(), state.data(), scratch.data(), training, 99});
    double s = 0;
    for (std::size_t i = 0; i < out; ++i) s += double(y[i]) * r[i];
    return s;
  };
  loss();
  L::template backward<B>(Backward{x.data(), y.data(), r.data(), dx.data(), n, w.data(), dw.data(), state.data(),
                                   scratch.data(), nullptr, 0, training});
  check_gradient(name + " d/dx", x, dx, loss, 1e-3, rtol, atol);
  if (!w.empty()) check_gradient(name + " d/dw", w, dw, loss, 1e-3, rtol, atol);
}

}  // namespace siamese::test
