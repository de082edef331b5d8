// backend::Cpu against backend::Reference: the kernels of the text-encoder layers (GELU, LayerNorm, L2Normalize,
// masked mean pooling, BertEmbeddings) on SIMD tails, threaded sizes and aliased buffers; the vectorised erf
// against std::erf; whole layers with token ids; and a rough timing at all-MiniLM-L6-v2's size.
#include <siamese/layers/bert_embeddings.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/feed_forward.hpp>
#include <siamese/layers/l2_normalize.hpp>
#include <siamese/layers/masked_mean_pool.hpp>
#include <siamese/layers/residual.hpp>

#include <chrono>
#include <cmath>

#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;
using namespace siamese::backend;

namespace {
struct Size {
  std::size_t rows, cols;
};
// a single value, SIMD tails, MiniLM's widths, and sizes that take the threaded paths
const Size sizes[] = {{1, 1}, {3, 13}, {5, 37}, {2, 384}, {700, 384}, {64, 1536}, {300, 129}};

std::vector<float> ids_for(std::size_t n, std::size_t vocab, std::uint64_t seed, bool zeros) {
  siamese::detail::Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(zeros ? r.below(vocab) : 1 + r.below(vocab - 1));
  return v;
}

}  // namespace

TEST_CASE("the vectorised erf, Phi and GELU against std::erf / std::erfc in double over [-10, 10]") {
  using cpu::detail::Vec;
  double worst_erf = 0, worst_gelu = 0, worst_grad = 0;
  float at_erf = 0, at_gelu = 0, at_grad = 0;
  for (int i = -200000; i <= 200000; ++i) {
    const float x = float(i) * 5e-5f;
    const double xd = x, e = std::erf(xd), phi = 0.5 * std::erfc(-xd / std::sqrt(2.0));
    const double g = xd * phi, dg = phi + xd * std::exp(-0.5 * xd * xd) / std::sqrt(2 * 3.14159265358979323846);
    const double ee = e == 0 ? 0 : std::fabs(cpu::detail::erf(Vec(x)).get(0) - e) / std::fabs(e);
    const double eg = g == 0 ? 0 : std::fabs(cpu::detail::gelu(Vec(x)).get(0) - g) / std::fabs(g);
    const double ed = std::fabs(cpu::detail::gelu_grad(Vec(x)).get(0) - dg) / (1e-7 + 3e-6 * std::fabs(dg));
    if (ee > worst_erf) worst_erf = ee, at_erf = x;
    if (eg > worst_gelu) worst_gelu = eg, at_gelu = x;
    if (ed > worst_grad) worst_grad = ed, at_grad = x;
  }
  INFO("erf: worst relative error " << worst_erf << " at " << at_erf << "; gelu " << worst_gelu << " at " << at_gelu
                                    << "; gelu' (in units of 1e-7 + 3e-6 |gelu'|) " << worst_grad << " at " << at_grad);
  CHECK(worst_erf < 3e-7);   // a few float ulps (Abramowitz-Stegun 7.1.26 is off by 1e-5 or more)
  CHECK(worst_gelu < 2e-6);  // relative even in the far negative tail, where gelu is below 1e-20
  CHECK(worst_grad < 1.0);  // Phi + x phi cancels near gelu's minimum (x = -0.75): float's 1.5e-8 there
  // infinities and NaN
  CHECK(cpu::detail::gelu(Vec(INFINITY)).get(0) == INFINITY);
  CHECK(std::isnan(cpu::detail::gelu(Vec(NAN)).get(0)));
  CHECK(cpu::detail::gelu_grad(Vec(INFINITY)).get(0) == 1.0f);
  CHECK(cpu::detail::gelu_grad(Vec(-INFINITY)).get(0) == 0.0f);
}

TEST_CASE("gelu forward (flat, with bias and pre-activation, in place) and backward (in place)") {
  for (Size s : sizes) {
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const std::size_t n = s.rows * s.cols;
    const auto x = random_vector(n, 1, -6.0f, 6.0f), bias = random_vector(s.cols, 2), dy = random_vector(n, 3);
    std::vector<float> yc(n), yr(n), pc(n), pr(n);
    Cpu::gelu_forward(GeluArgs{x.data(), yc.data(), nullptr, nullptr, s.rows, s.cols});
    Ref::gelu_forward(GeluArgs{x.data(), yr.data(), nullptr, nullptr, s.rows, s.cols});
    expect_close("gelu", yc, yr, 2e-6, 1e-12);
    auto yi = x;  // in place, bias added, pre-activation kept
    Cpu::gelu_forward(GeluArgs{yi.data(), yi.data(), pc.data(), bias.data(), s.rows, s.cols});
    Ref::gelu_forward(GeluArgs{x.data(), yr.data(), pr.data(), bias.data(), s.rows, s.cols});
    expect_close("gelu with bias", yi, yr, 2e-6, 1e-12);
    expect_equal("pre-activation", pc, pr);
    auto dc = dy;
    Cpu::gelu_backward(GeluBackwardArgs{pc.data(), dc.data(), dc.data(), n});
    Ref::gelu_backward(GeluBackwardArgs{pr.data(), dy.data(), yr.data(), n});
    expect_close("gelu backward", dc, yr, 3e-6, 1e-7);
  }
}

TEST_CASE("layernorm forward and backward: tails, threads, rows far from zero, a constant row, dx over x") {
  for (Size s : sizes)
    for (float offset : {0.0f, 1000.0f}) {
      CAPTURE(s.rows);
      CAPTURE(s.cols);
      CAPTURE(offset);
      const std::size_t n = s.rows * s.cols;
      auto x = random_vector(n, 4, offset - 2.0f, offset + 2.0f);
      std::fill(x.begin(), x.begin() + s.cols, offset + 0.5f);  // a constant row: y = beta
      const auto gamma = random_vector(s.cols, 5, 0.5f, 1.5f), beta = random_vector(s.cols, 6), dy = random_vector(n, 7);
      std::vector<float> yc(n), yr(n), mc(s.rows), mr(s.rows), rc(s.rows), rr(s.rows);
      Cpu::layernorm_forward(LayerNormArgs{x.data(), yc.data(), gamma.data(), beta.data(), mc.data(), rc.data(), s.rows,
                                           s.cols, 1e-5f});
      Ref::layernorm_forward(LayerNormArgs{x.data(), yr.data(), gamma.data(), beta.data(), mr.data(), rr.data(), s.rows,
                                           s.cols, 1e-5f});
      expect_close("layernorm", yc, yr, 1e-5, 2e-5);
      expect_close("mean", mc, mr, 1e-6, 1e-6);
      expect_close("rstd", rc, rr, 2e-5, 1e-6);
      std::vector<float> dxc(n), dxr(n), gc(s.cols), gr(s.cols), bc(s.cols), br(s.cols);
      Cpu::layernorm_backward(LayerNormBackwardArgs{x.data(), dy.data(), gamma.data(), mr.data(), rr.data(), dxc.data(),
                                                    gc.data(), bc.data(), s.rows, s.cols});
      Ref::layernorm_backward(LayerNormBackwardArgs{x.data(), dy.data(), gamma.data(), mr.data(), rr.data(), dxr.data(),
                                                    gr.data(), br.data(), s.rows, s.cols});
      expect_close("layernorm dx", dxc, dxr, 1e-4, 2e-5);
      expect_close("dgamma", gc, gr, 1e-4, 1e-4);
      expect_close("dbeta", bc, br, 1e-5, 1e-4);
      auto inplace = x;  // dx over x, no parameter gradients
      Cpu::layernorm_backward(LayerNormBackwardArgs{inplace.data(), dy.data(), gamma.data(), mr.data(), rr.data(),
                                                    inplace.data(), nullptr, nullptr, s.rows, s.cols});
      expect_close("layernorm dx over x", inplace, dxr, 1e-4, 2e-5);
    }
}

TEST_CASE("l2 normalize forward and backward, zero rows included") {
  for (Size s : sizes) {
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const std::size_t n = s.rows * s.cols;
    auto x = random_vector(n, 8);
    std::fill(x.begin(), x.begin() + s.cols, 0.0f);
    const auto dy = random_vector(n, 9);
    std::vector<float> yc(n), yr(n), nc(s.rows), nr(s.rows), dc(n), dr(n);
    Cpu::l2_normalize_forward(L2NormalizeArgs{x.data(), yc.data(), nc.data(), s.rows, s.cols, 1e-12f});
    Ref::l2_normalize_forward(L2NormalizeArgs{x.data(), yr.data(), nr.data(), s.rows, s.cols, 1e-12f});
    expect_close("l2 normalize", yc, yr, 1e-5, 1e-6);
    expect_close("norms", nc, nr, 1e-5, 1e-7);
    dc = dy;
    Cpu::l2_normalize_backward(L2NormalizeBackwardArgs{yr.data(), dc.data(), nr.data(), dc.data(), s.rows, s.cols, 1e-12f});
    Ref::l2_normalize_backward(L2NormalizeBackwardArgs{yr.data(), dy.data(), nr.data(), dr.data(), s.rows, s.cols, 1e-12f});
    expect_close("l2 normalize backward", dc, dr, 1e-4, 1e-4);  // a zero row: dy / eps (1e12) on both
  }
}

TEST_CASE("masked mean pooling forward and backward: token ids with padding, an all-padding sample, no ids") {
  for (Size s : {Size{1, 1}, Size{7, 13}, Size{128, 384}, Size{33, 40}}) {
    const std::size_t n = 5, T = s.rows, D = s.cols, stride = T + 2;
    CAPTURE(T);
    CAPTURE(D);
    const auto x = random_vector(n * T * D, 10), dy = random_vector(n * D, 11);
    auto tokens = ids_for(n * stride, 4, 12, true);
    std::fill(tokens.begin() + stride, tokens.begin() + 2 * stride, 0.0f);  // sample 1: padding only
    for (const float* tok : {(const float*)tokens.data(), (const float*)nullptr}) {
      std::vector<float> yc(n * D), yr(n * D), dc(n * T * D, 5.0f), dr(n * T * D);
      Cpu::masked_mean_pool_forward(MaskedMeanPoolArgs{x.data(), yc.data(), tok, stride, n, T, D});
      Ref::masked_mean_pool_forward(MaskedMeanPoolArgs{x.data(), yr.data(), tok, stride, n, T, D});
      expect_close("masked mean pool", yc, yr, 1e-5, 1e-6);
      Cpu::masked_mean_pool_backward(MaskedMeanPoolBackwardArgs{dy.data(), dc.data(), tok, stride, n, T, D});
      Ref::masked_mean_pool_backward(MaskedMeanPoolBackwardArgs{dy.data(), dr.data(), tok, stride, n, T, D});
      expect_close("masked mean pool backward", dc, dr, 1e-6, 1e-7);
    }
  }
}

TEST_CASE("bert embeddings forward and backward: repeated ids, id 0, tails; a bad id gives Reference's error") {
  for (Size s : {Size{17, 40}, Size{128, 384}, Size{3, 5}}) {
    const std::size_t n = 9, T = s.rows, D = s.cols, V = 300, M = T + 3, TV = 2;
    CAPTURE(T);
    CAPTURE(D);
    const auto ids = ids_for(n * T, V, 13, true);
    const auto word = random_vector(V * D, 14), pos = random_vector(M * D, 15), type = random_vector(TV * D, 16);
    const auto dsum = random_vector(n * T * D, 17);
    std::vector<float> sc(n * T * D), sr(n * T * D);
    Cpu::bert_embeddings_forward(BertEmbeddingsArgs{ids.data(), word.data(), pos.data(), type.data(), sc.data(), n * T, T, V, D});
    Ref::bert_embeddings_forward(BertEmbeddingsArgs{ids.data(), word.data(), pos.data(), type.data(), sr.data(), n * T, T, V, D});
    expect_close("bert embeddings", sc, sr, 1e-6, 1e-7);
    std::vector<float> wc(V * D, 3.0f), wr(V * D), pc(M * D, 3.0f), pr(M * D), tc(TV * D, 3.0f), tr(TV * D);
    Cpu::bert_embeddings_backward(
        BertEmbeddingsBackwardArgs{ids.data(), dsum.data(), wc.data(), pc.data(), tc.data(), n * T, T, V, D, M, TV});
    Ref::bert_embeddings_backward(
        BertEmbeddingsBackwardArgs{ids.data(), dsum.data(), wr.data(), pr.data(), tr.data(), n * T, T, V, D, M, TV});
    expect_close("dword", wc, wr, 1e-5, 1e-5);
    expect_close("dposition", pc, pr, 1e-5, 1e-5);
    expect_close("dtoken_type", tc, tr, 1e-4, 1e-4);
  }
  auto ids = ids_for(12, 50, 18, true);
  ids[7] = 2.5f;
  std::vector<float> t(50 * 4), p(4 * 4), y(12 * 4);
  std::string cpu_msg, ref_msg;
  try {
    Cpu::bert_embeddings_forward(BertEmbeddingsArgs{ids.data(), t.data(), p.data(), p.data(), y.data(), 12, 4, 50, 4});
  } catch (const ShapeError& e) {
    cpu_msg = e.what();
  }
  try {
    Ref::bert_embeddings_forward(BertEmbeddingsArgs{ids.data(), t.data(), p.data(), p.data(), y.data(), 12, 4, 50, 4});
  } catch (const ShapeError& e) {
    ref_msg = e.what();
  }
  CHECK(cpu_msg == "BertEmbeddings<50,4>: token id 2.500000 at sample 1, position 3 is not an integer in [0, 50)");
  CHECK(cpu_msg == ref_msg);
}

TEST_CASE("layers with token ids: BertEmbeddings, Residual feed-forward, LayerNorm, MaskedMeanPool, L2Normalize") {
  constexpr std::size_t T = 12, n = 6;
  using Net = Sequential<BertEmbeddings<40, 24, 16>, Residual<FeedForward<48, 24>>, LayerNorm<1e-12f>,
                         ResidualBlock<Main<Dense<24, GELU>>, Shortcut<>, GELU>, MaskedMeanPool, L2Normalize<>>;
  using L = Net::bind<Shape<T>, LayerIndex<0>>;
  auto ids = ids_for(n * T, 40, 19, false);
  for (std::size_t b = 0; b < n; ++b)  // padding after a length that varies by sample; sample 0 full
    for (std::size_t t = T - b; t < T; ++t) ids[b * T + t] = 0.0f;
  const auto w = random_vector(L::param_count, 20, -0.2f, 0.2f), dy = random_vector(n * 24, 21);
  std::vector<float> yc(n * 24), yr(n * 24), sc(L::scratch(n)), sr(L::scratch(n)), gc(w.size()), gr(w.size());
  L::forward<Cpu>(Forward{ids.data(), yc.data(), n, w.data(), nullptr, sc.data(), true, 1, ids.data(), T});
  L::forward<Ref>(Forward{ids.data(), yr.data(), n, w.data(), nullptr, sr.data(), true, 1, ids.data(), T});
  expect_close("forward", yc, yr, 1e-4, 1e-5);
  L::backward<Cpu>(Backward{ids.data(), yc.data(), dy.data(), nullptr, n, w.data(), gc.data(), nullptr, sc.data(), ids.data(), T});
  L::backward<Ref>(Backward{ids.data(), yr.data(), dy.data(), nullptr, n, w.data(), gr.data(), nullptr, sr.data(), ids.data(), T});
  expect_close("parameter gradients", gc, gr, 1e-3, 1e-5);
}
