#pragma once
// Helpers of the Cpu-versus-Reference parity tests: random inputs, geometries, and a comparison
// that names the worst element.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <siamese/backend/backend.hpp>
#include <siamese/model/features.hpp>

#include "../support/gradcheck.hpp"

namespace siamese::test {

using Ref = backend::Reference;
using Cpu = backend::Cpu;

/// Checks |got - want| <= atol + rtol * |want| element-wise; reports the worst element on failure.
inline void expect_close(const std::string& what, const float* got, const float* want, std::size_t n,
                         double rtol = 1e-5, double atol = 1e-5) {
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = std::fabs(double(got[i]) - double(want[i])) / (atol + rtol * std::fabs(double(want[i])));
    if (!(e <= worst)) {  // NaN counts as the worst
      worst = e;
      at = i;
      if (std::isnan(e)) break;
    }
  }
  INFO(what << ": worst element " << at << " of " << n << ": cpu " << (n ? got[at] : 0.0f) << ", reference "
            << (n ? want[at] : 0.0f));
  CHECK(worst <= 1.0);
}
inline void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                         double rtol = 1e-5, double atol = 1e-5) {
  REQUIRE(got.size() == want.size());
  expect_close(what, got.data(), want.data(), got.size(), rtol, atol);
}
/// Bit-for-bit equality, for results that involve no rounding (copies, maxima, masks).
inline void expect_equal(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0, first = got.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i])))) {
      if (!bad++) first = i;
    }
  INFO(what << ": " << bad << " of " << got.size() << " elements differ, first at " << first);
  CHECK(bad == 0);
}

/// A convolution geometry as the Conv2D layer derives it (square or not, stride, Keras padding).
inline detail::ConvGeom conv_geom(std::size_t h, std::size_t w, std::size_t c, std::size_t kh, std::size_t kw,
                                  std::size_t sh, std::size_t sw, Padding p, std::size_t f) {
  return {h, w, c, kh, kw, sh, sw, detail::pad_before(h, kh, sh, p), detail::pad_before(w, kw, sw, p),
          detail::out_extent(h, kh, sh, p), detail::out_extent(w, kw, sw, p), f};
}
inline detail::PoolGeom pool_geom(std::size_t h, std::size_t w, std::size_t c, std::size_t k, std::size_t s,
                                  Padding p) {
  return {h, w, c, k, k, s, s, detail::pad_before(h, k, s, p), detail::pad_before(w, k, s, p),
          detail::out_extent(h, k, s, p), detail::out_extent(w, k, s, p)};
}

}  // namespace siamese::test
