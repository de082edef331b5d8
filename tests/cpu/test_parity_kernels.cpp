// backend::Cpu against backend::Reference: gemm, batch normalisation, pair features, losses and the
// optimizer steps, on awkward sizes (1, 7, 33, 127) and on sizes that take the threaded path.
#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

TEST_CASE("gemm: all four transpositions, beta 0 and 1") {
  for (std::size_t m : {1, 7, 33})
    for (std::size_t n : {1, 17, 127})
      for (std::size_t k : {1, 7, 300})
        for (bool ta : {false, true})
          for (bool tb : {false, true}) {
            CAPTURE(m);
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(ta);
            CAPTURE(tb);
            const auto a = random_vector(m * k, 1), b = random_vector(k * n, 2);
            const std::size_t lda = ta ? m : k, ldb = tb ? k : n;
            auto c = random_vector(m * n, 3), cr = c;
            Cpu::gemm({ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f, c.data(), n});
            Ref::gemm({ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f, cr.data(), n});
            expect_close("beta 1", c, cr, 1e-4, 1e-5 * double(k));
            Cpu::gemm({ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n});
            Ref::gemm({ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, cr.data(), n});
            expect_close("beta 0", c, cr, 1e-4, 1e-5 * double(k));
          }
}

TEST_CASE("batchnorm forward (training and inference) and backward") {
  for (std::size_t rows : {1, 7, 33, 127, 5000})
    for (std::size_t c : {1, 7, 16, 33}) {
      CAPTURE(rows);
      CAPTURE(c);
      auto x = random_vector(rows * c, 1, -2.0f, 3.0f);
      for (auto& v : x) v = v * 4.0f + 10.0f;  // a mean far from 0 tests the two-pass variance
      const auto gamma = random_vector(c, 2, 0.5f, 1.5f), beta = random_vector(c, 3), dy = random_vector(rows * c, 4);
      for (bool training : {true, false}) {
        CAPTURE(training);
        auto mm = random_vector(c, 5), mv = random_vector(c, 6, 0.5f, 2.0f), mmr = mm, mvr = mv;
        std::vector<float> y(rows * c), yr(rows * c), xh(rows * c), xhr(rows * c), is(c), isr(c);
        Cpu::batchnorm_forward({x.data(), y.data(), gamma.data(), beta.data(), mm.data(), mv.data(), xh.data(),
                               is.data(), rows, c, 0.99f, 1e-3f, training});
        Ref::batchnorm_forward({x.data(), yr.data(), gamma.data(), beta.data(), mmr.data(), mvr.data(), xhr.data(),
                               isr.data(), rows, c, 0.99f, 1e-3f, training});
        expect_close("y", y, yr, 1e-4, 1e-4);
        expect_close("xhat", xh, xhr, 1e-4, 1e-4);
        expect_close("inv_std", is, isr, 1e-5, 1e-6);
        expect_close("moving mean", mm, mmr, 1e-6, 1e-6);
        expect_close("moving variance", mv, mvr, 1e-5, 1e-6);
        std::vector<float> dx(rows * c), dxr(rows * c), dg(c), dgr(c), db(c), dbr(c);
        Cpu::batchnorm_backward({dy.data(), gamma.data(), xhr.data(), isr.data(), dx.data(), dg.data(), db.data(), rows,
                                c, training});
        Ref::batchnorm_backward({dy.data(), gamma.data(), xhr.data(), isr.data(), dxr.data(), dgr.data(), dbr.data(),
                                rows, c, training});
        expect_close("dx", dx, dxr, 1e-4, 1e-5);
        expect_close("dgamma", dg, dgr, 1e-4, 1e-5 * double(rows));
        expect_close("dbeta", db, dbr, 1e-4, 1e-5 * double(rows));
        std::vector<float> only(c, 9.0f);
        Cpu::batchnorm_backward({dy.data(), gamma.data(), xhr.data(), isr.data(), nullptr, only.data(), nullptr, rows,
                                c, training});
        expect_close("dgamma alone", only, dgr, 1e-4, 1e-5 * double(rows));
      }
    }
}

TEST_CASE("batchnorm_fold: a kernel and inference-mode batch normalisation as one kernel and bias") {
  for (std::size_t rows : {1, 27, 576})
    for (std::size_t c : {1, 7, 64, 65}) {
      CAPTURE(rows);
      CAPTURE(c);
      const auto w = random_vector(rows * c, 1), gamma = random_vector(c, 2, 0.5f, 1.5f), beta = random_vector(c, 3),
                 mean = random_vector(c, 4), var = random_vector(c, 5, 0.1f, 2.0f);
      std::vector<float> wf(rows * c, 9.0f), bf(c, 9.0f), wfr(rows * c), bfr(c);
      Cpu::batchnorm_fold({w.data(), gamma.data(), beta.data(), mean.data(), var.data(), 1e-3f, rows, c, wf.data(),
                           bf.data()});
      Ref::batchnorm_fold({w.data(), gamma.data(), beta.data(), mean.data(), var.data(), 1e-3f, rows, c, wfr.data(),
                           bfr.data()});
      expect_close("folded kernel", wf, wfr, 1e-6, 1e-7);
      expect_close("folded bias", bf, bfr, 1e-6, 1e-7);
      // The definition: w * gamma / sqrt(var + eps) per column; beta - mean * the same.
      const std::size_t k = c - 1;
      CHECK(wfr[k] == doctest::Approx(w[k] * gamma[k] / std::sqrt(var[k] + 1e-3)).epsilon(1e-6));
      CHECK(bfr[k] == doctest::Approx(beta[k] - mean[k] * gamma[k] / std::sqrt(var[k] + 1e-3)).epsilon(1e-5));
    }
}

namespace {
template <class F>
void check_feature_parity() {
  constexpr bool scalar = RowPairFeature<F>;
  for (std::size_t n : {1, 7, 33, 600})
    for (std::size_t d : {1, 7, 16, 127}) {
      CAPTURE(F::name);
      CAPTURE(n);
      CAPTURE(d);
      auto a = random_vector(n * d, 1), b = random_vector(n * d, 2);
      if (n > 2) std::copy(a.begin(), a.begin() + d, b.begin());  // a == b: AbsDiff and AbsDiffSq at their kinks
      const std::size_t ld = d + 5, off = 2;  // a feature sits inside a wider row
      std::vector<float> out(n * ld, 7.0f), outr(n * ld, 7.0f);
      Cpu::pair_feature_forward<F>({a.data(), b.data(), out.data() + off, ld, n, d});
      Ref::pair_feature_forward<F>({a.data(), b.data(), outr.data() + off, ld, n, d});
      expect_close("forward", out, outr, 1e-5, 1e-6);
      const auto g = random_vector(n * ld, 3);
      auto da = random_vector(n * d, 4), db = random_vector(n * d, 5), dar = da, dbr = db;  // accumulates
      Cpu::pair_feature_backward<F>({a.data(), b.data(), g.data(), ld, da.data(), db.data(), n, d});
      Ref::pair_feature_backward<F>({a.data(), b.data(), g.data(), ld, dar.data(), dbr.data(), n, d});
      expect_close("da", da, dar, 1e-4, scalar ? 1e-5 : 1e-6);
      expect_close("db", db, dbr, 1e-4, scalar ? 1e-5 : 1e-6);
    }
}
}  // namespace

TEST_CASE("pair features forward and backward, every built-in feature type") {
  check_feature_parity<SqDiff>();
  check_feature_parity<DiffSq>();
  check_feature_parity<AbsDiff>();
  check_feature_parity<AbsDiffSq>();
  check_feature_parity<Product>();
  check_feature_parity<Cosine>();
  check_feature_parity<Euclidean>();
}

TEST_CASE("AbsDiff and AbsDiffSq: the gradient is 0 where a == b or a == -b (sign(0) = 0)") {
  for (std::size_t d : {7, 16, 33}) {
    CAPTURE(d);
    auto a = random_vector(2 * d, 1), b = a;
    for (std::size_t j = d; j < 2 * d; ++j) b[j] = -a[j];  // second pair: a == -b
    const auto g = random_vector(2 * d, 2);
    auto check = [&]<class F>(std::size_t zero_rows) {
      std::vector<float> da(2 * d, 0.0f), db(2 * d, 0.0f), out(2 * d, 1.0f);
      Cpu::pair_feature_forward<F>({a.data(), b.data(), out.data(), d, 2, d});
      Cpu::pair_feature_backward<F>({a.data(), b.data(), g.data(), d, da.data(), db.data(), 2, d});
      for (std::size_t j = 0; j < zero_rows * d; ++j) {
        CAPTURE(F::name);
        CAPTURE(j);
        CHECK(out[j] == 0.0f);
        CHECK(da[j] == 0.0f);
        CHECK(db[j] == 0.0f);
      }
    };
    check.template operator()<AbsDiff>(1);  // |a - b| is not 0 at a == -b
    check.template operator()<AbsDiffSq>(2);
  }
}

TEST_CASE("binary cross-entropy on logits") {
  for (std::size_t n : {1, 7, 33, 127}) {
    CAPTURE(n);
    auto z = random_vector(n, 1, -8.0f, 8.0f), t = random_vector(n, 2, 0.0f, 1.0f);
    if (n > 2) z[0] = 80.0f, z[1] = -80.0f;
    for (std::size_t i = 0; i < n; i += 2) t[i] = float(i % 4 == 0);
    std::vector<float> dz(n), dzr(n);
    const float l = Cpu::bce_logits({z.data(), t.data(), dz.data(), n});
    const float lr = Ref::bce_logits({z.data(), t.data(), dzr.data(), n});
    CHECK(std::fabs(l - lr) <= 1e-5f * std::max(1.0f, std::fabs(lr)));
    expect_close("dz", dz, dzr, 1e-5, 1e-7);
    CHECK(Cpu::bce_logits({z.data(), t.data(), nullptr, n}) == l);
  }
}

TEST_CASE("contrastive loss") {
  for (std::size_t n : {1, 7, 33})
    for (std::size_t d : {1, 7, 33, 128})
      for (float margin : {0.5f, 5.0f}) {
        CAPTURE(n);
        CAPTURE(d);
        CAPTURE(margin);
        const auto a = random_vector(n * d, 1), b = random_vector(n * d, 2);
        std::vector<float> t(n);
        for (std::size_t i = 0; i < n; ++i) t[i] = float(i % 2);
        std::vector<float> da(n * d), db(n * d), dar(n * d), dbr(n * d);
        const float l = Cpu::contrastive({a.data(), b.data(), t.data(), da.data(), db.data(), n, d, margin});
        const float lr = Ref::contrastive({a.data(), b.data(), t.data(), dar.data(), dbr.data(), n, d, margin});
        CHECK(std::fabs(l - lr) <= 1e-5f * std::max(1.0f, std::fabs(lr)));
        expect_close("da", da, dar, 1e-4, 1e-7);
        expect_close("db", db, dbr, 1e-4, 1e-7);
        CHECK(Cpu::contrastive({a.data(), b.data(), t.data(), nullptr, nullptr, n, d, margin}) == l);
      }
}

TEST_CASE("triplet loss, every distance, active and inactive triplets") {
  for (Distance k : {Distance::SquaredEuclidean, Distance::Euclidean, Distance::Cosine})
    for (std::size_t n : {1, 7, 33})
      for (std::size_t d : {1, 7, 33, 128})
        for (float margin : {0.0f, 0.3f, 50.0f}) {
          CAPTURE(int(k));
          CAPTURE(n);
          CAPTURE(d);
          CAPTURE(margin);
          const auto a = random_vector(n * d, 1), p = random_vector(n * d, 2), q = random_vector(n * d, 3);
          std::vector<float> da(n * d, 9.0f), dp(n * d, 9.0f), dq(n * d, 9.0f), dar(n * d), dpr(n * d), dqr(n * d);
          const float l =
              Cpu::triplet({a.data(), p.data(), q.data(), da.data(), dp.data(), dq.data(), n, d, margin, k});
          const float lr =
              Ref::triplet({a.data(), p.data(), q.data(), dar.data(), dpr.data(), dqr.data(), n, d, margin, k});
          CHECK(std::fabs(l - lr) <= 1e-5f * std::max(1.0f, std::fabs(lr)));
          expect_close("da", da, dar, 1e-4, 1e-6);
          expect_close("dp", dp, dpr, 1e-4, 1e-6);
          expect_close("dq", dq, dqr, 1e-4, 1e-6);
          CHECK(Cpu::triplet({a.data(), p.data(), q.data(), nullptr, nullptr, nullptr, n, d, margin, k}) == l);
        }
}

TEST_CASE("similarity_loss: NTXent, SupCon, MultiSimilarity with and without its miner, square and not") {
  using K = backend::SimilarityLossKind;
  for (std::size_t rows : {1, 5, 37, 200})
    for (std::size_t extra : {0, 13})
      for (bool self : {true, false})
        for (int kind = 0; kind < 4; ++kind) {
          const std::size_t cols = rows + extra;
          CAPTURE(rows);
          CAPTURE(cols);
          CAPTURE(self);
          CAPTURE(kind);
          const auto s = random_vector(rows * cols, 7);
          std::vector<float> rl(rows), cl(cols);
          for (std::size_t j = 0; j < cols; ++j) cl[j] = float((j * 7) % 5);
          for (std::size_t i = 0; i < rows; ++i) rl[i] = self ? cl[i] : float((i * 3) % 6);
          std::vector<float> ds(rows * cols, 9.0f), dsr(rows * cols, 9.0f);
          backend::SimilarityLossArgs a{.s = s.data(), .row_labels = rl.data(), .col_labels = cl.data(),
                                        .ds = ds.data(), .rows = rows, .cols = cols, .self_column = self,
                                        .kind = kind == 0 ? K::NTXent : kind == 1 ? K::SupCon : K::MultiSimilarity,
                                        .temperature = 0.2f, .alpha = 2.0f, .beta = 20.0f, .base = 0.4f,
                                        .epsilon = kind == 3 ? 0.1f : -1.0f};
          const float l = Cpu::similarity_loss(a);
          a.ds = dsr.data();
          const float lr = Ref::similarity_loss(a);
          CHECK(std::fabs(l - lr) <= 2e-5f * std::max(1.0f, std::fabs(lr)));
          expect_close("ds", ds, dsr, 1e-4, 1e-7);
          a.ds = nullptr;
          CHECK(Cpu::similarity_loss(a) == l);
        }
}

TEST_CASE("class_margin_loss: ArcFace and CosFace, any class count, both ArcFace branches") {
  using K = backend::ClassMarginKind;
  for (std::size_t rows : {1, 5, 37, 200})
    for (std::size_t classes : {2, 7, 16, 53})
      for (K kind : {K::ArcFace, K::CosFace}) {
        CAPTURE(rows);
        CAPTURE(classes);
        CAPTURE(int(kind));
        auto c = random_vector(rows * classes, 9);
        c[0] = -0.999f;  // an angle past pi - margin: ArcFace's linear branch
        std::vector<float> labels(rows);
        for (std::size_t i = 0; i < rows; ++i) labels[i] = float((i * 5) % classes);
        std::vector<float> dc(rows * classes, 9.0f), dcr(rows * classes, 9.0f);
        backend::ClassMarginLossArgs a{.c = c.data(), .labels = labels.data(), .dc = dc.data(), .rows = rows,
                                       .classes = classes, .kind = kind, .scale = 30.0f, .margin = 0.4f};
        const float l = Cpu::class_margin_loss(a);
        a.dc = dcr.data();
        const float lr = Ref::class_margin_loss(a);
        CHECK(std::fabs(l - lr) <= 2e-5f * std::max(1.0f, std::fabs(lr)));
        expect_close("dc", dc, dcr, 1e-4, 1e-6);
        a.dc = nullptr;
        CHECK(Cpu::class_margin_loss(a) == l);
      }
}

TEST_CASE("SGD and Adam steps") {
  for (std::size_t n : {1, 7, 33, 127, 100003}) {
    CAPTURE(n);
    const auto w0 = random_vector(n, 1), g = random_vector(n, 2), s0 = random_vector(n, 3, -0.1f, 0.1f);
    const auto v0 = random_vector(n, 4, 0.0f, 0.01f);
    for (float mom : {0.0f, 0.9f})
      for (bool nesterov : {false, true})
        for (float wd : {0.0f, 1e-2f}) {
          CAPTURE(mom);
          CAPTURE(nesterov);
          CAPTURE(wd);
          auto w = w0, wr = w0, v = s0, vr = s0;
          Cpu::sgd_step({w.data(), g.data(), v.data(), n, 0, 0.05f, mom, nesterov, wd});
          Ref::sgd_step({wr.data(), g.data(), vr.data(), n, 0, 0.05f, mom, nesterov, wd});
          expect_close("sgd w", w, wr, 1e-6, 1e-7);
          expect_close("sgd velocity", v, vr, 1e-6, 1e-7);
        }
    for (std::size_t t : {1, 2, 1000})
      for (float wd : {0.0f, 1e-2f})
        for (bool decoupled : {false, true}) {
          CAPTURE(t);
          CAPTURE(wd);
          CAPTURE(decoupled);
          auto w = w0, wr = w0, m = s0, mr = s0, v = v0, vr = v0;
          Cpu::adam_step({w.data(), g.data(), m.data(), v.data(), n, 0, 1e-3f, 0.9f, 0.999f, 1e-7f, t, wd, decoupled});
          Ref::adam_step(
              {wr.data(), g.data(), mr.data(), vr.data(), n, 0, 1e-3f, 0.9f, 0.999f, 1e-7f, t, wd, decoupled});
          expect_close("adam w", w, wr, 1e-6, 1e-7);
          expect_close("adam m", m, mr, 1e-6, 1e-8);
          expect_close("adam v", v, vr, 1e-6, 1e-9);
        }
  }
}

TEST_CASE("SGD and Adam steps on a row-sparse gradient update only its non-zero rows") {
  for (std::size_t width : {1, 16, 100})
    for (std::size_t rows : {3, 2000}) {  // 2000 x 100 takes the threaded path
      CAPTURE(width);
      CAPTURE(rows);
      const std::size_t n = rows * width;
      const auto w0 = random_vector(n, 1), s0 = random_vector(n, 3, -0.1f, 0.1f), v0 = random_vector(n, 4, 0.0f, 0.01f);
      auto g = random_vector(n, 2);
      for (std::size_t r = 0; r < rows; r += 2) std::fill_n(g.begin() + long(r * width), width, 0.0f);  // even rows
      if (width > 1) std::fill_n(g.begin() + long(width), width - 1, 0.0f);  // row 1: one value left
      for (float mom : {0.0f, 0.9f}) {
        auto w = w0, wr = w0, v = s0, vr = s0;
        Cpu::sgd_step({w.data(), g.data(), v.data(), n, width, 0.05f, mom, true, 1e-2f});
        Ref::sgd_step({wr.data(), g.data(), vr.data(), n, width, 0.05f, mom, true, 1e-2f});
        expect_close("sgd rows w", w, wr, 1e-6, 1e-7);
        expect_close("sgd rows velocity", v, vr, 1e-6, 1e-7);
      }
      for (bool decoupled : {false, true}) {
        auto w = w0, wr = w0, m = s0, mr = s0, v = v0, vr = v0;
        Cpu::adam_step(
            {w.data(), g.data(), m.data(), v.data(), n, width, 1e-3f, 0.9f, 0.999f, 1e-7f, 3, 1e-2f, decoupled});
        Ref::adam_step(
            {wr.data(), g.data(), mr.data(), vr.data(), n, width, 1e-3f, 0.9f, 0.999f, 1e-7f, 3, 1e-2f, decoupled});
        // m = b1 m + (1 - b1) g cancels to ~1e-3 from terms ~0.1: absolute tolerances at the terms' rounding
        // (the compiler may contract either side into FMAs).
        expect_close("adam rows w", w, wr, 1e-6, 1e-7);
        expect_close("adam rows m", m, mr, 1e-6, 1e-7);
        expect_close("adam rows v", v, vr, 1e-6, 1e-9);
        // The reference itself: zero rows keep weights and moments, the others move.
        for (std::size_t r = 0; r < rows; ++r) {
          const bool zero = r % 2 == 0;
          const std::size_t o = r * width;
          CHECK((wr[o] == w0[o] && mr[o] == s0[o] && vr[o] == v0[o]) == zero);
        }
      }
    }
}
