#pragma once
// The attention core (attention_forward, attention_backward) and the MultiHeadSelfAttention layer of a
// CUDA-backend type B against backend::Reference: lengths, head widths and padding patterns (none, at
// the end, holes, in front, a sample of padding only, no token ids). Included after `using B = ...;`.
#include <siamese/layers/attention.hpp>

#include "support.cuh"

using namespace siamese;
using namespace siamese::test;

namespace {

// cuBLAS sums in float where Reference sums in double (so does the host emulation's SGEMM).
constexpr double attention_tol = B::exec::on_device ? 10.0 : 1.0;

/// Sample b follows pattern b % 5: no padding, padding at the end, holes, padding only, padding in front.
inline std::vector<float> attention_tokens(std::size_t n, std::size_t T, std::uint64_t seed) {
  siamese::detail::Rng r(seed);
  std::vector<float> tok(n * T);
  for (std::size_t b = 0; b < n; ++b) {
    const std::size_t L = T > 1 ? 1 + std::size_t(r.below(T - 1)) : 1;
    for (std::size_t t = 0; t < T; ++t) {
      bool valid = true;
      switch (b % 5) {
        case 1: valid = t < L; break;
        case 2: valid = r.below(3) != 0 || t == 0; break;
        case 3: valid = false; break;
        case 4: valid = t >= T - L; break;
        default: break;
      }
      tok[b * T + t] = valid ? float(1 + r.below(500)) : 0.0f;
    }
  }
  return tok;
}

void attention_kernel_case(std::size_t n, std::size_t T, std::size_t heads, std::size_t dh, bool with_tokens,
                           std::uint64_t seed) {
  INFO("n " << n << ", T " << T << ", heads " << heads << ", head width " << dh << (with_tokens ? "" : ", no ids"));
  const std::size_t D = heads * dh, ld = D + 3, ldc = D + 1;
  const auto tok = attention_tokens(n, T, seed);
  const auto q = random_values(n * T * ld, seed + 1, -2.0f, 2.0f), k = random_values(n * T * ld, seed + 2, -2.0f, 2.0f);
  const auto v = random_values(n * T * ld, seed + 3), dctx = random_values(n * T * ldc, seed + 4);
  const float scale = 1.0f / std::sqrt(float(dh));
  std::vector<float> rq = q, rk = k, rv = v, rctx(n * T * ldc, 7.0f), rp(n * heads * T * T);
  const float* rt = with_tokens ? tok.data() : nullptr;
  Ref::attention_forward(
      backend::AttentionArgs{rq.data(), rk.data(), rv.data(), ld, rctx.data(), ldc, rp.data(), rt, T, n, T, heads, dh, scale});
  Ref::attention_backward(backend::AttentionGradArgs{rq.data(), rk.data(), rv.data(), ld, dctx.data(), ldc, rp.data(),
                                                     rt, T, n, T, heads, dh, scale});
  Dev<B> bq(q), bk(k), bv(v), bctx(std::vector<float>(n * T * ldc, 7.0f)), bp(n * heads * T * T), bdctx(dctx), btok(tok);
  const float* bt = with_tokens ? btok.p() : nullptr;
  B::attention_forward(backend::AttentionArgs{bq.p(), bk.p(), bv.p(), ld, bctx.p(), ldc, bp.p(), bt, T, n, T, heads,
                                              dh, scale});
  expect_close("ctx", bctx.host(), rctx, 1e-4 * attention_tol, 1e-5 * attention_tol);
  B::attention_backward(backend::AttentionGradArgs{bq.p(), bk.p(), bv.p(), ld, bdctx.p(), ldc, bp.p(), bt, T, n, T,
                                                   heads, dh, scale});
  expect_close("dQ", bq.host(), rq, 1e-4 * attention_tol, 2e-5 * attention_tol);
  expect_close("dK", bk.host(), rk, 1e-4 * attention_tol, 2e-5 * attention_tol);
  expect_close("dV", bv.host(), rv, 1e-4 * attention_tol, 2e-5 * attention_tol);
}

TEST_CASE("attention kernels: lengths, head widths, every padding pattern") {
  std::uint64_t seed = 500;
  for (std::size_t T : {1, 7, 33})
    for (auto [heads, dh] : {std::pair<std::size_t, std::size_t>{3, 4}, {2, 32}})
      for (bool tokens : {true, false}) attention_kernel_case(10, T, heads, dh, tokens, seed += 10);
  attention_kernel_case(5, 64, 12, 32, true, 900);
}

TEST_CASE("MultiHeadSelfAttention layer with padded token ids") {
  const std::size_t n = 5, T = 9, D = 12;
  using L = MultiHeadSelfAttention<D, 3>::bind<Shape<T, D>, LayerIndex<0>>;
  const auto x = random_values(n * T * D, 601), dy = random_values(n * T * D, 602);
  const auto w = random_values(siamese::detail::param_count_of<L>(), 603, -0.5f, 0.5f), tok = attention_tokens(n, T, 604);
  std::vector<float> y(n * T * D), dx(n * T * D), dw(w.size()), s(L::scratch(n));
  L::forward<Ref>(Forward{x.data(), y.data(), n, w.data(), nullptr, s.data(), true, 1, tok.data(), T});
  L::backward<Ref>(Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), dw.data(), nullptr, s.data(),
                            tok.data(), T});
  Dev<B> bx(x), bdy(dy), bw(w), btok(tok), by(n * T * D), bdx(n * T * D), bdw(w.size()), bs(L::scratch(n));
  L::forward<B>(Forward{bx.p(), by.p(), n, bw.p(), nullptr, bs.p(), true, 1, btok.p(), T});
  L::backward<B>(Backward{bx.p(), by.p(), bdy.p(), bdx.p(), n, bw.p(), bdw.p(), nullptr, bs.p(), btok.p(), T});
  expect_close("y", by.host(), y, 1e-4 * attention_tol, 1e-5 * attention_tol);
  expect_close("dx", bdx.host(), dx, 1e-4 * attention_tol, 1e-5 * attention_tol);
  expect_close("dw", bdw.host(), dw, 1e-4 * attention_tol, 1e-5 * attention_tol);
}

}  // namespace
