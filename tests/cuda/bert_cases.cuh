#pragma once
// The text-encoder kernels of a CUDA-backend type B (GELU, LayerNorm, L2Normalize, masked mean pooling,
// BertEmbeddings) against backend::Reference, and those layers in a network with token ids. Included after
// `using B = ...;`.
#include <siamese/backend/args/bert_layers.hpp>
#include <siamese/layers/bert_embeddings.hpp>
#include <siamese/layers/feed_forward.hpp>
#include <siamese/layers/l2_normalize.hpp>
#include <siamese/layers/masked_mean_pool.hpp>
#include <siamese/layers/residual.hpp>

#include <cmath>

#include "support.cuh"

using namespace siamese;
using namespace siamese::test;
using namespace siamese::backend;

namespace {

constexpr double bert_tol = B::exec::on_device ? 5.0 : 1.0;  // device libm and float atomics

TEST_CASE("gelu forward (bias, pre-activation, in place) and backward") {
  const std::size_t rows = 37, cols = 29, n = rows * cols;
  const auto x = random_values(n, 201, -6.0f, 6.0f), bias = random_values(cols, 202), dy = random_values(n, 203);
  Dev<B> dx_(x), dbias(bias), dpre(n), ddy(dy);
  std::vector<float> yr(n), pr(n), gr(n);
  B::gelu_forward(GeluArgs{dx_.p(), dx_.p(), dpre.p(), dbias.p(), rows, cols});
  Ref::gelu_forward(GeluArgs{x.data(), yr.data(), pr.data(), bias.data(), rows, cols});
  expect_close("gelu", dx_.host(), yr, 1e-5 * bert_tol, 1e-7);
  expect_close("pre-activation", dpre.host(), pr, 1e-6, 1e-7);
  B::gelu_backward(GeluBackwardArgs{dpre.p(), ddy.p(), ddy.p(), n});
  Ref::gelu_backward(GeluBackwardArgs{pr.data(), dy.data(), gr.data(), n});
  expect_close("gelu backward", ddy.host(), gr, 1e-5 * bert_tol, 1e-6);
  Dev<B> flat(x), out(n);
  B::activation({.act = Act::GELU, .x = flat.p(), .y = out.p(), .n = n});
  Ref::activation({.act = Act::GELU, .x = x.data(), .y = yr.data(), .n = n});
  expect_close("activation(GELU)", out.host(), yr, 1e-5 * bert_tol, 1e-7);
}

TEST_CASE("layernorm forward and backward (parameter gradients, dx over x)") {
  const std::size_t rows = 23, cols = 40, n = rows * cols;
  const auto x = random_values(n, 211, -3.0f, 5.0f), gamma = random_values(cols, 212), beta = random_values(cols, 213);
  const auto dy = random_values(n, 214);
  Dev<B> dx_(x), dg(gamma), db(beta), dy_(dy), y(n), mean(rows), rstd(rows), gx(n), gg(cols), gb(cols);
  std::vector<float> yr(n), mr(rows), rr(rows), gxr(n), ggr(cols), gbr(cols);
  B::layernorm_forward(LayerNormArgs{dx_.p(), y.p(), dg.p(), db.p(), mean.p(), rstd.p(), rows, cols, 1e-12f});
  Ref::layernorm_forward(LayerNormArgs{x.data(), yr.data(), gamma.data(), beta.data(), mr.data(), rr.data(), rows, cols, 1e-12f});
  expect_close("layernorm", y.host(), yr, 1e-5, 1e-5);
  expect_close("rstd", rstd.host(), rr, 1e-5, 1e-6);
  B::layernorm_backward(LayerNormBackwardArgs{dx_.p(), dy_.p(), dg.p(), mean.p(), rstd.p(), gx.p(), gg.p(), gb.p(), rows, cols});
  Ref::layernorm_backward(LayerNormBackwardArgs{x.data(), dy.data(), gamma.data(), mr.data(), rr.data(), gxr.data(),
                                                ggr.data(), gbr.data(), rows, cols});
  expect_close("layernorm dx", gx.host(), gxr, 1e-4, 1e-5);
  expect_close("dgamma", gg.host(), ggr, 1e-5, 1e-5);
  expect_close("dbeta", gb.host(), gbr, 1e-5, 1e-5);
  B::layernorm_backward(LayerNormBackwardArgs{dx_.p(), dy_.p(), dg.p(), mean.p(), rstd.p(), dx_.p(), gg.p(), gb.p(), rows, cols});
  expect_close("layernorm dx over x", dx_.host(), gxr, 1e-4, 1e-5);
  expect_close("dgamma with dx over x", gg.host(), ggr, 1e-5, 1e-5);
}

TEST_CASE("l2 normalize forward and backward, a zero row included") {
  const std::size_t rows = 9, cols = 21, n = rows * cols;
  auto x = random_values(n, 221);
  std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f);
  const auto dy = random_values(n, 222);
  Dev<B> dx_(x), y(n), norm(rows), ddy(dy), g(n);
  std::vector<float> yr(n), nr(rows), gr(n);
  B::l2_normalize_forward(L2NormalizeArgs{dx_.p(), y.p(), norm.p(), rows, cols, 1e-12f});
  Ref::l2_normalize_forward(L2NormalizeArgs{x.data(), yr.data(), nr.data(), rows, cols, 1e-12f});
  expect_close("l2 normalize", y.host(), yr, 1e-5, 1e-7);
  B::l2_normalize_backward(L2NormalizeBackwardArgs{y.p(), ddy.p(), norm.p(), g.p(), rows, cols, 1e-12f});
  Ref::l2_normalize_backward(L2NormalizeBackwardArgs{yr.data(), dy.data(), nr.data(), gr.data(), rows, cols, 1e-12f});
  expect_close("l2 normalize backward", g.host(), gr, 1e-5, 1e-5);
}

TEST_CASE("masked mean pooling forward and backward: padding, an all-padding sample, no ids") {
  const std::size_t n = 4, T = 7, D = 5, stride = 9;
  const auto x = random_values(n * T * D, 231), dy = random_values(n * D, 232);
  auto tokens = random_ints(n * stride, 233, 0, 3);
  std::fill(tokens.begin() + 2 * stride, tokens.begin() + 3 * stride, 0.0f);
  Dev<B> dx_(x), ddy(dy), dt(tokens), y(n * D), g(n * T * D, 5.0f);
  for (bool with_ids : {true, false}) {
    const float* tok = with_ids ? dt.p() : nullptr;
    std::vector<float> yr(n * D), gr(n * T * D);
    B::masked_mean_pool_forward(MaskedMeanPoolArgs{dx_.p(), y.p(), tok, stride, n, T, D});
    Ref::masked_mean_pool_forward(MaskedMeanPoolArgs{x.data(), yr.data(), with_ids ? tokens.data() : nullptr, stride, n, T, D});
    expect_close("masked mean pool", y.host(), yr, 1e-6, 1e-7);
    B::masked_mean_pool_backward(MaskedMeanPoolBackwardArgs{ddy.p(), g.p(), tok, stride, n, T, D});
    Ref::masked_mean_pool_backward(
        MaskedMeanPoolBackwardArgs{dy.data(), gr.data(), with_ids ? tokens.data() : nullptr, stride, n, T, D});
    expect_close("masked mean pool backward", g.host(), gr, 1e-6, 1e-7);
  }
}

TEST_CASE("bert embeddings forward and backward (repeated ids, id 0); a bad id gives a NaN row") {
  const std::size_t n = 3, T = 6, D = 7, V = 11, M = 8, TV = 2;
  auto ids = random_ints(n * T, 241, 0, int(V) - 1);
  ids[2] = 0;
  ids[5] = ids[9] = 4;
  const auto word = random_values(V * D, 242), pos = random_values(M * D, 243), type = random_values(TV * D, 244);
  const auto dsum = random_values(n * T * D, 245);
  Dev<B> di(ids), dw(word), dp(pos), dt(type), s(n * T * D), ds(dsum), gw(V * D, 3.0f), gp(M * D, 3.0f), gt(TV * D, 3.0f);
  std::vector<float> sr(n * T * D), gwr(V * D), gpr(M * D), gtr(TV * D);
  B::bert_embeddings_forward(BertEmbeddingsArgs{di.p(), dw.p(), dp.p(), dt.p(), s.p(), n * T, T, V, D});
  Ref::bert_embeddings_forward(BertEmbeddingsArgs{ids.data(), word.data(), pos.data(), type.data(), sr.data(), n * T, T, V, D});
  expect_close("bert embeddings", s.host(), sr, 1e-6, 1e-7);
  B::bert_embeddings_backward(BertEmbeddingsBackwardArgs{di.p(), ds.p(), gw.p(), gp.p(), gt.p(), n * T, T, V, D, M, TV});
  Ref::bert_embeddings_backward(
      BertEmbeddingsBackwardArgs{ids.data(), dsum.data(), gwr.data(), gpr.data(), gtr.data(), n * T, T, V, D, M, TV});
  expect_close("dword", gw.host(), gwr, 1e-5, 1e-6);
  expect_close("dposition", gp.host(), gpr, 1e-5, 1e-6);
  expect_close("dtoken_type", gt.host(), gtr, 1e-5, 1e-5);
  auto bad = ids;
  bad[4] = float(V);
  Dev<B> dbad(bad);
  B::bert_embeddings_forward(BertEmbeddingsArgs{dbad.p(), dw.p(), dp.p(), dt.p(), s.p(), n * T, T, V, D});
  const auto h = s.host();
  for (std::size_t i = 0; i < n * T; ++i) CHECK(std::isnan(h[i * D]) == (i == 4));
}

TEST_CASE("a text encoder with token ids: BertEmbeddings, Residual feed-forward, MaskedMeanPool, L2Normalize") {
  constexpr std::size_t T = 8, n = 3, D = 12;
  using Net = Sequential<BertEmbeddings<20, D, 10>, Residual<FeedForward<24, D>>, LayerNorm<1e-12f>,
                         ResidualBlock<Main<Dense<D, GELU>>, Shortcut<Dense<D>>, GELU>, MaskedMeanPool, L2Normalize<>>;
  using L = Net::bind<Shape<T>, LayerIndex<0>>;
  auto ids = random_ints(n * T, 251, 1, 19);
  for (std::size_t t = 5; t < T; ++t) ids[t] = 0.0f;  // sample 0 padded after 5 tokens
  const auto w = random_values(L::param_count, 252, -0.2f, 0.2f), dy = random_values(n * D, 253);
  std::vector<float> yr(n * D), sr(L::scratch(n) + 1), gr(w.size());
  Dev<B> di(ids), dw(w), ddy(dy), y(n * D), s(L::scratch(n) + 1), g(w.size(), 7.0f);
  L::forward<B>(Forward{di.p(), y.p(), n, dw.p(), nullptr, s.p(), true, 1, di.p(), T});
  L::forward<Ref>(Forward{ids.data(), yr.data(), n, w.data(), nullptr, sr.data(), true, 1, ids.data(), T});
  expect_close("forward", y.host(), yr, 1e-4 * bert_tol, 1e-5);
  L::backward<B>(Backward{di.p(), y.p(), ddy.p(), nullptr, n, dw.p(), g.p(), nullptr, s.p(), di.p(), T});
  L::backward<Ref>(Backward{ids.data(), yr.data(), dy.data(), nullptr, n, w.data(), gr.data(), nullptr, sr.data(), ids.data(), T});
  expect_close("parameter gradients", g.host(), gr, 1e-3 * bert_tol, 1e-5);
}

}  // namespace
