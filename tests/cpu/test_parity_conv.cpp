// backend::Cpu against backend::Reference: convolution (forward, and backward with every subset of
// gradients) and pooling over awkward geometries: odd channel counts, stride 2, Same padding,
// non-square kernels, 1x1 kernels, batches of 1, 7 and 33.
#include <algorithm>

#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

namespace {
double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}
/// Float sums of many products: relative error against the largest magnitude of the result.
void expect_sum_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  expect_close(what, got, want, 1e-4, 2e-5 * std::max(1.0, max_abs(want)));
}
/// Values on a coarse grid, so pooling windows hold ties.
std::vector<float> coarse_vector(std::size_t n, std::uint64_t seed) {
  auto v = random_vector(n, seed, -2.0f, 2.0f);
  for (auto& x : v) x = std::round(x * 2.0f) / 2.0f;
  return v;
}

struct ConvCase {
  std::size_t h, w, c, kh, kw, sh, sw;
  Padding p;
  std::size_t f;
};
const ConvCase conv_cases[] = {
    {28, 28, 1, 3, 3, 1, 1, Padding::Valid, 32},  // the benchmark model's first layer
    {13, 13, 32, 3, 3, 1, 1, Padding::Valid, 64}, // and its second
    {7, 9, 3, 3, 3, 2, 2, Padding::Same, 5},      {8, 8, 7, 5, 5, 1, 1, Padding::Same, 33},
    {5, 6, 2, 3, 2, 2, 1, Padding::Valid, 7},     {6, 6, 4, 1, 1, 1, 1, Padding::Valid, 9},
    {6, 6, 4, 1, 1, 2, 2, Padding::Valid, 3},     {1, 1, 3, 1, 1, 1, 1, Padding::Same, 1},
    {3, 3, 2, 3, 3, 1, 1, Padding::Same, 1},      {4, 4, 3, 3, 3, 3, 3, Padding::Same, 2},
    {9, 4, 5, 4, 2, 2, 3, Padding::Same, 17},
    // Direct kernels (kh*kw*c <= 32, f <= 64): a second, partial block of 32 outputs; 64 outputs.
    {10, 10, 3, 3, 3, 1, 1, Padding::Valid, 40}, {28, 28, 1, 5, 5, 2, 2, Padding::Same, 64},
    // im2col + sgemm for small kernels that the direct kernels leave: pointwise over 40 channels, 70 outputs.
    {5, 5, 40, 1, 1, 1, 1, Padding::Valid, 9},    {6, 6, 2, 3, 3, 1, 1, Padding::Same, 70},
    // ResNet-50's stem (7x7 stride 2, Same: asymmetric padding on an even input) and its strided 1x1 reduction.
    {16, 16, 3, 7, 7, 2, 2, Padding::Same, 8},    {9, 9, 16, 1, 1, 2, 2, Padding::Valid, 8},
};
}  // namespace

TEST_CASE("conv2d forward and backward match the reference") {
  for (const auto& k : conv_cases) {
    const auto g = conv_geom(k.h, k.w, k.c, k.kh, k.kw, k.sh, k.sw, k.p, k.f);
    for (std::size_t n : {1, 7, 33}) {
      if (n == 33 && g.c * g.f > 1000) n = 9;  // keep the double-precision reference quick
      CAPTURE(k.h);
      CAPTURE(k.w);
      CAPTURE(k.c);
      CAPTURE(k.kh);
      CAPTURE(k.kw);
      CAPTURE(k.sh);
      CAPTURE(k.sw);
      CAPTURE(k.f);
      CAPTURE(n);
      const std::size_t in = n * g.h * g.w * g.c, out = n * g.oh * g.ow * g.f, wn = g.kh * g.kw * g.c * g.f;
      const auto x = random_vector(in, 1), w = random_vector(wn, 2, -0.5f, 0.5f), bias = random_vector(g.f, 3);
      const auto dy = random_vector(out, 4);
      for (bool with_bias : {true, false}) {
        std::vector<float> y(out, 9.0f), yr(out);
        Cpu::conv2d_forward({g, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data(), n});
        Ref::conv2d_forward({g, x.data(), w.data(), with_bias ? bias.data() : nullptr, yr.data(), n});
        expect_sum_close(with_bias ? "forward with bias" : "forward", y, yr);
      }
      std::vector<float> dx(in, 9.0f), dw(wn, 9.0f), db(g.f, 9.0f), dxr(in), dwr(wn), dbr(g.f);
      Ref::conv2d_backward({g, x.data(), w.data(), dy.data(), dxr.data(), dwr.data(), dbr.data(), n});
      Cpu::conv2d_backward({g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), n});
      expect_sum_close("dx", dx, dxr);
      expect_sum_close("dw", dw, dwr);
      expect_sum_close("db", db, dbr);
      // Each gradient alone: the others are not touched.
      std::vector<float> only(in, 9.0f);
      Cpu::conv2d_backward({g, x.data(), w.data(), dy.data(), only.data(), nullptr, nullptr, n});
      expect_sum_close("dx alone", only, dxr);
      only.assign(wn, 9.0f);
      Cpu::conv2d_backward({g, x.data(), w.data(), dy.data(), nullptr, only.data(), nullptr, n});
      expect_sum_close("dw alone", only, dwr);
      only.assign(g.f, 9.0f);
      Cpu::conv2d_backward({g, x.data(), w.data(), dy.data(), nullptr, nullptr, only.data(), n});
      expect_sum_close("db alone", only, dbr);
    }
  }
}

TEST_CASE("conv2d with a fused activation matches the reference's convolution then activation") {
  for (const auto& k : conv_cases) {
    const auto g = conv_geom(k.h, k.w, k.c, k.kh, k.kw, k.sh, k.sw, k.p, k.f);
    const std::size_t n = 5, in = n * g.h * g.w * g.c, out = n * g.oh * g.ow * g.f, wn = g.kh * g.kw * g.c * g.f;
    const auto x = random_vector(in, 21), w = random_vector(wn, 22, -0.5f, 0.5f), bias = random_vector(g.f, 23);
    const auto dy = random_vector(out, 24);
    for (Act a : {Act::ReLU, Act::Sigmoid, Act::Tanh, Act::Linear}) {
      CAPTURE(k.h);
      CAPTURE(k.c);
      CAPTURE(k.kh);
      CAPTURE(k.f);
      CAPTURE(detail::act_name(a));
      std::vector<float> y(out), yr(out);
      Cpu::conv2d_forward_act({g, a, x.data(), w.data(), bias.data(), y.data(), n});
      Ref::conv2d_forward({g, x.data(), w.data(), bias.data(), yr.data(), n});
      Ref::activation({a, yr.data(), yr.data(), out});
      expect_sum_close("forward", y, yr);
      std::vector<float> dz(out), dx(in, 9.0f), dw(wn, 9.0f), db(g.f, 9.0f), dxr(in), dwr(wn), dbr(g.f);
      Ref::activation_backward({a, yr.data(), dy.data(), dz.data(), out});
      Ref::conv2d_backward({g, x.data(), w.data(), dz.data(), dxr.data(), dwr.data(), dbr.data(), n});
      Cpu::conv2d_backward_act({g, a, x.data(), yr.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), n});
      expect_sum_close("dx", dx, dxr);
      expect_sum_close("dw", dw, dwr);
      expect_sum_close("db", db, dbr);
      std::vector<float> only(g.f, 9.0f);
      Cpu::conv2d_backward_act({g, a, x.data(), yr.data(), w.data(), dy.data(), nullptr, nullptr, only.data(), n});
      expect_sum_close("db alone", only, dbr);
      // Without a bias (Conv2DNoBias): forward with a null bias, backward with a null db.
      std::vector<float> yn(out), ynr(out), dxn(in, 9.0f), dwn(wn, 9.0f);
      Cpu::conv2d_forward_act({g, a, x.data(), w.data(), nullptr, yn.data(), n});
      Ref::conv2d_forward({g, x.data(), w.data(), nullptr, ynr.data(), n});
      Ref::activation({a, ynr.data(), ynr.data(), out});
      expect_sum_close("forward without bias", yn, ynr);
      Ref::activation_backward({a, ynr.data(), dy.data(), dz.data(), out});
      Ref::conv2d_backward({g, x.data(), w.data(), dz.data(), dxr.data(), dwr.data(), nullptr, n});
      Cpu::conv2d_backward_act({g, a, x.data(), ynr.data(), w.data(), dy.data(), dxn.data(), dwn.data(), nullptr, n});
      expect_sum_close("dx without bias", dxn, dxr);
      expect_sum_close("dw without bias", dwn, dwr);
    }
  }
}

TEST_CASE("wide 3x3 convolutions (Winograd F(2x2, 3x3)) match the reference") {
  struct Case {
    std::size_t h, w, c, f;
    Padding p;
  };
  // Even and odd output extents (partial tiles), channel counts with SIMD tails, both paddings.
  for (const Case k : {Case{16, 16, 64, 64, Padding::Valid}, Case{15, 17, 67, 70, Padding::Same},
                       Case{14, 14, 128, 64, Padding::Same}, Case{17, 16, 64, 129, Padding::Valid}}) {
    const auto g = conv_geom(k.h, k.w, k.c, 3, 3, 1, 1, k.p, k.f);
    REQUIRE(cpu::detail::conv_winograd_ok(g));
    const std::size_t n = 3, in = n * g.h * g.w * g.c, out = n * g.oh * g.ow * g.f, wn = 9 * g.c * g.f;
    const auto x = random_vector(in, 31), w = random_vector(wn, 32, -0.5f, 0.5f), bias = random_vector(g.f, 33);
    for (Act a : {Act::ReLU, Act::Linear, Act::Tanh})
      for (bool with_bias : {true, false}) {
        CAPTURE(k.h);
        CAPTURE(k.c);
        CAPTURE(k.f);
        CAPTURE(detail::act_name(a));
        CAPTURE(with_bias);
        std::vector<float> y(out, 9.0f), yr(out);
        Cpu::conv2d_forward_act({g, a, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data(), n});
        Ref::conv2d_forward({g, x.data(), w.data(), with_bias ? bias.data() : nullptr, yr.data(), n});
        Ref::activation({a, yr.data(), yr.data(), out});
        expect_sum_close("winograd forward", y, yr);
      }
  }
  // Narrow, small or strided convolutions keep the other paths.
  CHECK_FALSE(cpu::detail::conv_winograd_ok(conv_geom(16, 16, 32, 3, 3, 1, 1, Padding::Valid, 64)));
  CHECK_FALSE(cpu::detail::conv_winograd_ok(conv_geom(13, 13, 64, 3, 3, 1, 1, Padding::Valid, 64)));
  CHECK_FALSE(cpu::detail::conv_winograd_ok(conv_geom(32, 32, 64, 3, 3, 2, 2, Padding::Same, 64)));
  CHECK_FALSE(cpu::detail::conv_winograd_ok(conv_geom(32, 32, 64, 5, 5, 1, 1, Padding::Same, 64)));
}

TEST_CASE("conv2d with a batch large enough for several chunks and threads") {
  const auto g = conv_geom(13, 13, 32, 3, 3, 1, 1, Padding::Valid, 64);
  const std::size_t n = 40, in = n * g.h * g.w * g.c, out = n * g.oh * g.ow * g.f, wn = 9 * 32 * 64;
  const auto x = random_vector(in, 5), w = random_vector(wn, 6, -0.2f, 0.2f), dy = random_vector(out, 7);
  std::vector<float> y(out), yr(out), dx(in), dxr(in), dw(wn), dwr(wn);
  Cpu::conv2d_forward({g, x.data(), w.data(), nullptr, y.data(), n});
  Ref::conv2d_forward({g, x.data(), w.data(), nullptr, yr.data(), n});
  expect_sum_close("forward", y, yr);
  Cpu::conv2d_backward({g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), nullptr, n});
  Ref::conv2d_backward({g, x.data(), w.data(), dy.data(), dxr.data(), dwr.data(), nullptr, n});
  expect_sum_close("dx", dx, dxr);
  expect_sum_close("dw", dw, dwr);
  // Fused ReLU over several chunks.
  std::vector<float> dz(out), yrelu(out);
  Cpu::conv2d_forward_act({g, Act::ReLU, x.data(), w.data(), nullptr, yrelu.data(), n});
  Ref::activation({Act::ReLU, yr.data(), yr.data(), out});
  expect_sum_close("relu forward", yrelu, yr);
  Ref::activation_backward({Act::ReLU, yr.data(), dy.data(), dz.data(), out});
  Ref::conv2d_backward({g, x.data(), w.data(), dz.data(), dxr.data(), dwr.data(), nullptr, n});
  Cpu::conv2d_backward_act({g, Act::ReLU, x.data(), yr.data(), w.data(), dy.data(), dx.data(), dw.data(), nullptr, n});
  expect_sum_close("relu dx", dx, dxr);
  expect_sum_close("relu dw", dw, dwr);
}

TEST_CASE("conv2d of an empty batch writes zero gradients") {
  const auto g = conv_geom(5, 5, 3, 3, 3, 1, 1, Padding::Same, 4);
  std::vector<float> dw(3 * 3 * 3 * 4, 9.0f), db(4, 9.0f);
  Cpu::conv2d_backward({g, nullptr, nullptr, nullptr, nullptr, dw.data(), db.data(), 0});
  for (float v : dw) CHECK(v == 0.0f);
  for (float v : db) CHECK(v == 0.0f);
}

TEST_CASE("pool2d forward and backward match the reference, ties included") {
  struct Case {
    std::size_t h, w, c, k, s;
    Padding p;
  };
  const Case cases[] = {{26, 26, 32, 2, 2, Padding::Valid}, {11, 11, 64, 2, 2, Padding::Valid},
                        {7, 7, 3, 3, 2, Padding::Same},     {5, 5, 33, 2, 1, Padding::Valid},
                        {6, 5, 7, 3, 3, Padding::Same},     {1, 1, 1, 1, 1, Padding::Valid},
                        {4, 7, 17, 3, 1, Padding::Same}};
  for (const auto& k : cases)
    for (std::size_t n : {1, 7, 33})
      for (bool is_max : {true, false}) {
        CAPTURE(k.h);
        CAPTURE(k.w);
        CAPTURE(k.c);
        CAPTURE(k.k);
        CAPTURE(k.s);
        CAPTURE(n);
        CAPTURE(is_max);
        const auto g = pool_geom(k.h, k.w, k.c, k.k, k.s, k.p);
        const std::size_t in = n * g.h * g.w * g.c, out = n * g.oh * g.ow * g.c;
        const auto x = coarse_vector(in, 11 + n), dy = random_vector(out, 12);
        std::vector<float> y(out), yr(out), dx(in, 9.0f), dxr(in);
        Cpu::pool2d_forward({g, is_max, x.data(), y.data(), n});
        Ref::pool2d_forward({g, is_max, x.data(), yr.data(), n});
        if (is_max) expect_equal("max forward", y, yr);
        else expect_close("average forward", y, yr, 1e-6, 1e-6);
        Cpu::pool2d_backward({g, is_max, x.data(), yr.data(), dy.data(), dx.data(), n});
        Ref::pool2d_backward({g, is_max, x.data(), yr.data(), dy.data(), dxr.data(), n});
        expect_equal("backward", dx, dxr);
      }
}

TEST_CASE("global pooling matches the reference, ties included") {
  for (std::size_t rows : {1, 7, 49, 121})
    for (std::size_t c : {1, 7, 16, 33, 64})
      for (std::size_t n : {1, 7, 33})
        for (bool is_max : {true, false}) {
          CAPTURE(rows);
          CAPTURE(c);
          CAPTURE(n);
          CAPTURE(is_max);
          const auto x = coarse_vector(n * rows * c, 13 + rows), dy = random_vector(n * c, 14);
          std::vector<float> y(n * c), yr(n * c), dx(n * rows * c, 9.0f), dxr(n * rows * c);
          Cpu::global_pool_forward({is_max, x.data(), y.data(), n, rows, c});
          Ref::global_pool_forward({is_max, x.data(), yr.data(), n, rows, c});
          if (is_max) expect_equal("max forward", y, yr);
          else expect_close("average forward", y, yr, 1e-6, 1e-6);
          Cpu::global_pool_backward({is_max, x.data(), yr.data(), dy.data(), dx.data(), n, rows, c});
          Ref::global_pool_backward({is_max, x.data(), yr.data(), dy.data(), dxr.data(), n, rows, c});
          expect_equal("backward", dx, dxr);
        }
}
