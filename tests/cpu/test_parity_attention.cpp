// backend::Cpu's attention core against backend::Reference: several lengths, head widths and padding
// patterns (none, at the end, holes, at the front, a sample of padding only, no token ids at all),
// the kernels alone and the whole MultiHeadSelfAttention layer.
#include <siamese/layers/attention.hpp>

#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

namespace {

/// Token ids of n samples of T positions, sample b following pattern b % 5: 0 no padding, 1 padding at
/// the end (a prefix of valid positions, the fast path), 2 holes, 3 padding only, 4 padding in front.
std::vector<float> token_ids(std::size_t n, std::size_t T, std::uint64_t seed) {
  detail::Rng r(seed);
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
      tok[b * T + t] = valid ? float(1 + r.below(1000)) : 0.0f;
    }
  }
  return tok;
}

/// The probabilities both backends define: valid query rows, valid key columns.
std::vector<float> valid_probs(const std::vector<float>& p, const std::vector<float>& tok, std::size_t n,
                               std::size_t heads, std::size_t T) {
  std::vector<float> out;
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t j = 0; j < T; ++j)
          if (tok.empty() || (tok[b * T + i] != 0.0f && tok[b * T + j] != 0.0f))
            out.push_back(p[((b * heads + h) * T + i) * T + j]);
  return out;
}

void kernel_case(std::size_t n, std::size_t T, std::size_t heads, std::size_t dh, bool with_tokens, std::uint64_t seed) {
  CAPTURE(n);
  CAPTURE(T);
  CAPTURE(heads);
  CAPTURE(dh);
  CAPTURE(with_tokens);
  const std::size_t D = heads * dh, ld = D + 3, ldc = D + 1;  // padded row strides
  const std::vector<float> tok = with_tokens ? token_ids(n, T, seed) : std::vector<float>{};
  const auto q = random_vector(n * T * ld, seed + 1, -2.0f, 2.0f), k = random_vector(n * T * ld, seed + 2, -2.0f, 2.0f),
             v = random_vector(n * T * ld, seed + 3), dctx = random_vector(n * T * ldc, seed + 4);
  const float scale = 1.0f / std::sqrt(float(dh));
  struct Out {
    std::vector<float> q, k, v, ctx, probs;
  };
  auto run = [&]<class B>() {
    Out o{q, k, v, std::vector<float>(n * T * ldc, 7.0f), std::vector<float>(n * heads * T * T, 7.0f)};
    const float* t = with_tokens ? tok.data() : nullptr;
    B::attention_forward(backend::AttentionArgs{o.q.data(), o.k.data(), o.v.data(), ld, o.ctx.data(), ldc,
                                                o.probs.data(), t, T, n, T, heads, dh, scale});
    Out f = o;
    B::attention_backward(backend::AttentionGradArgs{o.q.data(), o.k.data(), o.v.data(), ld, dctx.data(), ldc,
                                                     o.probs.data(), t, T, n, T, heads, dh, scale});
    f.q = o.q;
    f.k = o.k;
    f.v = o.v;
    return f;
  };
  const Out c = run.template operator()<Cpu>(), r = run.template operator()<Ref>();
  // Columns outside the heads (the padding of each row) stay as they were.
  auto heads_only = [&](const std::vector<float>& a, std::size_t stride) {
    std::vector<float> out;
    for (std::size_t row = 0; row < n * T; ++row) out.insert(out.end(), a.begin() + row * stride, a.begin() + row * stride + D);
    return out;
  };
  expect_close("ctx", heads_only(c.ctx, ldc), heads_only(r.ctx, ldc), 1e-4, 1e-5);
  expect_close("probabilities", valid_probs(c.probs, tok, n, heads, T), valid_probs(r.probs, tok, n, heads, T), 1e-4,
               1e-6);
  expect_close("dQ", c.q, r.q, 1e-4, 2e-5);
  expect_close("dK", c.k, r.k, 1e-4, 2e-5);
  expect_close("dV", c.v, r.v, 1e-4, 2e-5);
  for (std::size_t row = 0; row < n * T; ++row)
    for (std::size_t col = D; col < ldc; ++col) CHECK(c.ctx[row * ldc + col] == 7.0f);
}

}  // namespace

TEST_CASE("attention kernels: lengths 1, 7, 33, 128; narrow and BERT-wide heads; every padding pattern") {
  std::uint64_t seed = 1;
  for (std::size_t T : {1, 7, 33})
    for (auto [heads, dh] : {std::pair<std::size_t, std::size_t>{3, 4}, {2, 32}, {1, 19}})
      for (bool tokens : {true, false}) kernel_case(10, T, heads, dh, tokens, seed += 10);
  kernel_case(5, 128, 12, 32, true, 99);
  kernel_case(2, 128, 12, 32, false, 98);
}

TEST_CASE("attention kernels: a sample of padding only gives zeros, no NaN") {
  const std::size_t T = 9, heads = 2, dh = 8, D = 16;
  const std::vector<float> tok(T, 0.0f);
  auto q = random_vector(T * D, 1), k = random_vector(T * D, 2), v = random_vector(T * D, 3);
  const auto dctx = random_vector(T * D, 4);
  std::vector<float> ctx(T * D, 5.0f), probs(heads * T * T, 5.0f);
  Cpu::attention_forward(backend::AttentionArgs{q.data(), k.data(), v.data(), D, ctx.data(), D, probs.data(),
                                                tok.data(), T, 1, T, heads, dh, 0.25f});
  for (float x : ctx) CHECK(x == 0.0f);
  Cpu::attention_backward(backend::AttentionGradArgs{q.data(), k.data(), v.data(), D, dctx.data(), D, probs.data(),
                                                     tok.data(), T, 1, T, heads, dh, 0.25f});
  for (const auto* g : {&q, &k, &v})
    for (float x : *g) CHECK(x == 0.0f);
}

TEST_CASE("MultiHeadSelfAttention layer: Cpu matches Reference, forward and backward, with padding") {
  auto layer_case = [&]<std::size_t T, std::size_t D, std::size_t H>(std::size_t n, bool with_tokens) {
    using L = MultiHeadSelfAttention<D, H>::template bind<Shape<T, D>, LayerIndex<0>>;
    CAPTURE(T);
    CAPTURE(D);
    CAPTURE(with_tokens);
    const auto x = random_vector(n * T * D, 1), dy = random_vector(n * T * D, 2);
    const auto w = random_vector(detail::param_count_of<L>(), 3, -0.1f, 0.1f);
    const auto tok = token_ids(n, T, 4);
    const float* t = with_tokens ? tok.data() : nullptr;
    auto run = [&]<class B>(std::vector<float>& y, std::vector<float>& dx, std::vector<float>& dw) {
      std::vector<float> s(L::scratch(n));
      y.assign(n * T * D, 0.0f);
      dx.assign(n * T * D, 0.0f);
      dw.assign(w.size(), 0.0f);
      L::template forward<B>(Forward{x.data(), y.data(), n, w.data(), nullptr, s.data(), true, 1, t, T});
      L::template backward<B>(
          Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), dw.data(), nullptr, s.data(), t, T});
    };
    std::vector<float> y, dx, dw, yr, dxr, dwr;
    run.template operator()<Cpu>(y, dx, dw);
    run.template operator()<Ref>(yr, dxr, dwr);
    expect_close("y", y, yr, 1e-4, 1e-5);
    expect_close("dx", dx, dxr, 1e-3, 1e-5);
    expect_close("dw", dw, dwr, 1e-3, 1e-4);
  };
  layer_case.template operator()<7, 12, 3>(5, true);
  layer_case.template operator()<32, 384, 12>(5, true);
  layer_case.template operator()<32, 384, 12>(2, false);
  layer_case.template operator()<128, 64, 2>(5, true);
}
