#pragma once
// Every kernel of a CUDA-backend type B against backend::Reference, forward and backward, at awkward
// sizes. Included by a test file that defines `using B = ...;` first.
#include <limits>

#include "../model/user_features.hpp"
#include "support.cuh"

using namespace siamese;
using namespace siamese::test;

namespace {

// cuBLAS sums in float where Reference sums in double (so does the host emulation's SGEMM).
constexpr double kernel_tol = B::exec::on_device ? 10.0 : 1.0;

TEST_CASE("memory: to_device/to_host, copy (overlapping too), fill, add, mul, scale, clip, copy_cols") {
  const auto x = random_values(1001, 1), y = random_values(1001, 2);
  Dev<B> dx(x), dy(y);
  expect_equal("round trip", dx.host(), x);

  Dev<B> c(1001);
  B::copy(c.p(), dx.p(), 1001);
  expect_equal("copy", c.host(), x);
  B::copy(c.p() + 3, c.p(), 900);  // overlapping, as memmove
  auto want = x;
  std::vector<float> ref = x;
  Ref::copy(ref.data() + 3, ref.data(), 900);
  expect_equal("overlapping copy", c.host(), ref);

  for (float v : {0.0f, -0.0f, 3.5f}) {
    Dev<B> f(77, 1.0f);
    B::fill(f.p(), v, 77);
    const auto h = f.host();
    bool ok = true;
    for (float e : h) ok = ok && e == v && std::signbit(e) == std::signbit(v);
    CHECK(ok);
  }

  B::add(dy.p(), dx.p(), 1001);
  want = y;
  Ref::add(want.data(), x.data(), 1001);
  expect_equal("add", dy.host(), want);

  Dev<B> m(1001);
  B::mul(dx.p(), dy.p(), m.p(), 1001);
  std::vector<float> mw(1001);
  Ref::mul(x.data(), want.data(), mw.data(), 1001);
  expect_equal("mul", m.host(), mw);

  B::scale(m.p(), -0.37f, 1001);
  Ref::scale(mw.data(), -0.37f, 1001);
  expect_equal("scale", m.host(), mw);

  auto cl = random_values(301, 3, -3.0f, 3.0f);
  cl[5] = std::numeric_limits<float>::quiet_NaN();
  cl[6] = std::numeric_limits<float>::infinity();
  Dev<B> dcl(cl);
  B::clip(dcl.p(), 1.25f, cl.size());
  Ref::clip(cl.data(), 1.25f, cl.size());
  expect_equal("clip", dcl.host(), cl);

  // a 13 x 7 block from a matrix of leading dimension 11 into one of leading dimension 9
  const auto src = random_values(13 * 11, 4);
  std::vector<float> dst(13 * 9, 5.0f);
  Dev<B> ds(src), dd(dst);
  B::copy_cols({dd.p() + 1, 9, ds.p() + 2, 11, 13, 7});
  Ref::copy_cols({dst.data() + 1, 9, src.data() + 2, 11, 13, 7});
  expect_equal("copy_cols", dd.host(), dst);
}

TEST_CASE("gemm: every transpose, awkward sizes, padded leading dimensions, alpha and beta") {
  struct Case {
    std::size_t m, n, k;
  };
  for (Case s : {Case{1, 1, 1}, Case{37, 53, 29}, Case{128, 3, 300}, Case{5, 200, 1}, Case{64, 64, 64}})
    for (int t = 0; t < 4; ++t)
      for (float beta : {0.0f, 0.5f}) {
        const bool ta = t & 1, tb = t & 2;
        const std::size_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 1, ldc = s.n + 2;
        const auto a = random_values((ta ? s.k : s.m) * lda, 10 + t), b = random_values((tb ? s.n : s.k) * ldb, 20 + t);
        auto c = random_values(s.m * ldc, 30 + t);
        if (beta == 0.0f) c[0] = std::numeric_limits<float>::quiet_NaN();  // beta == 0 never reads C
        Dev<B> da(a), db(b), dc(c);
        B::gemm({ta, tb, s.m, s.n, s.k, 0.75f, da.p(), lda, db.p(), ldb, beta, dc.p(), ldc});
        Ref::gemm({ta, tb, s.m, s.n, s.k, 0.75f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc});
        expect_close("gemm m" + std::to_string(s.m) + " n" + std::to_string(s.n) + " k" + std::to_string(s.k) +
                         " ta" + std::to_string(ta) + " tb" + std::to_string(tb) + " beta " + std::to_string(beta),
                     dc.host(), c, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
      }
  // k == 0: C = beta C
  auto c = random_values(12, 5);
  Dev<B> dc(c);
  B::gemm({false, false, 3, 4, 0, 1.0f, dc.p(), 1, dc.p(), 4, 0.5f, dc.p(), 4});
  Ref::gemm({false, false, 3, 4, 0, 1.0f, c.data(), 1, c.data(), 4, 0.5f, c.data(), 4});
  expect_close("gemm k = 0", dc.host(), c);
}

TEST_CASE("add_bias and bias_grad") {
  for (std::size_t rows : {0u, 1u, 7u, 1000u}) {
    const std::size_t cols = 13;
    auto y = random_values(rows * cols, 1);
    const auto bias = random_values(cols, 2);
    Dev<B> dy(y), dbias(bias);
    B::add_bias({dy.p(), dbias.p(), rows, cols});
    Ref::add_bias({y.data(), bias.data(), rows, cols});
    expect_equal("add_bias", dy.host(), y);
    Dev<B> g(cols, 9.0f);
    std::vector<float> gw(cols);
    B::bias_grad({dy.p(), g.p(), rows, cols});
    Ref::bias_grad({y.data(), gw.data(), rows, cols});
    expect_close("bias_grad rows " + std::to_string(rows), g.host(), gw, 1e-4, 1e-4);
  }
}

TEST_CASE("activations forward and backward, in place too") {
  const auto x = random_values(999, 7, -6.0f, 6.0f), dy = random_values(999, 8);
  for (Act a : {Act::Linear, Act::ReLU, Act::Sigmoid, Act::Tanh}) {
    INFO("activation " << detail::act_name(a));
    Dev<B> dx(x), out(x.size()), g(dy);
    std::vector<float> yw(x.size()), gw(x.size());
    B::activation({a, dx.p(), out.p(), x.size()});
    Ref::activation({a, x.data(), yw.data(), x.size()});
    expect_close("forward", out.host(), yw, 1e-6, 1e-7);
    B::activation({a, dx.p(), dx.p(), x.size()});
    expect_close("forward in place", dx.host(), yw, 1e-6, 1e-7);
    B::activation_backward({a, out.p(), g.p(), g.p(), x.size()});  // dx aliases dy
    Ref::activation_backward({a, yw.data(), dy.data(), gw.data(), x.size()});
    expect_close("backward", g.host(), gw, 1e-5, 1e-7);
  }
}

TEST_CASE("conv2d forward (plain, fused with an activation) and backward: strides, padding, 1x1, chunks") {
  struct Case {
    std::size_t h, w, c, k, s;
    Padding p;
    std::size_t f, n, budget;
  };
  const auto keep = B::column_budget;
  const std::size_t cudnn_before = B::cudnn_calls;
  for (Case t : {Case{7, 9, 3, 3, 1, Padding::Valid, 5, 3, 0}, Case{8, 8, 2, 3, 2, Padding::Same, 4, 2, 0},
                 Case{6, 5, 4, 1, 1, Padding::Valid, 3, 3, 0}, Case{5, 6, 3, 5, 1, Padding::Same, 2, 2, 0},
                 Case{9, 7, 2, 2, 3, Padding::Valid, 3, 3, 0}, Case{10, 10, 3, 3, 1, Padding::Same, 6, 5, 700},
                 Case{4, 4, 1, 4, 1, Padding::Valid, 1, 4, 1}}) {
    const auto g = conv_geom(t.h, t.w, t.c, t.k, t.s, t.p, t.f);
    INFO("conv " << t.h << "x" << t.w << "x" << t.c << " k" << t.k << " s" << t.s << " f" << t.f << " n" << t.n
                 << " budget " << t.budget);
    if (t.budget) B::column_budget = t.budget;  // several chunks of samples
    const std::size_t in = t.n * t.h * t.w * t.c, out = t.n * g.oh * g.ow * t.f, wn = t.k * t.k * t.c * t.f;
    const auto x = random_values(in, 1), w = random_values(wn, 2), bias = random_values(t.f, 3),
               dy = random_values(out, 4);
    Dev<B> dx_(x), dw_(w), db_(bias), ddy(dy), y(out), gx(in, 7.0f), gw(wn, 7.0f), gb(t.f, 7.0f);
    std::vector<float> yw(out), gxw(in), gww(wn), gbw(t.f);
    B::conv2d_forward({g, dx_.p(), dw_.p(), db_.p(), y.p(), t.n});
    Ref::conv2d_forward({g, x.data(), w.data(), bias.data(), yw.data(), t.n});
    expect_close("forward", y.host(), yw, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    B::conv2d_forward({g, dx_.p(), dw_.p(), nullptr, y.p(), t.n});
    Ref::conv2d_forward({g, x.data(), w.data(), nullptr, yw.data(), t.n});
    expect_close("forward without bias", y.host(), yw, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    for (Act a : {Act::ReLU, Act::Tanh}) {
      B::conv2d_forward_act({g, a, dx_.p(), dw_.p(), db_.p(), y.p(), t.n});
      Ref::conv2d_forward({g, x.data(), w.data(), bias.data(), yw.data(), t.n});
      Ref::activation({a, yw.data(), yw.data(), out});
      expect_close(std::string("forward fused with ") + detail::act_name(a), y.host(), yw, 1e-4 * kernel_tol,
                   1e-5 * kernel_tol);
    }
    B::conv2d_backward({g, dx_.p(), dw_.p(), ddy.p(), gx.p(), gw.p(), gb.p(), t.n});
    Ref::conv2d_backward({g, x.data(), w.data(), dy.data(), gxw.data(), gww.data(), gbw.data(), t.n});
    expect_close("dx", gx.host(), gxw, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    expect_close("dw", gw.host(), gww, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    expect_close("db", gb.host(), gbw, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    Dev<B> only_dw(wn, 3.0f), only_dx(in, 3.0f);
    B::conv2d_backward({g, dx_.p(), dw_.p(), ddy.p(), nullptr, only_dw.p(), nullptr, t.n});
    expect_close("dw alone", only_dw.host(), gww, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    B::conv2d_backward({g, dx_.p(), dw_.p(), ddy.p(), only_dx.p(), nullptr, nullptr, t.n});
    expect_close("dx alone", only_dx.host(), gxw, 1e-4 * kernel_tol, 1e-5 * kernel_tol);
    B::column_budget = keep;
  }
  // with cuDNN built in, the shapes it takes (same padding on both sides) went through it: the checks
  // above are its parity with Reference; the others (8x8 stride 2 Same: padding 0 before, 1 after) and
  // the 1x1 case took im2col + GEMM
  if constexpr (B::cudnn_available) CHECK(B::cudnn_calls - cudnn_before == 5 * 8);  // 5 shapes, 8 calls each
  else CHECK(B::cudnn_calls == cudnn_before);
}

TEST_CASE("pooling: max and average, overlapping windows, Same padding, ties; global pooling") {
  struct Case {
    std::size_t h, w, c, k, s;
    Padding p;
  };
  const std::size_t n = 3;
  for (Case t : {Case{8, 8, 3, 2, 2, Padding::Valid}, Case{7, 9, 2, 3, 2, Padding::Valid},
                 Case{7, 6, 2, 3, 2, Padding::Same}, Case{9, 9, 1, 2, 3, Padding::Valid},
                 Case{5, 5, 4, 3, 1, Padding::Same}})
    for (bool is_max : {true, false}) {
      INFO((is_max ? "max" : "avg") << " pool " << t.h << "x" << t.w << "x" << t.c << " k" << t.k << " s" << t.s
                                    << (t.p == Padding::Same ? " same" : " valid"));
      const auto g = pool_geom(t.h, t.w, t.c, t.k, t.s, t.p);
      const std::size_t in = n * t.h * t.w * t.c, out = n * g.oh * g.ow * t.c;
      const auto x = random_ints(in, 5, -3, 3), dy = random_values(out, 6);
      Dev<B> dx_(x), y(out), ddy(dy), gx(in, 9.0f);
      std::vector<float> yw(out), gxw(in);
      B::pool2d_forward({g, is_max, dx_.p(), y.p(), n});
      Ref::pool2d_forward({g, is_max, x.data(), yw.data(), n});
      expect_close("forward", y.host(), yw, 1e-6, 1e-7);
      B::pool2d_backward({g, is_max, dx_.p(), y.p(), ddy.p(), gx.p(), n});
      Ref::pool2d_backward({g, is_max, x.data(), yw.data(), dy.data(), gxw.data(), n});
      expect_equal("backward (same order of sums as Reference)", gx.host(), gxw);
    }
  for (bool is_max : {true, false}) {
    const std::size_t rows = 13, c = 5;
    const auto x = random_ints(n * rows * c, 7, -2, 2), dy = random_values(n * c, 8);
    Dev<B> dx_(x), y(n * c), ddy(dy), gx(n * rows * c, 9.0f);
    std::vector<float> yw(n * c), gxw(n * rows * c);
    B::global_pool_forward({is_max, dx_.p(), y.p(), n, rows, c});
    Ref::global_pool_forward({is_max, x.data(), yw.data(), n, rows, c});
    expect_close(is_max ? "global max" : "global avg", y.host(), yw, 1e-6, 1e-7);
    B::global_pool_backward({is_max, dx_.p(), y.p(), ddy.p(), gx.p(), n, rows, c});
    Ref::global_pool_backward({is_max, x.data(), yw.data(), dy.data(), gxw.data(), n, rows, c});
    expect_equal(is_max ? "global max backward" : "global avg backward", gx.host(), gxw);
  }
}

TEST_CASE("dropout: the same mask as Reference, bit for bit") {
  const std::size_t n = 100003;
  const auto x = random_values(n, 9);
  for (float rate : {0.1f, 0.5f, 0.9f}) {
    Dev<B> dx_(x), y(n), mask(n);
    std::vector<float> yw(n), mw(n);
    B::dropout_forward({dx_.p(), y.p(), mask.p(), rate, 0x1234567890ull, n});
    Ref::dropout_forward({x.data(), yw.data(), mw.data(), rate, 0x1234567890ull, n});
    expect_equal("mask", mask.host(), mw);
    expect_equal("output", y.host(), yw);
  }
}

TEST_CASE("batchnorm_fold") {
  const std::size_t rows = 75, c = 9;
  const auto w = random_values(rows * c, 31), gamma = random_values(c, 32, 0.5f, 1.5f), beta = random_values(c, 33),
             mean = random_values(c, 34), var = random_values(c, 35, 0.1f, 2.0f);
  Dev<B> dw(w), dg(gamma), db(beta), dm(mean), dv(var), wf(rows * c), bf(c);
  std::vector<float> wfr(rows * c), bfr(c);
  B::batchnorm_fold({dw.p(), dg.p(), db.p(), dm.p(), dv.p(), 1e-3f, rows, c, wf.p(), bf.p()});
  Ref::batchnorm_fold({w.data(), gamma.data(), beta.data(), mean.data(), var.data(), 1e-3f, rows, c, wfr.data(),
                       bfr.data()});
  expect_close("folded kernel", wf.host(), wfr, 1e-6, 1e-7);
  expect_close("folded bias", bf.host(), bfr, 1e-6, 1e-7);
}

TEST_CASE("batchnorm forward (training, inference) and backward") {
  for (std::size_t rows : {1u, 37u, 5000u}) {
    const std::size_t c = 7;
    INFO("rows " << rows);
    const auto x = random_values(rows * c, 11, -2.0f, 3.0f), gamma = random_values(c, 12), beta = random_values(c, 13),
               dy = random_values(rows * c, 14);
    auto mm = random_values(c, 15), mv = random_values(c, 16, 0.5f, 2.0f);
    for (bool training : {true, false}) {
      Dev<B> dx_(x), dg(gamma), dbeta(beta), dmm(mm), dmv(mv), y(rows * c), xhat(rows * c), is(c);
      std::vector<float> yw(rows * c), xw(rows * c), iw(c), mmw = mm, mvw = mv;
      B::batchnorm_forward(
          {dx_.p(), y.p(), dg.p(), dbeta.p(), dmm.p(), dmv.p(), xhat.p(), is.p(), rows, c, 0.99f, 1e-3f, training});
      Ref::batchnorm_forward({x.data(), yw.data(), gamma.data(), beta.data(), mmw.data(), mvw.data(), xw.data(),
                             iw.data(), rows, c, 0.99f, 1e-3f, training});
      expect_close("y", y.host(), yw, 1e-4, 1e-5);
      expect_close("xhat", xhat.host(), xw, 1e-4, 1e-5);
      expect_close("inv_std", is.host(), iw, 1e-5, 1e-6);
      expect_close("moving mean", dmm.host(), mmw, 1e-5, 1e-6);
      expect_close("moving variance", dmv.host(), mvw, 1e-5, 1e-6);
      Dev<B> ddy(dy), gx(rows * c), gg(c), gbeta(c);
      std::vector<float> gxw(rows * c), ggw(c), gbw(c);
      B::batchnorm_backward({ddy.p(), dg.p(), xhat.p(), is.p(), gx.p(), gg.p(), gbeta.p(), rows, c, training});
      Ref::batchnorm_backward({dy.data(), gamma.data(), xw.data(), iw.data(), gxw.data(), ggw.data(), gbw.data(), rows,
                              c, training});
      expect_close("dx", gx.host(), gxw, 1e-3, 1e-5);
      expect_close("dgamma", gg.host(), ggw, 1e-4, 1e-4);
      expect_close("dbeta", gbeta.host(), gbw, 1e-4, 1e-4);
      B::batchnorm_backward({ddy.p(), dg.p(), xhat.p(), is.p(), nullptr, nullptr, nullptr, rows, c});  // nothing asked
    }
  }
}

TEST_CASE("pair features forward and backward (accumulating, leading dimension wider than the feature)") {
  const std::size_t n = 19, d = 33, ld = 40;
  const auto a = random_values(n * d, 21), b = random_values(n * d, 22), dout = random_values(n * ld, 23);
  const auto da0 = random_values(n * d, 24), db0 = random_values(n * d, 25);
  auto check = [&]<class F>() {
    INFO("feature " << F::name);
    std::vector<float> ow(n * ld, 4.0f), daw = da0, dbw = db0;
    Dev<B> dA(a), dB(b), o(ow), g(dout), dA_(da0), dB_(db0);
    B::template pair_feature_forward<F>({dA.p(), dB.p(), o.p() + 1, ld, n, d});
    Ref::pair_feature_forward<F>({a.data(), b.data(), ow.data() + 1, ld, n, d});
    expect_close("forward", o.host(), ow, 1e-5, 1e-6);
    B::template pair_feature_backward<F>({dA.p(), dB.p(), g.p() + 1, ld, dA_.p(), dB_.p(), n, d});
    Ref::pair_feature_backward<F>({a.data(), b.data(), dout.data() + 1, ld, daw.data(), dbw.data(), n, d});
    expect_close("da", dA_.host(), daw, 1e-5, 1e-6);
    expect_close("db", dB_.host(), dbw, 1e-5, 1e-6);
  };
  check.template operator()<SqDiff>();
  check.template operator()<DiffSq>();
  check.template operator()<AbsDiff>();
  check.template operator()<AbsDiffSq>();
  check.template operator()<Product>();
  check.template operator()<Cosine>();
  check.template operator()<Euclidean>();
  check.template operator()<user::SqSum>();  // a user's features run on the device too
  check.template operator()<user::Manhattan>();
}

TEST_CASE("losses: binary cross-entropy, contrastive, triplet (every distance), with and without gradients") {
  const std::size_t n = 517, d = 24;
  auto z = random_values(n, 31, -30.0f, 30.0f);
  const auto t = random_ints(n, 32, 0, 1);
  {
    Dev<B> dz_(z), dt(t), g(n);
    std::vector<float> gw(n);
    expect_close("bce", B::bce_logits({dz_.p(), dt.p(), g.p(), n}),
                 Ref::bce_logits({z.data(), t.data(), gw.data(), n}));
    expect_close("bce gradient", g.host(), gw, 1e-5, 1e-9);
    expect_close("bce without gradient", B::bce_logits({dz_.p(), dt.p(), nullptr, n}),
                 Ref::bce_logits({z.data(), t.data(), nullptr, n}));
  }
  const auto a = random_values(n * d, 33), b = random_values(n * d, 34, -0.3f, 0.3f), c = random_values(n * d, 35);
  for (float margin : {0.5f, 4.0f}) {
    Dev<B> dA(a), dB(b), dt(t), ga(n * d), gb(n * d);
    std::vector<float> gaw(n * d), gbw(n * d);
    expect_close("contrastive", B::contrastive({dA.p(), dB.p(), dt.p(), ga.p(), gb.p(), n, d, margin}),
                 Ref::contrastive({a.data(), b.data(), t.data(), gaw.data(), gbw.data(), n, d, margin}));
    expect_close("contrastive da", ga.host(), gaw, 1e-5, 1e-9);
    expect_close("contrastive db", gb.host(), gbw, 1e-5, 1e-9);
    expect_close("contrastive without gradient",
                 B::contrastive({dA.p(), dB.p(), dt.p(), nullptr, nullptr, n, d, margin}),
                 Ref::contrastive({a.data(), b.data(), t.data(), nullptr, nullptr, n, d, margin}));
  }
  for (Distance k : {Distance::SquaredEuclidean, Distance::Euclidean, Distance::Cosine}) {
    INFO("distance " << int(k));
    const float margin = k == Distance::Cosine ? 0.3f : 2.0f;
    Dev<B> dA(a), dP(b), dQ(c), ga(n * d), gp(n * d), gq(n * d);
    std::vector<float> gaw(n * d), gpw(n * d), gqw(n * d);
    expect_close("triplet", B::triplet({dA.p(), dP.p(), dQ.p(), ga.p(), gp.p(), gq.p(), n, d, margin, k}),
                 Ref::triplet({a.data(), b.data(), c.data(), gaw.data(), gpw.data(), gqw.data(), n, d, margin, k}));
    expect_close("triplet da", ga.host(), gaw, 1e-5, 1e-9);
    expect_close("triplet dp", gp.host(), gpw, 1e-5, 1e-9);
    expect_close("triplet dn", gq.host(), gqw, 1e-5, 1e-9);
    expect_close("triplet without gradient",
                 B::triplet({dA.p(), dP.p(), dQ.p(), nullptr, nullptr, nullptr, n, d, margin, k}),
                 Ref::triplet({a.data(), b.data(), c.data(), nullptr, nullptr, nullptr, n, d, margin, k}));
  }
}

TEST_CASE("similarity_loss: NTXent, SupCon, MultiSimilarity with and without its miner") {
  using K = backend::SimilarityLossKind;
  for (std::size_t rows : {1u, 37u, 150u})
    for (bool self : {true, false})
      for (int kind = 0; kind < 4; ++kind) {
        const std::size_t cols = self ? rows : rows + 11;
        INFO("rows " << rows << " self " << self << " kind " << kind);
        const auto s = random_values(rows * cols, 61);
        std::vector<float> rl(rows), cl(cols);
        for (std::size_t j = 0; j < cols; ++j) cl[j] = float((j * 7) % 5);
        for (std::size_t i = 0; i < rows; ++i) rl[i] = self ? cl[i] : float((i * 3) % 6);
        Dev<B> ds_(s), drl(rl), dcl(cl), g(rows * cols, 9.0f);
        std::vector<float> gw(rows * cols, 9.0f);
        backend::SimilarityLossArgs a{.s = ds_.p(), .row_labels = drl.p(), .col_labels = dcl.p(), .ds = g.p(),
                                      .rows = rows, .cols = cols, .self_column = self,
                                      .kind = kind == 0 ? K::NTXent : kind == 1 ? K::SupCon : K::MultiSimilarity,
                                      .temperature = 0.2f, .alpha = 2.0f, .beta = 20.0f, .base = 0.4f,
                                      .epsilon = kind == 3 ? 0.1f : -1.0f};
        backend::SimilarityLossArgs r = a;
        r.s = s.data();
        r.row_labels = rl.data();
        r.col_labels = cl.data();
        r.ds = gw.data();
        expect_close("similarity_loss", B::similarity_loss(a), Ref::similarity_loss(r));
        expect_close("similarity_loss ds", g.host(), gw, 1e-5, 1e-9);
        a.ds = nullptr;
        r.ds = nullptr;
        expect_close("similarity_loss without gradient", B::similarity_loss(a), Ref::similarity_loss(r));
      }
}

TEST_CASE("class_margin_loss: ArcFace and CosFace") {
  using K = backend::ClassMarginKind;
  for (std::size_t rows : {1u, 37u, 150u})
    for (std::size_t classes : {3u, 10u, 41u})
      for (K kind : {K::ArcFace, K::CosFace}) {
        INFO("rows " << rows << " classes " << classes << " kind " << int(kind));
        auto c = random_values(rows * classes, 67);
        c[0] = 1.0f;  // the clamp's edge, and past pi - margin (ArcFace's other branch)
        if (rows * classes > 1) c[1] = -0.999f;
        std::vector<float> labels(rows);
        for (std::size_t i = 0; i < rows; ++i) labels[i] = float((i * 7 + 1) % classes);
        Dev<B> dc_(c), dl(labels), g(rows * classes, 9.0f);
        std::vector<float> gw(rows * classes, 9.0f);
        backend::ClassMarginLossArgs a{.c = dc_.p(), .labels = dl.p(), .dc = g.p(), .rows = rows,
                                       .classes = classes, .kind = kind, .scale = 16.0f, .margin = 0.5f};
        backend::ClassMarginLossArgs r = a;
        r.c = c.data();
        r.labels = labels.data();
        r.dc = gw.data();
        expect_close("class_margin_loss", B::class_margin_loss(a), Ref::class_margin_loss(r));
        expect_close("class_margin_loss dc", g.host(), gw, 1e-5, 1e-9);
        a.dc = nullptr;
        r.dc = nullptr;
        expect_close("class_margin_loss without gradient", B::class_margin_loss(a), Ref::class_margin_loss(r));
      }
}

TEST_CASE("sum_squares, all_finite, SGD and Adam steps") {
  for (std::size_t n : {1u, 1000u, 100003u}) {
    auto x = random_values(n, 41);
    Dev<B> dx_(x);
    expect_close("sum_squares n " + std::to_string(n), B::sum_squares(dx_.p(), n), Ref::sum_squares(x.data(), n),
                 1e-10, 1e-12);
    CHECK(B::all_finite(dx_.p(), n));
    for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN()}) {
      auto y = x;
      y[n / 2] = bad;
      Dev<B> dy(y);
      CHECK_FALSE(B::all_finite(dy.p(), n));
    }
  }
  CHECK(B::sum_squares(nullptr, 0) == 0.0);
  CHECK(B::all_finite(nullptr, 0));
  const std::size_t n = 1234;
  const auto w0 = random_values(n, 42), g = random_values(n, 43);
  struct Sgd {
    float momentum;
    bool nesterov;
    float wd;
  };
  for (Sgd s : {Sgd{0.0f, false, 0.0f}, Sgd{0.9f, false, 1e-2f}, Sgd{0.9f, true, 0.0f}}) {
    auto w = w0;
    std::vector<float> v(n, 0.0f);
    Dev<B> dw(w), dg(g), dv(v);
    for (int step = 0; step < 3; ++step) {
      B::sgd_step({dw.p(), dg.p(), dv.p(), n, 0, 0.1f, s.momentum, s.nesterov, s.wd});
      Ref::sgd_step({w.data(), g.data(), v.data(), n, 0, 0.1f, s.momentum, s.nesterov, s.wd});
    }
    expect_close("sgd weights", dw.host(), w, 1e-6, 1e-7);
    expect_close("sgd velocity", dv.host(), v, 1e-6, 1e-7);
  }
  for (bool decoupled : {false, true}) {
    auto w = w0;
    std::vector<float> m(n, 0.0f), v(n, 0.0f);
    Dev<B> dw(w), dg(g), dm(m), dv(v);
    for (std::size_t t = 1; t <= 5; ++t) {
      B::adam_step({dw.p(), dg.p(), dm.p(), dv.p(), n, 0, 1e-2f, 0.9f, 0.999f, 1e-7f, t, 1e-2f, decoupled});
      Ref::adam_step({w.data(), g.data(), m.data(), v.data(), n, 0, 1e-2f, 0.9f, 0.999f, 1e-7f, t, 1e-2f, decoupled});
    }
    expect_close(decoupled ? "adamw weights" : "adam weights", dw.host(), w, 1e-6, 1e-7);
    expect_close("adam first moment", dm.host(), m, 1e-6, 1e-7);
    expect_close("adam second moment", dv.host(), v, 1e-6, 1e-9);
  }
  // Row-sparse updates (Embedding's table): rows 0, 3, 6, ... have a zero gradient and stay.
  const std::size_t width = 17, rows = n / width;
  auto gs = g;
  for (std::size_t r = 0; r < rows; r += 3) std::fill_n(gs.begin() + long(r * width), width, 0.0f);
  for (bool decoupled : {false, true}) {
    auto w = w0;
    std::vector<float> m(n, 0.5f), v(n, 0.25f);
    Dev<B> dw(w), dg(gs), dm(m), dv(v);
    for (std::size_t t = 1; t <= 3; ++t) {
      B::adam_step(
          {dw.p(), dg.p(), dm.p(), dv.p(), rows * width, width, 1e-2f, 0.9f, 0.999f, 1e-7f, t, 1e-2f, decoupled});
      Ref::adam_step({w.data(), gs.data(), m.data(), v.data(), rows * width, width, 1e-2f, 0.9f, 0.999f, 1e-7f, t,
                      1e-2f, decoupled});
    }
    expect_close("adam rows weights", dw.host(), w, 1e-6, 1e-7);
    expect_close("adam rows first moment", dm.host(), m, 1e-6, 1e-7);
    expect_close("adam rows second moment", dv.host(), v, 1e-6, 1e-9);
  }
  {
    auto w = w0;
    std::vector<float> v(n, 0.0f);
    Dev<B> dw(w), dg(gs), dv(v);
    B::sgd_step({dw.p(), dg.p(), dv.p(), rows * width, width, 0.1f, 0.9f, true, 1e-2f});
    Ref::sgd_step({w.data(), gs.data(), v.data(), rows * width, width, 0.1f, 0.9f, true, 1e-2f});
    expect_close("sgd rows weights", dw.host(), w, 1e-6, 1e-7);
    expect_close("sgd rows velocity", dv.host(), v, 1e-6, 1e-7);
  }
}

}  // namespace
