#pragma once
// Helpers of the CUDA backend tests: buffers in a backend's memory built from host vectors, random
// data, and comparisons that name the worst element. `B` is backend::Cuda or backend::CudaEmulated.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <siamese/backend/reference/reference.hpp>
#include <siamese/core/random.hpp>

namespace siamese::test {

using Ref = backend::Reference;

inline std::vector<float> random_values(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  detail::Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(lo, hi);
  return v;
}
/// Small integers: maxima tie often, which tests that the first maximum gets the gradient.
inline std::vector<float> random_ints(std::size_t n, std::uint64_t seed, int lo, int hi) {
  detail::Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(lo + int(r.below(std::uint64_t(hi - lo + 1))));
  return v;
}

/// A buffer in B's memory, filled from (or read back into) a host vector.
template <class B>
struct Dev {
  typename B::Buffer buf;
  Dev() = default;
  explicit Dev(const std::vector<float>& host) {
    buf.resize(host.size());
    B::to_device(buf.data(), host.data(), host.size());
  }
  explicit Dev(std::size_t n, float v = 0.0f) {
    buf.resize(n);
    if (v != 0.0f) B::fill(buf.data(), v, n);
  }
  float* p() { return buf.data(); }
  std::size_t size() const { return buf.size(); }
  std::vector<float> host() const {
    std::vector<float> h(buf.size());
    B::to_host(h.data(), buf.data(), h.size());
    return h;
  }
};

/// |got - want| <= atol + rtol |want| element-wise (NaN only where want is NaN); names the worst element.
inline void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                         double rtol = 1e-4, double atol = 1e-5) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) && std::isnan(got[i])) continue;
    const double e = std::fabs(double(got[i]) - double(want[i])) / (atol + rtol * std::fabs(double(want[i])));
    if (!(e <= worst)) {  // NaN counts as the worst
      worst = e;
      at = i;
      if (std::isnan(e)) break;
    }
  }
  INFO(what << ": worst element " << at << " of " << got.size() << ": got " << (got.empty() ? 0.0f : got[at])
            << ", reference " << (want.empty() ? 0.0f : want[at]));
  CHECK(worst <= 1.0);
}
/// Bit-for-bit equality (copies, maxima, masks); NaN equals NaN.
inline void expect_equal(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0, first = got.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))) && !bad++) first = i;
  INFO(what << ": " << bad << " of " << got.size() << " elements differ, first at " << first << ": got "
            << (bad ? got[first] : 0.0f) << ", reference " << (bad ? want[first] : 0.0f));
  CHECK(bad == 0);
}
inline void expect_close(const std::string& what, double got, double want, double rtol = 1e-4, double atol = 1e-6) {
  INFO(what << ": got " << got << ", reference " << want);
  CHECK(std::fabs(got - want) <= atol + rtol * std::fabs(want));
}

/// A convolution or pooling geometry as the layers derive it.
inline detail::ConvGeom conv_geom(std::size_t h, std::size_t w, std::size_t c, std::size_t k, std::size_t s,
                                  Padding p, std::size_t f) {
  return {h, w, c, k, k, s, s, detail::pad_before(h, k, s, p), detail::pad_before(w, k, s, p),
          detail::out_extent(h, k, s, p), detail::out_extent(w, k, s, p), f};
}
inline detail::PoolGeom pool_geom(std::size_t h, std::size_t w, std::size_t c, std::size_t k, std::size_t s,
                                  Padding p) {
  return {h, w, c, k, k, s, s, detail::pad_before(h, k, s, p), detail::pad_before(w, k, s, p),
          detail::out_extent(h, k, s, p), detail::out_extent(w, k, s, p)};
}

}  // namespace siamese::test
