// MultiHeadSelfAttention: shapes and names, finite-difference gradients with and without padding, the
// padding semantics, and a golden test against Hugging Face's BertSelfAttention math
// (scripts/make_attention_golden.py).
#include <siamese/backend/backend.hpp>
#include <siamese/io/npz.hpp>
#include <siamese/layers/attention.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/model/sequential.hpp>

#include <cmath>
#include <filesystem>

#include "../support/gradcheck.hpp"

using namespace siamese;
using Ref = backend::Reference;
using Cpu = backend::Cpu;
template <class Spec, class In>
using Bound = typename Spec::template bind<In, LayerIndex<0>>;

namespace {

/// Runs forward (and, with dy, backward) of a bound layer L on backend B with token ids.
template <class L, class B>
struct Run {
  std::size_t n;
  std::vector<float> w, tokens, y, dx, dw, scratch;
  Run(std::size_t n_, std::vector<float> w_, std::vector<float> tok)
      : n(n_), w(std::move(w_)), tokens(std::move(tok)), y(n * L::out_shape::size), dx(n * L::in_shape::size),
        dw(w.size()), scratch(L::scratch(n) + 1) {}
  const float* tok() const { return tokens.empty() ? nullptr : tokens.data(); }
  std::size_t stride() const { return tokens.empty() ? 0 : L::in_shape::dims[0]; }
  void forward(const std::vector<float>& x) {
    L::template forward<B>(Forward{x.data(), y.data(), n, w.data(), nullptr, scratch.data(), true, 1, tok(), stride()});
  }
  void backward(const std::vector<float>& x, const std::vector<float>& dy) {
    L::template backward<B>(Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), dw.data(), nullptr,
                                     scratch.data(), tok(), stride()});
  }
};

/// loss = sum(y * r): analytic gradients against central differences, in x and in every parameter.
template <class L>
void check_gradients(const std::string& name, std::size_t n, const std::vector<float>& tokens, std::uint64_t seed) {
  std::vector<float> x = test::random_vector(n * L::in_shape::size, seed);
  const std::vector<float> r = test::random_vector(n * L::out_shape::size, seed + 1);
  Run<L, Ref> run(n, test::random_vector(detail::param_count_of<L>(), seed + 2, -0.5f, 0.5f), tokens);
  auto loss = [&] {
    run.forward(x);
    double s = 0;
    for (std::size_t i = 0; i < r.size(); ++i) s += double(run.y[i]) * r[i];
    return s;
  };
  loss();
  run.backward(x, r);
  const std::vector<float> dx = run.dx, dw = run.dw;
  test::check_gradient(name + " d/dx", x, dx, loss);
  test::check_gradient(name + " d/dw", run.w, dw, loss, 1e-3, 2e-2, 2e-3, 400);
}

}  // namespace

TEST_CASE("MultiHeadSelfAttention: shapes, parameter names and counts") {
  using A = Bound<MultiHeadSelfAttention<384, 12>, Shape<128, 384>>;
  static_assert(std::is_same_v<A::out_shape, Shape<128, 384>>);
  static_assert(detail::param_count_of<A>() == 4 * (384 * 384 + 384));
  CHECK(A::describe() == "MultiHeadSelfAttention<384,12>");
  const char* names[] = {"query/kernel", "query/bias", "key/kernel", "key/bias",
                         "value/kernel", "value/bias", "output/kernel", "output/bias"};
  for (std::size_t i = 0; i < 8; ++i) CHECK(std::string(A::params[i].name) == names[i]);
  CHECK(A::scratch(64) == 4 * 64 * 128 * 384 + 64 * 12 * 128 * 128);

  using M = bind_model<Sequential<Input<5, 8>, MultiHeadSelfAttention<8, 2>>>;
  std::vector<ParamInfo> info;
  M::collect(info, "", 0, true, false);
  REQUIRE(info.size() == 8);
  CHECK(info[0].name == "1_multiheadselfattention/query/kernel");
  CHECK(info[7].name == "1_multiheadselfattention/output/bias");
  CHECK(info[2].offset == 8 * 8 + 8);
}

TEST_CASE("MultiHeadSelfAttention gradient check without padding") {
  check_gradients<Bound<MultiHeadSelfAttention<8, 2>, Shape<5, 8>>>("attention T5 D8 H2", 2, {}, 11);
  check_gradients<Bound<MultiHeadSelfAttention<6, 1>, Shape<3, 6>>>("attention one head", 2, {}, 12);
  check_gradients<Bound<MultiHeadSelfAttention<12, 3>, Shape<1, 12>>>("attention T1", 3, {}, 13);
}

TEST_CASE("MultiHeadSelfAttention gradient check with padding: suffix, holes, a sample of padding only") {
  // sample 0: suffix padding; 1: holes; 2: no padding; 3: only padding
  const std::vector<float> tok = {5, 9, 2, 0, 0, 0, 7, 0, 3, 0, 4, 1, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0};
  check_gradients<Bound<MultiHeadSelfAttention<8, 2>, Shape<6, 8>>>("attention padded", 4, tok, 21);
}

TEST_CASE("padding: padded keys weigh 0, padded queries output the bias and pass no gradient") {
  using L = Bound<MultiHeadSelfAttention<8, 2>, Shape<6, 8>>;
  using S = Bound<MultiHeadSelfAttention<8, 2>, Shape<3, 8>>;
  const auto w = test::random_vector(detail::param_count_of<L>(), 3, -0.5f, 0.5f);
  const float* bo = w.data() + 3 * (64 + 8) + 64;
  // sample 0: 3 valid then 3 padded; sample 1: valid at 1, 3, 4; sample 2: all padding
  const std::vector<float> tok = {4, 4, 4, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0};
  auto x = test::random_vector(3 * 48, 4);
  const auto dy = test::random_vector(3 * 48, 5);
  auto check = [&]<class B>(const char* backend) {
    INFO(backend);
    Run<L, B> run(3, w, tok);
    run.forward(x);
    run.backward(x, dy);
    for (std::size_t b = 0; b < 3; ++b)
      for (std::size_t t = 0; t < 6; ++t) {
        if (tok[b * 6 + t] != 0.0f) continue;
        for (std::size_t c = 0; c < 8; ++c) {
          CHECK(run.y[(b * 6 + t) * 8 + c] == bo[c]);
          CHECK(run.dx[(b * 6 + t) * 8 + c] == 0.0f);
        }
      }
    // Changing the padded rows' inputs changes nothing at the valid positions, nor any gradient.
    auto x2 = x;
    for (std::size_t i = 0; i < 18; ++i)
      if (tok[i] == 0.0f)
        for (std::size_t c = 0; c < 8; ++c) x2[i * 8 + c] = 100.0f * float(c + 1);
    Run<L, B> run2(3, w, tok);
    run2.forward(x2);
    run2.backward(x2, dy);
    CHECK(run2.y == run.y);
    CHECK(run2.dx == run.dx);
    // A sample of 3 valid positions padded to 6 gives what the same 3 positions give unpadded.
    std::vector<float> xs(x.begin(), x.begin() + 24), dys(dy.begin(), dy.begin() + 24);
    Run<S, B> short_run(1, w, {});
    short_run.forward(xs);
    short_run.backward(xs, dys);
    for (std::size_t i = 0; i < 24; ++i) {
      CHECK(run.y[i] == doctest::Approx(short_run.y[i]).epsilon(1e-6));
      CHECK(run.dx[i] == doctest::Approx(short_run.dx[i]).epsilon(1e-5));
    }
    for (float v : run.y) CHECK(std::isfinite(v));
    for (float v : run.dw) CHECK(std::isfinite(v));
  };
  check.operator()<Ref>("Reference");
  check.operator()<Cpu>("Cpu");
}

TEST_CASE("MultiHeadSelfAttention matches Hugging Face's BertSelfAttention + BertSelfOutput.dense") {
  const ArrayFile f = read_npz(std::filesystem::path(LAYERS_DATA) / "attention_golden.npz");
  using L = Bound<MultiHeadSelfAttention<12, 3>, Shape<7, 12>>;
  auto get = [&](const char* name) {
    const NamedArray* a = f.find(name);
    REQUIRE_MESSAGE(a != nullptr, name);
    return a->data;
  };
  std::vector<float> w;
  for (const auto& p : L::params) {
    const auto v = get(p.name);
    REQUIRE(v.size() == p.size());
    w.insert(w.end(), v.begin(), v.end());
  }
  const auto x = get("x"), tok = get("tokens"), want = get("golden/output"), probs = get("golden/probs");
  REQUIRE(x.size() == 2 * 7 * 12);
  REQUIRE(tok.size() == 14);
  auto check = [&]<class B>(const char* backend) {
    INFO(backend);
    Run<L, B> run(2, w, tok);
    run.forward(x);
    std::size_t compared = 0;
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t t = 0; t < 7; ++t) {
        if (tok[b * 7 + t] == 0.0f) continue;
        for (std::size_t c = 0; c < 12; ++c, ++compared) {
          const std::size_t i = (b * 7 + t) * 12 + c;
          INFO("sample " << b << " position " << t << " feature " << c);
          CHECK(std::fabs(run.y[i] - want[i]) <= 1e-5);
        }
        // the probabilities kept for backward: (n, heads, T, T) after the four n T Dim buffers
        const float* kept = run.scratch.data() + 4 * detail::align_floats(2 * 7 * 12);
        for (std::size_t h = 0; h < 3; ++h)
          for (std::size_t j = 0; j < 7; ++j) {
            const std::size_t i = ((b * 3 + h) * 7 + t) * 7 + j;
            CHECK(std::fabs(kept[i] - probs[i]) <= 1e-6);
          }
      }
    CHECK(compared == (7 + 4) * 12);
  };
  check.operator()<Ref>("Reference");
  check.operator()<Cpu>("Cpu");
}

TEST_CASE("token ids with another number of positions are refused, naming the layer") {
  using L = Bound<MultiHeadSelfAttention<8, 2>, Shape<4, 8>>;
  std::vector<float> x(32), y(32), w(detail::param_count_of<L>()), s(L::scratch(1)), tok(5, 1.0f);
  CHECK_THROWS_WITH_AS(L::forward<Ref>(Forward{x.data(), y.data(), 1, w.data(), nullptr, s.data(), false, 0, tok.data(), 5}),
                       doctest::Contains("MultiHeadSelfAttention<8,2>: the model's token ids have 5 positions"),
                       ShapeError);
}
