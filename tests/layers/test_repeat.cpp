// Repeat<N, Layers...>: shapes, parameter names and offsets, gradients, and equality with the
// Sequential that spells the copies out.
#include <siamese/backend/backend.hpp>
#include <siamese/layers/activation.hpp>
#include <siamese/layers/attention.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/repeat.hpp>
#include <siamese/model/sequential.hpp>

#include "../support/gradcheck.hpp"

using namespace siamese;
using Ref = backend::Reference;
using Cpu = backend::Cpu;
template <class Spec, class In>
using Bound = typename Spec::template bind<In, LayerIndex<0>>;

namespace {

/// Forward and backward of bound layers L1 and L2 on the same input, parameters and output gradient
/// give bit-identical outputs and gradients.
template <class L1, class L2, class B>
void expect_same(std::size_t n, const std::vector<float>& tokens) {
  static_assert(detail::param_count_of<L1>() == detail::param_count_of<L2>());
  const std::size_t in = n * L1::in_shape::size, out = n * L1::out_shape::size, np = detail::param_count_of<L1>();
  const auto x = test::random_vector(in, 1), dy = test::random_vector(out, 2), w = test::random_vector(np, 3, -0.5f, 0.5f);
  const float* tok = tokens.empty() ? nullptr : tokens.data();
  const std::size_t stride = tokens.empty() ? 0 : L1::in_shape::dims[0];
  auto run = [&]<class L>(std::vector<float>& y, std::vector<float>& dx, std::vector<float>& dw) {
    std::vector<float> s(L::scratch(n) + 1);
    y.assign(out, 0.0f);
    dx.assign(in, 0.0f);
    dw.assign(np, 0.0f);
    L::template forward<B>(Forward{x.data(), y.data(), n, w.data(), nullptr, s.data(), true, 7, tok, stride});
    L::template backward<B>(
        Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), dw.data(), nullptr, s.data(), tok, stride});
  };
  std::vector<float> y1, dx1, dw1, y2, dx2, dw2;
  run.template operator()<L1>(y1, dx1, dw1);
  run.template operator()<L2>(y2, dx2, dw2);
  CHECK(y1 == y2);
  CHECK(dx1 == dx2);
  CHECK(dw1 == dw2);
  bool moved = false;  // the copies are not the identity: the test compares something
  for (std::size_t i = 0; i < in; ++i) moved = moved || y1[i] != x[i];
  CHECK(moved);
}

}  // namespace

TEST_CASE("Repeat: shapes, parameter counts, names and offsets") {
  using R = Bound<Repeat<3, Dense<6, Tanh>, Dense<6>>, Shape<6>>;
  static_assert(std::is_same_v<R::out_shape, Shape<6>>);
  static_assert(R::param_count == 3 * 2 * (36 + 6));
  CHECK(R::describe() == "Repeat<3,Sequential[Dense<6,tanh>(6)>Dense<6,linear>(6)]>");

  using M = bind_model<Sequential<Input<4, 8>, Repeat<2, MultiHeadSelfAttention<8, 2>>>>;
  std::vector<ParamInfo> info;
  M::collect(info, "", 0, true, false);
  REQUIRE(info.size() == 2 * 8);
  CHECK(info[0].name == "1_repeat/0/0_multiheadselfattention/query/kernel");
  CHECK(info[8].name == "1_repeat/1/0_multiheadselfattention/query/kernel");
  CHECK(info[15].name == "1_repeat/1/0_multiheadselfattention/output/bias");
  CHECK(info[8].offset == 4 * (64 + 8));
  CHECK(info[15].offset + info[15].size == M::param_count);
}

TEST_CASE("Repeat<2, X> computes what Sequential<X, X> computes with the same parameters") {
  expect_same<Bound<Repeat<2, Dense<5, Tanh>, Dense<5>>, Shape<5>>,
              Bound<Sequential<Dense<5, Tanh>, Dense<5>, Dense<5, Tanh>, Dense<5>>, Shape<5>>, Ref>(3, {});
  expect_same<Bound<Repeat<3, Dense<4, Sigmoid>>, Shape<4>>,
              Bound<Sequential<Dense<4, Sigmoid>, Dense<4, Sigmoid>, Dense<4, Sigmoid>>, Shape<4>>, Cpu>(5, {});
  const std::vector<float> tok = {3, 1, 2, 0, 1, 0, 5, 5};
  using A = MultiHeadSelfAttention<8, 2>;
  expect_same<Bound<Repeat<2, A>, Shape<4, 8>>, Bound<Sequential<A, A>, Shape<4, 8>>, Ref>(2, tok);
  expect_same<Bound<Repeat<2, A>, Shape<4, 8>>, Bound<Sequential<A, A>, Shape<4, 8>>, Cpu>(2, tok);
}

TEST_CASE("Repeat gradient check") {
  test::check_layer<Bound<Repeat<3, Dense<4, Tanh>>, Shape<4>>, Ref>("Repeat<3, Dense tanh>", 3);
  test::check_layer<Bound<Repeat<2, MultiHeadSelfAttention<6, 2>>, Shape<3, 6>>, Ref>("Repeat<2, attention>", 2);
  // A block of one layer with no parameters and one with: the backward pass stops where it must.
  test::check_layer<Bound<Repeat<2, Dense<3>, Tanh>, Shape<3>>, Ref>("Repeat<2, Dense, Tanh>", 4);
}
