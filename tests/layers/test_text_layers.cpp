// The text-encoder layers on backend::Reference: finite-difference gradient checks, shapes, parameter names, and
// what each layer computes (GELU's values, LayerNorm's statistics, masked pooling, BertEmbeddings' lookup).
#include <siamese/backend/backend.hpp>
#include <siamese/layers/bert_embeddings.hpp>
#include <siamese/layers/cls_pool.hpp>
#include <siamese/layers/conv2d.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/feed_forward.hpp>
#include <siamese/layers/l2_normalize.hpp>
#include <siamese/layers/layer_norm.hpp>
#include <siamese/layers/masked_mean_pool.hpp>
#include <siamese/layers/residual.hpp>
#include <siamese/model/siamese.hpp>

#include <cmath>
#include <stdexcept>

#include "../support/gradcheck.hpp"

using namespace siamese;
using Ref = backend::Reference;
template <class Spec, class In>
using B = typename Spec::template bind<In, LayerIndex<0>>;

namespace {

/// check_layer with the model's token ids handed to the layer; `x` is the input, d/dx checked when asked.
template <class L>
void check_with_tokens(const std::string& name, std::size_t n, std::vector<float> x, const std::vector<float>& tokens,
                       std::size_t stride, bool check_dx = true) {
  const std::size_t out = n * L::out_shape::size;
  std::vector<float> r = test::random_vector(out, 11), w = test::random_vector(detail::param_count_of<L>(), 12, -0.5f, 0.5f);
  std::vector<float> scratch(L::scratch(n) + 1), y(out), dx(x.size()), dw(w.size());
  const float* tok = tokens.empty() ? nullptr : tokens.data();
  auto loss = [&] {
    L::template forward<Ref>(Forward{x.data(), y.data(), n, w.data(), nullptr, scratch.data(), true, 9, tok, stride});
    double s = 0;
    for (std::size_t i = 0; i < out; ++i) s += double(y[i]) * r[i];
    return s;
  };
  loss();
  L::template backward<Ref>(
      Backward{x.data(), y.data(), r.data(), dx.data(), n, w.data(), dw.data(), nullptr, scratch.data(), tok, stride});
  if (check_dx) test::check_gradient(name + " d/dx", x, dx, loss);
  if (!w.empty()) test::check_gradient(name + " d/dw", w, dw, loss);
}

/// Runs bound layer L forward on Reference and returns its output.
template <class L>
std::vector<float> run(const std::vector<float>& x, std::size_t n, const std::vector<float>& w = {},
                       const std::vector<float>& tokens = {}, std::size_t stride = 0) {
  std::vector<float> y(n * L::out_shape::size), scratch(L::scratch(n) + 1);
  L::template forward<Ref>(Forward{x.data(), y.data(), n, w.data(), nullptr, scratch.data(), true, 0,
                                   tokens.empty() ? nullptr : tokens.data(), stride});
  return y;
}

std::vector<std::string> names(const std::vector<ParamInfo>& list) {
  std::vector<std::string> s;
  for (const auto& p : list) s.push_back(p.name);
  return s;
}
}  // namespace

TEST_CASE("shapes: Dense on a sequence, the poolings, the shape-keeping layers") {
  static_assert(std::is_same_v<B<Dense<6>, Shape<4, 3>>::out_shape, Shape<4, 6>>);
  static_assert(detail::param_count_of<B<Dense<6>, Shape<4, 3>>>() == 3 * 6 + 6);  // one kernel for every position
  static_assert(std::is_same_v<B<Dense<6, GELU>, Shape<5>>::out_shape, Shape<6>>);
  static_assert(std::is_same_v<B<FeedForward<1536, 384>, Shape<128, 384>>::out_shape, Shape<128, 384>>);
  static_assert(B<FeedForward<1536, 384>, Shape<128, 384>>::param_count == 384 * 1536 + 1536 + 1536 * 384 + 384);
  static_assert(std::is_same_v<B<LayerNorm<>, Shape<2, 3, 4>>::out_shape, Shape<2, 3, 4>>);
  static_assert(detail::param_count_of<B<LayerNorm<>, Shape<2, 3, 4>>>() == 8);
  static_assert(std::is_same_v<B<MaskedMeanPool, Shape<7, 5>>::out_shape, Shape<5>>);
  static_assert(std::is_same_v<B<ClsPool, Shape<7, 5>>::out_shape, Shape<5>>);
  static_assert(std::is_same_v<B<BertEmbeddings<30522, 384, 512>, Shape<128>>::out_shape, Shape<128, 384>>);
  static_assert(detail::param_count_of<B<BertEmbeddings<30522, 384, 512>, Shape<128>>>() ==
                (30522 + 512 + 2) * 384 + 2 * 384);  // all-MiniLM-L6-v2's embeddings
  CHECK(B<LayerNorm<1e-12f>, Shape<3>>::describe() == "LayerNorm<1e-12>");
  CHECK(B<LayerNorm<>, Shape<3>>::describe() == "LayerNorm<1e-05>");
  CHECK(B<Dense<4, GELU>, Shape<3>>::describe() == "Dense<4,gelu>");
  CHECK(B<GELU, Shape<3>>::describe() == "gelu");
}

TEST_CASE("gradient check: Dense on sequences, GELU fused and alone") {
  test::check_layer<B<Dense<5>, Shape<3, 4>>, Ref>("Dense on a sequence", 2);
  test::check_layer<B<Dense<5, GELU>, Shape<4>>, Ref>("Dense gelu", 3);
  test::check_layer<B<Dense<3, GELU>, Shape<4, 6>>, Ref>("Dense gelu on a sequence", 2);
  test::check_layer<B<Dense<3, Tanh>, Shape<2, 5>>, Ref>("Dense tanh on a sequence", 2);
  test::check_layer<B<GELU, Shape<13>>, Ref>("GELU", 3);
  test::check_layer<B<GELU, Shape<3, 5>>, Ref>("GELU on a sequence", 2, 4);
}

TEST_CASE("gradient check: LayerNorm over the last axis, any rank") {
  test::check_layer<B<LayerNorm<>, Shape<6>>, Ref>("LayerNorm rank 1", 3);
  test::check_layer<B<LayerNorm<>, Shape<4, 5>>, Ref>("LayerNorm rank 2", 2);
  test::check_layer<B<LayerNorm<1e-12f>, Shape<2, 3, 4>>, Ref>("LayerNorm rank 3, BERT's eps", 2);
}

TEST_CASE("gradient check: Residual and ResidualBlock (identity and projection shortcuts, each activation)") {
  test::check_layer<B<Residual<Dense<6, Tanh>, Dense<4>>, Shape<3, 4>>, Ref>("Residual", 2);
  test::check_layer<B<Residual<FeedForward<7, 4>>, Shape<3, 4>>, Ref>("Residual feed-forward", 2);
  test::check_layer<B<Residual<LayerNorm<>>, Shape<5>>, Ref>("Residual LayerNorm", 3);
  test::check_layer<B<ResidualBlock<Main<Dense<6, Tanh>, Dense<3>>, Shortcut<Dense<3>>>, Shape<5>>, Ref>(
      "ResidualBlock projection", 3);
  test::check_layer<B<ResidualBlock<Main<Dense<4, Tanh>>, Shortcut<>, Tanh>, Shape<4>>, Ref>(
      "ResidualBlock identity tanh", 3);
  test::check_layer<B<ResidualBlock<Main<Dense<4, Tanh>>, Shortcut<Dense<4>>, GELU>, Shape<2, 3>>, Ref>(
      "ResidualBlock gelu", 2);
  test::check_layer<B<ResidualBlock<Main<Conv2D<3, 3, 1, Padding::Same, Tanh>, Conv2D<4, 3, 2, Padding::Same>>,
                                    Shortcut<Conv2D<4, 1, 2>>, Sigmoid>,
                      Shape<5, 5, 2>>,
                    Ref>("ResidualBlock ResNet-style strided projection", 2);
}

TEST_CASE("gradient check: L2Normalize, MaskedMeanPool (with and without token ids), ClsPool") {
  test::check_layer<B<L2Normalize<>, Shape<7>>, Ref>("L2Normalize", 3);
  test::check_layer<B<L2Normalize<>, Shape<3, 4>>, Ref>("L2Normalize on a sequence", 2);
  test::check_layer<B<MaskedMeanPool, Shape<5, 3>>, Ref>("MaskedMeanPool without ids", 2);
  const std::vector<float> tokens{3, 9, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 7, 1, 6, 8, 0, 0, 0, 0, 0, 0};
  check_with_tokens<B<MaskedMeanPool, Shape<6, 3>>>("MaskedMeanPool with ids", 4, test::random_vector(4 * 18, 3),
                                                     tokens, 6);
  test::check_layer<B<ClsPool, Shape<4, 3>>, Ref>("ClsPool", 3);
}

TEST_CASE("gradient check: BertEmbeddings' tables, gamma and beta") {
  using E = B<BertEmbeddings<9, 5, 6, 2>, Shape<4>>;  // eps 1e-12: LayerNorm's own check covers the input side
  const std::vector<float> ids{3, 8, 1, 1, 2, 5, 7, 4, 6, 6, 8, 3};  // no id 0: its row gets no gradient (below)
  check_with_tokens<E>("BertEmbeddings", 3, ids, ids, 4, false);
}

TEST_CASE("GELU: the exact erf form, fused into Dense the same as after it") {
  // x Phi(x) in double (Phi from erfc, so that the tail keeps its digits): what BERT and torch.nn.GELU() compute
  const std::vector<float> x{-8, -4, -3, -1, -0.5f, 0, 0.5f, 1, 3, 6};
  const auto y = run<B<GELU, Shape<10>>>(x, 1);
  const double want[] = {-4.976201e-15, -1.2668698e-04, -4.0496941e-03, -0.15865525, -0.15426877, 0.0, 0.34573123, 0.84134475, 2.9959503, 5.9999999941};
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-6));
  // not the tanh approximation: at x = -3 it gives -3.637e-3
  CHECK(std::fabs(y[2] + 3.6373920e-03) > 1e-4);

  using Fused = B<Dense<6, GELU>, Shape<3, 4>>;
  using Plain = B<Sequential<Dense<6>, GELU>, Shape<3, 4>>;
  const auto in = test::random_vector(2 * 12, 5), w = test::random_vector(4 * 6 + 6, 6);
  CHECK(run<Fused>(in, 2, w) == run<Plain>(in, 2, w));
}

TEST_CASE("FeedForward on a sequence is the per-position computation") {
  constexpr std::size_t T = 5, D = 6, H = 10, n = 3;
  using Seq = B<FeedForward<H, D>, Shape<T, D>>;
  using One = B<FeedForward<H, D>, Shape<D>>;
  static_assert(Seq::param_count == One::param_count);
  const auto x = test::random_vector(n * T * D, 21), w = test::random_vector(Seq::param_count, 22);
  auto check = [&]<class Bk>(Bk, double tol) {
    std::vector<float> y(n * T * D), s(Seq::scratch(n) + 1);
    Seq::template forward<Bk>(Forward{x.data(), y.data(), n, w.data(), nullptr, s.data(), false, 0});
    for (std::size_t r = 0; r < n * T; ++r) {  // each (sample, position) alone, as a batch of one vector
      std::vector<float> yr(D), s1(One::scratch(1) + 1);
      One::template forward<Bk>(Forward{x.data() + r * D, yr.data(), 1, w.data(), nullptr, s1.data(), false, 0});
      for (std::size_t k = 0; k < D; ++k) {
        if (tol == 0.0) CHECK(y[r * D + k] == yr[k]);
        else CHECK(y[r * D + k] == doctest::Approx(yr[k]).epsilon(tol));
      }
    }
  };
  check(Ref{}, 0.0);  // Reference sums each output in double: identical bits
  check(backend::Cpu{}, 1e-5);
}

TEST_CASE("LayerNorm: rows of mean 0 and variance 1 before gamma and beta; a constant row gives beta") {
  using L = B<LayerNorm<>, Shape<2, 4>>;
  const std::vector<float> x{1, 2, 3, 4, 5, 5, 5, 5};
  const std::vector<float> w{2, 2, 2, 2, 0.5f, 0.5f, 0.5f, 0.5f};  // gamma 2, beta 0.5
  const auto y = run<L>(x, 1, w);
  const double sd = std::sqrt(1.25 + 1e-5);
  for (std::size_t k = 0; k < 4; ++k) CHECK(y[k] == doctest::Approx(2 * (k + 1 - 2.5) / sd + 0.5).epsilon(1e-6));
  for (std::size_t k = 4; k < 8; ++k) CHECK(y[k] == 0.5f);
  std::vector<ParamInfo> list;
  detail::collect<L>(list, "ln/", 0, true, false);
  CHECK(names(list) == std::vector<std::string>{"ln/gamma", "ln/beta"});
  CHECK(list[0].init == Init::Ones);
  CHECK(list[1].init == Init::Zeros);
}

TEST_CASE("L2Normalize: unit rows; a zero row gives zeros and a finite gradient") {
  using L = B<L2Normalize<>, Shape<3>>;
  std::vector<float> x{3, 0, 4, 0, 0, 0}, y = run<L>(x, 2), dy{1, 2, 3, 4, 5, 6}, dx(6), s(2);
  CHECK(y == std::vector<float>{0.6f, 0, 0.8f, 0, 0, 0});
  L::forward<Ref>(Forward{x.data(), y.data(), 2, nullptr, nullptr, s.data(), true, 0});
  L::backward<Ref>(Backward{x.data(), y.data(), dy.data(), dx.data(), 2, nullptr, nullptr, nullptr, s.data()});
  for (float v : dx) CHECK(std::isfinite(v));
  CHECK(dx[0] * 0.6f + dx[2] * 0.8f == doctest::Approx(0).scale(1));  // no gradient along the row itself
}

TEST_CASE("MaskedMeanPool: the mean over real tokens; all padding gives zeros; no ids: every position") {
  using P = B<MaskedMeanPool, Shape<3, 2>>;
  const std::vector<float> x{1, 2, 3, 4, 100, 200, /**/ 5, 6, 7, 8, 9, 10};
  CHECK(run<P>(x, 2, {}, {11, 12, 0, 0, 0, 0}, 3) == std::vector<float>{2, 3, 0, 0});
  CHECK(run<P>(x, 2, {}, {0, 12, 0, 0, 4, 0, 99}, 3)[0] == 3.0f);  // stride 3 of a longer buffer
  CHECK(run<P>(x, 2) == std::vector<float>{104.0f / 3, 206.0f / 3, 7, 8});
  // token rows shorter than the sequence: refused, naming both lengths
  std::vector<float> y(4), tok{1, 1};
  CHECK_THROWS_WITH_AS(P::forward<Ref>(Forward{x.data(), y.data(), 1, nullptr, nullptr, nullptr, false, 0, tok.data(), 2}),
                       doctest::Contains("2 positions per sample, fewer than the 3"), ShapeError);
}

TEST_CASE("ClsPool: position 0") {
  CHECK(run<B<ClsPool, Shape<3, 2>>>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 2) == std::vector<float>{1, 2, 7, 8});
}

TEST_CASE("BertEmbeddings: LayerNorm(word + position + type 0), parameter names, row-sparse table, bad ids") {
  constexpr std::size_t V = 6, D = 4, M = 5, T = 3;
  using E = B<BertEmbeddings<V, D, M, 2, 1e-12f>, Shape<T>>;
  static_assert(E::token_vocab == V);
  std::vector<ParamInfo> list;
  detail::collect<E>(list, "e/", 0, true, false);
  CHECK(names(list) == std::vector<std::string>{"e/word_embeddings", "e/position_embeddings",
                                                "e/token_type_embeddings", "e/gamma", "e/beta"});
  CHECK(list[0].sparse_row == D);
  CHECK(list[1].sparse_row == 0);
  CHECK(list[2].shape == std::vector<std::size_t>{2, D});
  CHECK(list[0].init == Init::Normal002);

  const auto w = test::random_vector(detail::param_count_of<E>(), 31);
  const std::vector<float> ids{5, 0, 2};
  const auto y = run<E>(ids, 1, w);
  for (std::size_t t = 0; t < T; ++t) {
    double v[D], mean = 0, var = 0;
    for (std::size_t k = 0; k < D; ++k) {
      v[k] = double(w[std::size_t(ids[t]) * D + k]) + w[V * D + t * D + k] + w[(V + M) * D + k];
      mean += v[k] / D;
    }
    for (std::size_t k = 0; k < D; ++k) var += (v[k] - mean) * (v[k] - mean) / D;
    for (std::size_t k = 0; k < D; ++k) {
      const double g = w[(V + M + 2) * D + k], b = w[(V + M + 2) * D + D + k];
      CHECK(y[t * D + k] == doctest::Approx(g * (v[k] - mean) / std::sqrt(var + 1e-12) + b).epsilon(1e-5));
    }
  }
  // backward: id 0 ([PAD]) gets no gradient, positions beyond T and token type 1 neither
  std::vector<float> s(E::scratch(1) + 1), yy(T * D), dy = test::random_vector(T * D, 32), dw(w.size(), 7.0f), dx(T, 7.0f);
  E::forward<Ref>(Forward{ids.data(), yy.data(), 1, w.data(), nullptr, s.data(), true, 0});
  E::backward<Ref>(Backward{ids.data(), yy.data(), dy.data(), dx.data(), 1, w.data(), dw.data(), nullptr, s.data()});
  auto all_zero = [&](std::size_t from, std::size_t count) {
    for (std::size_t i = from; i < from + count; ++i)
      if (dw[i] != 0.0f) return false;
    return true;
  };
  CHECK(all_zero(0, D));                  // row of id 0
  CHECK(all_zero(1 * D, D));              // absent ids
  CHECK_FALSE(all_zero(5 * D, D));        // present ids
  CHECK(all_zero(V * D + T * D, (M - T) * D));
  CHECK(all_zero((V + M + 1) * D, D));    // token type 1
  CHECK(dx == std::vector<float>(T, 0.0f));

  std::vector<float> bad{1, 2, 3, 4, 6, 1};  // 6 is outside [0, 6)
  std::vector<float> y2(2 * T * D), s2(E::scratch(2) + 1);
  CHECK_THROWS_WITH_AS(E::forward<Ref>(Forward{bad.data(), y2.data(), 2, w.data(), nullptr, s2.data(), true, 0}),
                       "BertEmbeddings<6,4>: token id 6.000000 at sample 1, position 1 is not an integer in [0, 6)",
                       ShapeError);
  CHECK_THROWS_AS(E::forward<backend::Cpu>(Forward{bad.data(), y2.data(), 2, w.data(), nullptr, s2.data(), true, 0}),
                  ShapeError);
}

TEST_CASE("Residual and ResidualBlock: y = x + f(x), parameter names, frozen-ness") {
  using R = B<Residual<Dense<3>>, Shape<3>>;
  std::vector<float> w(12, 0.0f);  // a zero Dense: y = x
  CHECK(run<R>({1, 2, 3}, 1, w) == std::vector<float>{1, 2, 3});
  w[9] = 1.0f;  // bias 1 on the first unit
  CHECK(run<R>({1, 2, 3}, 1, w) == std::vector<float>{2, 2, 3});

  using Net = Sequential<Input<3>, Residual<Dense<5, ReLU>, Dense<3>>,
                         ResidualBlock<Main<Dense<4>>, Shortcut<Dense<4>>, ReLU>, Frozen<Residual<Dense<4>>>>;
  std::vector<ParamInfo> list;
  detail::collect<bind_model<Net>>(list, "", 0, true, false);
  CHECK(names(list) == std::vector<std::string>{
                           "1_residual/0_dense/kernel", "1_residual/0_dense/bias", "1_residual/1_dense/kernel",
                           "1_residual/1_dense/bias", "2_residualblock/main/0_dense/kernel",
                           "2_residualblock/main/0_dense/bias", "2_residualblock/shortcut/0_dense/kernel",
                           "2_residualblock/shortcut/0_dense/bias", "3_residual/0_dense/kernel",  // Frozen renames nothing
                           "3_residual/0_dense/bias"});
  for (std::size_t i = 0; i < list.size(); ++i) CHECK(list[i].trainable == (i < 8));
  static_assert(!detail::has_trainable<B<Frozen<Residual<Dense<4>>>, Shape<4>>>());
  CHECK(B<ResidualBlock<Main<Dense<4>>, Shortcut<>, ReLU>, Shape<4>>::describe() ==
        "ResidualBlock[main[Dense<4,linear>(4)],shortcut[identity],relu]");
}

TEST_CASE("a Siamese text model with BertEmbeddings checks its token ids before running") {
  using Enc = Sequential<Input<4>, BertEmbeddings<10, 8, 4>, Residual<FeedForward<16, 8>>, LayerNorm<1e-12f>,
                         MaskedMeanPool, L2Normalize<>>;
  Siamese<Enc, Head<Cosine>> m(1);
  Tensor a({2, 4}), b({2, 4});
  for (std::size_t i = 0; i < 8; ++i) a.data()[i] = b.data()[i] = float(1 + i % 9);
  a.data()[6] = 0;  // padding
  const Tensor e = m.embed(a);
  double norm = 0;
  for (std::size_t k = 0; k < 8; ++k) norm += double(e.data()[k]) * e.data()[k];
  CHECK(norm == doctest::Approx(1.0).epsilon(1e-5));
  a.data()[5] = 10;  // outside the vocabulary
  CHECK_THROWS_AS(m.embed(a), ShapeError);
  CHECK_THROWS_AS(m.predict(a, b), ShapeError);
}
