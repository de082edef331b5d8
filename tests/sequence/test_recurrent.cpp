// LSTM, GRU, Bidirectional and time pooling: gradients, values against hand-written cells, masking.
#include <siamese/layers/recurrent.hpp>
#include <siamese/layers/time_pooling.hpp>
#include <siamese/model/init.hpp>
#include <siamese/model/sequential.hpp>

#include <cmath>
#include <utility>

#include "support.hpp"

using namespace siamese;
using test::Bound;
using test::Ref;

namespace {
double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// Keras' LSTM cell, step by step in double precision; skips all-zero input rows when `masked`.
/// Returns the states (n, T, U) as a returned sequence (zero rows on skipped steps) and the last ones.
struct Naive {
  std::vector<double> seq, last;
};
Naive naive_lstm(const std::vector<float>& x, const std::vector<float>& w, std::size_t n, std::size_t T,
                 std::size_t F, std::size_t U, bool masked) {
  const float *W = w.data(), *R = W + F * 4 * U, *bias = R + U * 4 * U;
  Naive out{std::vector<double>(n * T * U), std::vector<double>(n * U)};
  for (std::size_t b = 0; b < n; ++b) {
    std::vector<double> h(U, 0.0), c(U, 0.0);
    for (std::size_t t = 0; t < T; ++t) {
      const float* xt = &x[(b * T + t) * F];
      bool zero = true;
      for (std::size_t f = 0; f < F; ++f) zero = zero && xt[f] == 0.0f;
      if (masked && zero) continue;
      std::vector<double> z(4 * U);
      for (std::size_t g = 0; g < 4 * U; ++g) {
        z[g] = bias[g];
        for (std::size_t f = 0; f < F; ++f) z[g] += double(xt[f]) * W[f * 4 * U + g];
        for (std::size_t k = 0; k < U; ++k) z[g] += h[k] * R[k * 4 * U + g];
      }
      for (std::size_t k = 0; k < U; ++k) {
        const double i = sig(z[k]), f = sig(z[U + k]), g = std::tanh(z[2 * U + k]), o = sig(z[3 * U + k]);
        c[k] = f * c[k] + i * g;
        h[k] = o * std::tanh(c[k]);
        out.seq[(b * T + t) * U + k] = h[k];
      }
    }
    for (std::size_t k = 0; k < U; ++k) out.last[b * U + k] = h[k];
  }
  return out;
}

/// Keras' GRU cell (reset_after=True), step by step in double precision.
Naive naive_gru(const std::vector<float>& x, const std::vector<float>& w, std::size_t n, std::size_t T, std::size_t F,
                std::size_t U, bool masked) {
  const float *W = w.data(), *R = W + F * 3 * U, *bi = R + U * 3 * U, *br = bi + 3 * U;
  Naive out{std::vector<double>(n * T * U), std::vector<double>(n * U)};
  for (std::size_t b = 0; b < n; ++b) {
    std::vector<double> h(U, 0.0);
    for (std::size_t t = 0; t < T; ++t) {
      const float* xt = &x[(b * T + t) * F];
      bool zero = true;
      for (std::size_t f = 0; f < F; ++f) zero = zero && xt[f] == 0.0f;
      if (masked && zero) continue;
      std::vector<double> xi(3 * U), hr(3 * U), next(U);
      for (std::size_t g = 0; g < 3 * U; ++g) {
        xi[g] = bi[g];
        hr[g] = br[g];
        for (std::size_t f = 0; f < F; ++f) xi[g] += double(xt[f]) * W[f * 3 * U + g];
        for (std::size_t k = 0; k < U; ++k) hr[g] += h[k] * R[k * 3 * U + g];
      }
      for (std::size_t k = 0; k < U; ++k) {
        const double z = sig(xi[k] + hr[k]), r = sig(xi[U + k] + hr[U + k]);
        const double hh = std::tanh(xi[2 * U + k] + r * hr[2 * U + k]);
        next[k] = z * h[k] + (1 - z) * hh;
        out.seq[(b * T + t) * U + k] = next[k];
      }
      h = next;
    }
    for (std::size_t k = 0; k < U; ++k) out.last[b * U + k] = h[k];
  }
  return out;
}

template <class L>
std::vector<float> run(const std::vector<float>& x, const std::vector<float>& w, std::size_t n) {
  std::vector<float> y(n * L::out_shape::size), scratch(L::scratch(n));
  L::template forward<Ref>(Forward{x.data(), y.data(), n, w.data(), nullptr, scratch.data(), false, 0});
  return y;
}

template <class L, class Cell>
void check_values(Cell cell, bool masked, bool pad) {
  constexpr std::size_t T = 5, F = 3, U = 4, n = 3;
  const auto x = test::padded_input<Shape<T, F>>(n, 11, [&](std::size_t b, std::size_t t) {
    return pad && ((b == 0 && t < 2) || (b == 1 && t >= 3) || (b == 2 && t == 2));
  });
  const auto w = test::random_vector(detail::param_count_of<L>(), 12, -0.6f, 0.6f);
  const Naive want = cell(x, w, n, T, F, U, masked);
  const auto y = run<L>(x, w, n);
  const auto& ref = L::out_shape::rank == 2 ? want.seq : want.last;
  REQUIRE(y.size() == ref.size());
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(ref[i]).epsilon(1e-5));
}

// Padding rows: sample 0 'pre', sample 1 'post', sample 2 one step in the middle, sample 3 all padding.
bool pad_mixed(std::size_t b, std::size_t t) {
  return (b == 0 && t < 2) || (b == 1 && t >= 3) || (b == 2 && t == 2) || b == 3;
}
}  // namespace

TEST_CASE("recurrent layers: shapes, Keras parameter counts, traits") {
  using L = Bound<LSTM<4>, Shape<6, 3>>;
  using G = Bound<GRU<4>, Shape<6, 3>>;
  static_assert(std::is_same_v<L::out_shape, Shape<4>>);
  static_assert(std::is_same_v<Bound<LSTM<4, true>, Shape<6, 3>>::out_shape, Shape<6, 4>>);
  static_assert(detail::param_count_of<L>() == 4 * (3 * 4 + 4 * 4 + 4));      // Keras: 4(FU + U^2 + U)
  static_assert(detail::param_count_of<G>() == 3 * (3 * 4 + 4 * 4) + 2 * 12);  // reset_after: two biases
  static_assert(L::params[2].init == Init::UnitForgetBias && L::params[1].init == Init::Orthogonal);
  using BL = Bound<Bidirectional<LSTM<4>>, Shape<6, 3>>;
  static_assert(std::is_same_v<BL::out_shape, Shape<8>>);
  static_assert(std::is_same_v<Bound<Bidirectional<GRU<4, true>, Merge::Sum>, Shape<6, 3>>::out_shape, Shape<6, 4>>);
  static_assert(detail::param_count_of<BL>() == 2 * detail::param_count_of<L>());
  static_assert(std::is_same_v<Bound<GlobalMaxPool1D, Shape<6, 3>>::out_shape, Shape<3>>);
  // A recurrent layer or a time pooling takes a sequence (time, features), never an image or a vector.
  static_assert(LSTM<4>::accepts<Shape<6, 3>> && GRU<4>::accepts<Shape<6, 3>>);
  static_assert(!LSTM<4>::accepts<Shape<4, 4, 3>> && !LSTM<4>::accepts<Shape<12>>);
  static_assert(!GRU<4>::accepts<Shape<4, 4, 3>> && !Bidirectional<LSTM<4>>::accepts<Shape<4, 4, 3>>);
  static_assert(!GlobalMaxPool1D::accepts<Shape<4, 4, 3>> && !GlobalAvgPool1D::accepts<Shape<12>>);
  static_assert(detail::RecurrentSpec<LSTM<2>> && detail::RecurrentSpec<GRU<2>>);
  static_assert(!detail::RecurrentSpec<GlobalMaxPool1D>);
  CHECK(L::describe() == "LSTM<4>");
  CHECK(Bound<GRU<2, true, false>, Shape<6, 3>>::describe() == "GRU<2,sequences,unmasked>");
  CHECK(BL::describe() == "Bidirectional<LSTM<4>,concat>");
  std::vector<ParamInfo> info;
  detail::collect<BL>(info, "p/", 0, true, false);
  REQUIRE(info.size() == 6);
  CHECK(info[3].name == "p/backward/kernel");
  CHECK(info[3].offset == detail::param_count_of<L>());
}

TEST_CASE("LSTM starts from Keras' initialisers") {
  constexpr std::size_t U = 64, F = 100, G = 4 * U;
  using L = Bound<LSTM<U>, Shape<30, F>>;
  std::vector<ParamInfo> info;
  detail::collect<L>(info, "", 0, true, false);
  REQUIRE(info.size() == 3);
  std::vector<float> keras(detail::param_count_of<L>());
  detail::init_all(keras.data(), info, 5);
  CHECK(info[0].init == Init::GlorotUniform);
  CHECK(info[1].init == Init::Orthogonal);
  CHECK(info[2].init == Init::UnitForgetBias);
  for (std::size_t i = 0; i < G; ++i) CHECK(keras[(F + U) * G + i] == (i >= U && i < 2 * U ? 1.0f : 0.0f));
}

TEST_CASE("LSTM values equal a hand-written Keras cell in double precision") {
  for (bool pad : {false, true}) {
    check_values<Bound<LSTM<4>, Shape<5, 3>>>(naive_lstm, true, pad);
    check_values<Bound<LSTM<4, true>, Shape<5, 3>>>(naive_lstm, true, pad);
    check_values<Bound<LSTM<4, false, false>, Shape<5, 3>>>(naive_lstm, false, pad);
    check_values<Bound<LSTM<4, true, false>, Shape<5, 3>>>(naive_lstm, false, pad);
  }
}

TEST_CASE("GRU values equal a hand-written Keras cell (reset_after) in double precision") {
  for (bool pad : {false, true}) {
    check_values<Bound<GRU<4>, Shape<5, 3>>>(naive_gru, true, pad);
    check_values<Bound<GRU<4, true>, Shape<5, 3>>>(naive_gru, true, pad);
    check_values<Bound<GRU<4, true, false>, Shape<5, 3>>>(naive_gru, false, pad);
  }
}

TEST_CASE("gradient check: LSTM, last state and whole sequence, masked and unmasked") {
  test::check_layer<Bound<LSTM<3>, Shape<5, 4>>, Ref>("LSTM last", 2);
  test::check_layer<Bound<LSTM<3, true>, Shape<5, 4>>, Ref>("LSTM sequence", 2);
  test::check_layer<Bound<LSTM<3, false, false>, Shape<5, 4>>, Ref>("LSTM unmasked", 2);
  const auto x = test::padded_input<Shape<5, 4>>(4, 5, pad_mixed);
  test::check_layer_at<Bound<LSTM<3>, Shape<5, 4>>>("LSTM last, padded", x, 4);
  test::check_layer_at<Bound<LSTM<3, true>, Shape<5, 4>>>("LSTM sequence, padded", x, 4);
}

TEST_CASE("gradient check: GRU, last state and whole sequence, masked and unmasked") {
  test::check_layer<Bound<GRU<3>, Shape<5, 4>>, Ref>("GRU last", 2);
  test::check_layer<Bound<GRU<3, true>, Shape<5, 4>>, Ref>("GRU sequence", 2);
  test::check_layer<Bound<GRU<3, true, false>, Shape<5, 4>>, Ref>("GRU unmasked", 2);
  const auto x = test::padded_input<Shape<5, 4>>(4, 6, pad_mixed);
  test::check_layer_at<Bound<GRU<3>, Shape<5, 4>>>("GRU last, padded", x, 4);
  test::check_layer_at<Bound<GRU<3, true>, Shape<5, 4>>>("GRU sequence, padded", x, 4);
}

TEST_CASE("gradient check: Bidirectional with each merge mode") {
  test::check_layer<Bound<Bidirectional<LSTM<3>>, Shape<4, 3>>, Ref>("BiLSTM concat", 2);
  test::check_layer<Bound<Bidirectional<LSTM<3, true>>, Shape<4, 3>>, Ref>("BiLSTM sequence concat", 2);
  test::check_layer<Bound<Bidirectional<GRU<2>, Merge::Sum>, Shape<4, 3>>, Ref>("BiGRU sum", 2);
  test::check_layer<Bound<Bidirectional<GRU<2, true>, Merge::Average>, Shape<4, 3>>, Ref>("BiGRU sequence ave", 2);
  const auto x = test::padded_input<Shape<5, 4>>(4, 7, pad_mixed);
  test::check_layer_at<Bound<Bidirectional<LSTM<3, true>>, Shape<5, 4>>>("BiLSTM sequence, padded", x, 4);
  test::check_layer_at<Bound<Bidirectional<GRU<3>>, Shape<5, 4>>>("BiGRU last, padded", x, 4);
}

TEST_CASE("gradient check: mask-aware pooling over time") {
  test::check_layer<Bound<GlobalMaxPool1D, Shape<5, 4>>, Ref>("GlobalMaxPool1D", 3);
  test::check_layer<Bound<GlobalAvgPool1D, Shape<5, 4>>, Ref>("GlobalAvgPool1D", 3);
  const auto x = test::padded_input<Shape<5, 4>>(4, 8, pad_mixed);
  test::check_layer_at<Bound<GlobalMaxPool1D, Shape<5, 4>>>("GlobalMaxPool1D padded", x, 4);
  test::check_layer_at<Bound<GlobalAvgPool1D, Shape<5, 4>>>("GlobalAvgPool1D padded", x, 4);
}

TEST_CASE("mask-aware pooling leaves padding rows out; all padding gives zeros") {
  std::vector<float> x{0, 0, 1, -2, 0, 0, 3, -4,  // sample 0: rows (0,0) (1,-2) (0,0) (3,-4)
                       0, 0, 0, 0, 0, 0, 0, 0};
  const auto mx = run<Bound<GlobalMaxPool1D, Shape<4, 2>>>(x, {}, 2);
  const auto av = run<Bound<GlobalAvgPool1D, Shape<4, 2>>>(x, {}, 2);
  CHECK(mx == std::vector<float>{3, -2, 0, 0});
  CHECK(av == std::vector<float>{2, -3, 0, 0});
}

TEST_CASE("the backward pass of Bidirectional equals the layer run on the reversed sequence") {
  constexpr std::size_t T = 6, F = 3, n = 2;
  using L = Bound<LSTM<4>, Shape<T, F>>;
  using Bi = Bound<Bidirectional<LSTM<4>>, Shape<T, F>>;
  const auto x = test::random_vector(n * T * F, 31);
  std::vector<float> rev(x.size());
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t f = 0; f < F; ++f) rev[(b * T + t) * F + f] = x[(b * T + (T - 1 - t)) * F + f];
  auto w = test::random_vector(detail::param_count_of<Bi>(), 32);
  const auto both = run<Bi>(x, w, n);
  const std::vector<float> wf(w.begin(), w.begin() + detail::param_count_of<L>());
  const std::vector<float> wb(w.begin() + detail::param_count_of<L>(), w.end());
  const auto f = run<L>(x, wf, n), b = run<L>(rev, wb, n);
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t k = 0; k < 4; ++k) {
      CHECK(both[s * 8 + k] == doctest::Approx(f[s * 4 + k]).epsilon(1e-6));
      CHECK(both[s * 8 + 4 + k] == doctest::Approx(b[s * 4 + k]).epsilon(1e-6));
    }
}

TEST_CASE("padding 'pre' or 'post' gives the same result as no padding") {
  // Three real steps; the padded sequences have two zero rows before or after them.
  constexpr std::size_t F = 3;
  const auto real = test::random_vector(3 * F, 41);
  std::vector<float> pre(5 * F, 0.0f), post(5 * F, 0.0f);
  std::copy(real.begin(), real.end(), pre.begin() + 2 * F);
  std::copy(real.begin(), real.end(), post.begin());
  auto same = [&]<class Spec>(const char* name) {
    using Short = Bound<Spec, Shape<3, F>>;
    using Long = Bound<Spec, Shape<5, F>>;
    const auto w = test::random_vector(detail::param_count_of<Short>(), 42);
    const auto a = run<Short>(real, w, 1), b = run<Long>(pre, w, 1), c = run<Long>(post, w, 1);
    INFO(name);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-6));
      CHECK(c[i] == doctest::Approx(a[i]).epsilon(1e-6));
    }
  };
  same.operator()<LSTM<4>>("LSTM");
  same.operator()<GRU<4>>("GRU");
  same.operator()<Bidirectional<LSTM<4>>>("Bidirectional LSTM");
  same.operator()<Bidirectional<GRU<2>, Merge::Sum>>("Bidirectional GRU");
  same.operator()<Sequential<LSTM<4, true>, LSTM<2>>>("stacked LSTM");
  same.operator()<Sequential<Bidirectional<LSTM<4, true>>, GlobalMaxPool1D>>("BiLSTM + max over time");
  same.operator()<Sequential<GRU<4, true>, GlobalAvgPool1D>>("GRU + mean over time");
  // Without masking the padding steps count: the result changes (so the test above can fail).
  using Short = Bound<LSTM<4, false, false>, Shape<3, F>>;
  using Long = Bound<LSTM<4, false, false>, Shape<5, F>>;
  const auto w = test::random_vector(detail::param_count_of<Short>(), 42);
  CHECK(run<Long>(post, w, 1)[0] != doctest::Approx(run<Short>(real, w, 1)[0]).epsilon(1e-4));
}
