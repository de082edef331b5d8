#pragma once
// The sequence kernels of a CUDA-backend type B (Embedding, masks, LSTM and GRU steps, masked time
// pooling) against backend::Reference. Included after `using B = ...;`.
#include <cmath>
#include <string>

#include "support.cuh"

using namespace siamese;
using namespace siamese::test;

namespace {

TEST_CASE("embedding forward and backward (repeated ids, mask_zero on and off, a bad id)") {
  const std::size_t vocab = 11, dim = 6, steps = 5, count = 4 * steps;
  auto ids = random_ints(count, 51, 0, int(vocab) - 1);
  ids[3] = 0;
  const auto table = random_values(vocab * dim, 52), dy = random_values(count * dim, 53);
  for (bool mask_zero : {true, false}) {
    Dev<B> di(ids), dt(table), y(count * dim), ddy(dy), g(vocab * dim, 5.0f);
    std::vector<float> yw(count * dim), gw(vocab * dim);
    B::embedding_forward({di.p(), dt.p(), y.p(), count, steps, vocab, dim, mask_zero});
    Ref::embedding_forward({ids.data(), table.data(), yw.data(), count, steps, vocab, dim, mask_zero});
    expect_equal("embedding forward", y.host(), yw);
    B::embedding_backward({di.p(), ddy.p(), g.p(), count, vocab, dim, mask_zero});
    Ref::embedding_backward({ids.data(), dy.data(), gw.data(), count, vocab, dim, mask_zero});
    expect_close("embedding backward", g.host(), gw, 1e-5, 1e-6);
  }
  // A device kernel cannot throw: a bad id gives a NaN row, and only that row.
  auto bad = ids;
  bad[7] = float(vocab);
  bad[9] = 2.5f;
  Dev<B> di(bad), dt(table), y(count * dim);
  B::embedding_forward({di.p(), dt.p(), y.p(), count, steps, vocab, dim, true});
  const auto h = y.host();
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j = 0; j < dim; ++j) {
      const bool is_bad = i == 7 || i == 9;
      CHECK(std::isnan(h[i * dim + j]) == is_bad);
    }
}

TEST_CASE("embedding backward, deterministic: fixed-point sums, the same bits on every run") {
  const std::size_t vocab = 3, dim = 8, count = 600;  // each id about 200 times: float atomics would race
  auto ids = random_ints(count, 54, 0, int(vocab) - 1);
  const auto dy = random_values(count * dim, 55);
  const bool keep = B::deterministic_embeddings;
  B::deterministic_embeddings = true;
  for (bool mask_zero : {true, false}) {
    Dev<B> di(ids), ddy(dy), g(vocab * dim, 5.0f);
    std::vector<float> gw(vocab * dim);
    B::embedding_backward({di.p(), ddy.p(), g.p(), count, vocab, dim, mask_zero});
    Ref::embedding_backward({ids.data(), dy.data(), gw.data(), count, vocab, dim, mask_zero});
    const auto first = g.host();
    expect_close("deterministic embedding backward", first, gw, 1e-5, 1e-6);  // Reference sums in float
    std::vector<double> exact(vocab * dim, 0.0);  // the sums in double: fixed point is as close
    for (std::size_t i = 0; i < count; ++i)
      if (!(mask_zero && ids[i] == 0.0f))
        for (std::size_t j = 0; j < dim; ++j) exact[std::size_t(ids[i]) * dim + j] += dy[i * dim + j];
    expect_close("against sums in double", first, std::vector<float>(exact.begin(), exact.end()), 1e-7, 1e-9);
    for (int run = 0; run < 4; ++run) {
      B::embedding_backward({di.p(), ddy.p(), g.p(), count, vocab, dim, mask_zero});
      expect_equal("run " + std::to_string(run + 2), g.host(), first);
    }
  }
  // a NaN in dy: NaN gradients, which the training step's check stops at
  auto bad = dy;
  bad[17] = std::nanf("");
  Dev<B> di(ids), ddy(bad), g(vocab * dim);
  B::embedding_backward({di.p(), ddy.p(), g.p(), count, vocab, dim, false});
  CHECK(std::isnan(g.host()[0]));
  B::deterministic_embeddings = keep;
}

TEST_CASE("row_mask, scale_rows, shift_time") {
  const std::size_t n = 3, T = 7, w = 5;
  auto x = random_values(n * T * w, 61);
  for (std::size_t r : {2u, 8u, 20u})
    for (std::size_t k = 0; k < w; ++k) x[r * w + k] = 0.0f;
  x[8 * w + 4] = -0.0f;  // still a zero row
  Dev<B> dx_(x), mask(n * T);
  std::vector<float> mw(n * T);
  B::row_mask({dx_.p(), mask.p(), n * T, w});
  Ref::row_mask({x.data(), mw.data(), n * T, w});
  expect_equal("row_mask", mask.host(), mw);
  auto y = x;
  B::scale_rows({dx_.p(), mask.p(), n * T, w});
  Ref::scale_rows({y.data(), mw.data(), n * T, w});
  expect_equal("scale_rows", dx_.host(), y);
  for (bool reverse : {false, true}) {
    Dev<B> s(x), d(n * T * w, 3.0f);
    std::vector<float> dw(n * T * w);
    B::shift_time({d.p(), s.p(), n, T, w, reverse});
    Ref::shift_time({dw.data(), x.data(), n, T, w, reverse});
    expect_equal(reverse ? "shift_time reverse" : "shift_time", d.host(), dw);
  }
}

/// Visits the steps of a pass as the recurrent layers do: time at(s), entering state prev(s) (T: none).
struct Order {
  std::size_t T;
  bool reverse;
  std::size_t at(std::size_t s) const { return reverse ? T - 1 - s : s; }
  std::size_t prev(std::size_t s) const { return s == 0 ? T : reverse ? T - s : s - 1; }
};

TEST_CASE("LSTM steps forward and backward, masked steps, both directions") {
  const std::size_t n = 3, T = 6, u = 5, G = 4 * u;
  auto mask = std::vector<float>(n * T, 1.0f);
  mask[1] = mask[T + 4] = mask[2 * T] = 0.0f;
  for (bool reverse : {false, true})
    for (bool masked : {false, true}) {
      INFO((reverse ? "reverse" : "forward") << (masked ? ", masked" : ""));
      const Order o{T, reverse};
      auto z = random_values(n * T * G, 71, -2.0f, 2.0f);
      std::vector<float> c(n * T * u), h(n * T * u);
      Dev<B> dz_(z), dc_(c), dh_(h), dm(mask);
      const float* m = masked ? dm.p() : nullptr;
      for (std::size_t s = 0; s < T; ++s) {
        B::lstm_step_forward({n, T, u, o.at(s), o.prev(s), dz_.p(), dc_.p(), dh_.p(), m});
        Ref::lstm_step_forward(
            {n, T, u, o.at(s), o.prev(s), z.data(), c.data(), h.data(), masked ? mask.data() : nullptr});
      }
      expect_close("gates", dz_.host(), z, 1e-5, 1e-6);
      expect_close("cell states", dc_.host(), c, 1e-5, 1e-6);
      expect_close("hidden states", dh_.host(), h, 1e-5, 1e-6);
      const auto dy = random_values(n * T * u, 72);
      auto dh = random_values(n * u, 73), dc = random_values(n * u, 74);
      std::vector<float> dzw(n * T * G);
      Dev<B> ddy(dy), ddh(dh), ddc(dc), gz(n * T * G);
      for (std::size_t s = T; s-- > 0;) {
        B::lstm_step_backward({n, T, u, o.at(s), o.prev(s), dz_.p(), dc_.p(), s % 2 ? ddy.p() : nullptr, m, ddh.p(),
                              ddc.p(), gz.p()});
        Ref::lstm_step_backward({n, T, u, o.at(s), o.prev(s), z.data(), c.data(), s % 2 ? dy.data() : nullptr,
                                masked ? mask.data() : nullptr, dh.data(), dc.data(), dzw.data()});
      }
      expect_close("dz", gz.host(), dzw, 1e-4, 1e-6);
      expect_close("dh", ddh.host(), dh, 1e-4, 1e-6);
      expect_close("dc", ddc.host(), dc, 1e-4, 1e-6);
    }
}

TEST_CASE("GRU steps forward and backward, masked steps, both directions") {
  const std::size_t n = 3, T = 5, u = 4, G = 3 * u;
  auto mask = std::vector<float>(n * T, 1.0f);
  mask[2] = mask[T + 0] = mask[2 * T + 4] = 0.0f;
  const auto brec = random_values(G, 80);
  for (bool reverse : {false, true})
    for (bool masked : {false, true}) {
      INFO((reverse ? "reverse" : "forward") << (masked ? ", masked" : ""));
      const Order o{T, reverse};
      auto xp = random_values(n * T * G, 81, -2.0f, 2.0f), rp = random_values(n * T * G, 82);
      std::vector<float> h(n * T * u);
      Dev<B> dxp(xp), drp(rp), dh_(h), dm(mask), db(brec);
      const float* m = masked ? dm.p() : nullptr;
      for (std::size_t s = 0; s < T; ++s) {
        B::gru_step_forward({n, T, u, o.at(s), o.prev(s), dxp.p(), drp.p(), db.p(), dh_.p(), m});
        Ref::gru_step_forward({n, T, u, o.at(s), o.prev(s), xp.data(), rp.data(), brec.data(), h.data(),
                              masked ? mask.data() : nullptr});
      }
      expect_close("gates", dxp.host(), xp, 1e-5, 1e-6);
      expect_close("recurrent projections", drp.host(), rp, 1e-5, 1e-6);
      expect_close("states", dh_.host(), h, 1e-5, 1e-6);
      const auto dy = random_values(n * T * u, 83);
      auto dh = random_values(n * u, 84);
      std::vector<float> gxw(n * T * G), grw(n * T * G);
      Dev<B> ddy(dy), ddh(dh), gx(n * T * G), gr(n * T * G);
      for (std::size_t s = T; s-- > 0;) {
        B::gru_step_backward({n, T, u, o.at(s), o.prev(s), dxp.p(), drp.p(), dh_.p(), s % 2 ? ddy.p() : nullptr, m,
                             ddh.p(), gx.p(), gr.p()});
        Ref::gru_step_backward({n, T, u, o.at(s), o.prev(s), xp.data(), rp.data(), h.data(),
                                s % 2 ? dy.data() : nullptr, masked ? mask.data() : nullptr, dh.data(), gxw.data(),
                                grw.data()});
      }
      expect_close("dxp", gx.host(), gxw, 1e-4, 1e-6);
      expect_close("drp", gr.host(), grw, 1e-4, 1e-6);
      expect_close("dh", ddh.host(), dh, 1e-4, 1e-6);
    }
}

TEST_CASE("masked time pooling forward and backward: padding rows, an all-padding sample, ties") {
  const std::size_t n = 4, T = 6, c = 5;
  auto x = random_ints(n * T * c, 91, -2, 2);
  for (std::size_t t : {0u, 4u}) x[(0 * T + t) * c + 0] = 1.0f;  // rows of sample 0 that must count
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t k = 0; k < c; ++k) x[(2 * T + t) * c + k] = 0.0f;  // sample 2: padding only
  for (std::size_t k = 0; k < c; ++k) x[(1 * T + 3) * c + k] = x[(3 * T + 0) * c + k] = 0.0f;
  const auto dy = random_values(n * c, 92);
  for (bool is_max : {true, false}) {
    Dev<B> dx_(x), y(n * c), ddy(dy), g(n * T * c, 4.0f);
    std::vector<float> yw(n * c), gw(n * T * c);
    B::masked_time_pool_forward({is_max, dx_.p(), y.p(), n, T, c});
    Ref::masked_time_pool_forward({is_max, x.data(), yw.data(), n, T, c});
    expect_close(is_max ? "max forward" : "mean forward", y.host(), yw, 1e-6, 1e-7);
    B::masked_time_pool_backward({is_max, dx_.p(), y.p(), ddy.p(), g.p(), n, T, c});
    Ref::masked_time_pool_backward({is_max, x.data(), yw.data(), dy.data(), gw.data(), n, T, c});
    expect_equal(is_max ? "max backward" : "mean backward", g.host(), gw);
  }
}

}  // namespace
