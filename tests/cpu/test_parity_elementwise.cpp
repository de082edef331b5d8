// backend::Cpu against backend::Reference: element-wise kernels, biases, activations, dropout and the
// gradient utilities, on awkward sizes (SIMD tails) and on sizes that take the threaded path.
#include <limits>

#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

namespace {
const std::size_t sizes[] = {1, 7, 16, 33, 127, 1000, 100003};
}

TEST_CASE("copy, fill, add, mul, scale, clip equal the reference bit for bit") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    const auto x = random_vector(n, 1, -3.0f, 3.0f), z = random_vector(n, 2, -3.0f, 3.0f);
    std::vector<float> a(n), b(n);
    Cpu::copy(a.data(), x.data(), n);
    expect_equal("copy", a, x);
    Cpu::fill(a.data(), 0.25f, n);
    Ref::fill(b.data(), 0.25f, n);
    expect_equal("fill", a, b);
    a = x, b = x;
    Cpu::add(a.data(), z.data(), n);
    Ref::add(b.data(), z.data(), n);
    expect_equal("add", a, b);
    Cpu::mul(x.data(), z.data(), a.data(), n);
    Ref::mul(x.data(), z.data(), b.data(), n);
    expect_equal("mul", a, b);
    a = x, b = x;
    Cpu::mul(a.data(), z.data(), a.data(), n);  // in place
    Ref::mul(b.data(), z.data(), b.data(), n);
    expect_equal("mul in place", a, b);
    a = x, b = x;
    Cpu::scale(a.data(), -0.3f, n);
    Ref::scale(b.data(), -0.3f, n);
    expect_equal("scale", a, b);
    a = x, b = x;
    Cpu::clip(a.data(), 1.1f, n);
    Ref::clip(b.data(), 1.1f, n);
    expect_equal("clip", a, b);
  }
}

TEST_CASE("copy moves overlapping ranges like memmove") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    auto a = random_vector(n + 9, 3), b = a;
    Cpu::copy(a.data() + 9, a.data(), n);
    Ref::copy(b.data() + 9, b.data(), n);
    expect_equal("copy forward overlap", a, b);
    Cpu::copy(a.data(), a.data() + 5, n);
    Ref::copy(b.data(), b.data() + 5, n);
    expect_equal("copy backward overlap", a, b);
  }
}

TEST_CASE("sum_squares and all_finite") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    auto x = random_vector(n, 4, -2.0f, 2.0f);
    const double got = Cpu::sum_squares(x.data(), n), want = Ref::sum_squares(x.data(), n);
    CHECK(std::fabs(got - want) <= 1e-6 * want);
    CHECK(Cpu::all_finite(x.data(), n));
    for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN()})
      for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {
        auto y = x;
        y[at] = bad;
        CAPTURE(at);
        CHECK_FALSE(Cpu::all_finite(y.data(), n));
        CHECK(Ref::all_finite(y.data(), n) == Cpu::all_finite(y.data(), n));
      }
  }
  CHECK(Cpu::sum_squares(nullptr, 0) == 0.0);
  CHECK(Cpu::all_finite(nullptr, 0));
}

TEST_CASE("copy_cols, add_bias and bias_grad") {
  for (std::size_t rows : {1, 7, 33, 300, 70001})
    for (std::size_t cols : {1, 7, 16, 33}) {
      CAPTURE(rows);
      CAPTURE(cols);
      const std::size_t ld_src = cols + 3, ld_dst = cols + 5;
      const auto src = random_vector(rows * ld_src, 5), bias = random_vector(cols, 6);
      std::vector<float> a(rows * ld_dst, -7.0f), b = a;
      Cpu::copy_cols({a.data(), ld_dst, src.data(), ld_src, rows, cols});
      Ref::copy_cols({b.data(), ld_dst, src.data(), ld_src, rows, cols});
      expect_equal("copy_cols", a, b);
      auto y = random_vector(rows * cols, 7), yr = y;
      Cpu::add_bias({y.data(), bias.data(), rows, cols});
      Ref::add_bias({yr.data(), bias.data(), rows, cols});
      expect_equal("add_bias", y, yr);
      std::vector<float> db(cols), dbr(cols);
      Cpu::bias_grad({y.data(), db.data(), rows, cols});
      Ref::bias_grad({y.data(), dbr.data(), rows, cols});
      // The sums run over rows of values in [-2, 2]: compare against the scale of the sum.
      expect_close("bias_grad", db, dbr, 1e-5, 1e-6 * double(rows));
    }
}

TEST_CASE("activations and their gradients") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    auto x = random_vector(n, 8, -6.0f, 6.0f);
    if (n > 4) {
      x[0] = 60.0f;  // saturated sigmoid and tanh, no overflow
      x[1] = -60.0f;
      x[2] = 0.0f;
      x[3] = -0.0f;
    }
    const auto dy = random_vector(n, 9);
    for (Act a : {Act::Linear, Act::ReLU, Act::Sigmoid, Act::Tanh}) {
      CAPTURE(detail::act_name(a));
      std::vector<float> y(n), yr(n);
      Cpu::activation({a, x.data(), y.data(), n});
      Ref::activation({a, x.data(), yr.data(), n});
      expect_close("activation", y, yr, 2e-6, 1e-7);
      auto inplace = x;
      Cpu::activation({a, inplace.data(), inplace.data(), n});
      expect_equal("activation in place", inplace, y);
      std::vector<float> dx(n), dxr(n);
      Cpu::activation_backward({a, yr.data(), dy.data(), dx.data(), n});
      Ref::activation_backward({a, yr.data(), dy.data(), dxr.data(), n});
      expect_close("activation_backward", dx, dxr, 1e-6, 1e-7);
      auto g = dy;
      Cpu::activation_backward({a, yr.data(), g.data(), g.data(), n});
      expect_equal("activation_backward in place", g, dx);
      if (a == Act::ReLU || a == Act::Linear) {
        expect_equal("exact activation", y, yr);
        expect_equal("exact activation_backward", dx, dxr);
      }
    }
  }
}

TEST_CASE("activation(GELU) matches the reference; activation_backward refuses GELU on both backends") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    const auto x = random_vector(n, 11, -8.0f, 8.0f), dy = random_vector(n, 12);
    std::vector<float> y(n), yr(n), dx(n);
    Cpu::activation({.act = Act::GELU, .x = x.data(), .y = y.data(), .n = n});
    Ref::activation({.act = Act::GELU, .x = x.data(), .y = yr.data(), .n = n});
    expect_close("activation(GELU)", y, yr, 2e-6, 1e-7);
    CHECK_THROWS_AS(Cpu::activation_backward({.act = Act::GELU, .y = y.data(), .dy = dy.data(), .dx = dx.data(), .n = n}),
                    std::invalid_argument);
    CHECK_THROWS_AS(Ref::activation_backward({.act = Act::GELU, .y = y.data(), .dy = dy.data(), .dx = dx.data(), .n = n}),
                    std::invalid_argument);
  }
}

TEST_CASE("dropout masks are bit-identical to the reference's") {
  for (std::size_t n : sizes)
    for (float rate : {0.2f, 0.5f}) {
      CAPTURE(n);
      CAPTURE(rate);
      const auto x = random_vector(n, 10);
      std::vector<float> y(n), m(n), yr(n), mr(n);
      Cpu::dropout_forward({x.data(), y.data(), m.data(), rate, 1234 + n, n});
      Ref::dropout_forward({x.data(), yr.data(), mr.data(), rate, 1234 + n, n});
      expect_equal("mask", m, mr);
      expect_equal("output", y, yr);
      if (n >= 1000) {
        std::size_t dropped = 0;
        for (float v : m) dropped += v == 0.0f;
        CHECK(std::fabs(double(dropped) / double(n) - rate) < 0.05);
      }
    }
}

TEST_CASE("NaN handling follows the reference: clip keeps a NaN, max pooling skips one") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t n : {7, 33}) {
    auto x = random_vector(n, 11, -3.0f, 3.0f);
    x[n - 2] = nan;
    x[1] = nan;
    auto a = x, b = x;
    Cpu::clip(a.data(), 1.0f, n);
    Ref::clip(b.data(), 1.0f, n);
    expect_equal("clip", a, b);
    CHECK(std::isnan(a[1]));
  }
  // One 2x2 window per channel; 17 channels cover the SIMD body and its tail.
  const detail::PoolGeom g{2, 2, 17, 2, 2, 2, 2, 0, 0, 1, 1};
  auto x = random_vector(4 * 17, 12);
  for (std::size_t k = 0; k < 17; ++k) x[(k % 4) * 17 + k] = nan;  // a NaN in cell 0, 1, 2 or 3
  std::vector<float> y(17), yr(17);
  Cpu::pool2d_forward({g, true, x.data(), y.data(), 1});
  Ref::pool2d_forward({g, true, x.data(), yr.data(), 1});
  expect_equal("max pool with NaN", y, yr);
  for (float v : y) CHECK_FALSE(std::isnan(v));
}
