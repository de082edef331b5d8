// xtensor interoperability: views without copies, expressions into Tensors, a model fed from xtensor.
#include <siamese/xtensor.hpp>
#include <siamese/model/siamese.hpp>

#include <doctest/doctest.h>

#include <xtensor/xrandom.hpp>

using namespace siamese;

TEST_CASE("a Tensor viewed as xtensor shares its memory") {
  Tensor t({2, 3});
  auto v = as_xtensor(t);
  v(1, 2) = 5.0f;
  CHECK(t[5] == 5.0f);
  CHECK(v.shape()[0] == 2);
  t[0] = -1.0f;
  CHECK(v(0, 0) == -1.0f);
}

TEST_CASE("an xtensor expression becomes a Tensor that a model accepts") {
  xt::random::seed(3);
  xt::xtensor<double, 4> a = xt::random::rand<double>({4, 6, 6, 1});
  const Tensor ta = to_tensor(a * 2.0), tb = to_tensor(a);
  CHECK(ta.shape() == std::vector<std::size_t>{4, 6, 6, 1});
  CHECK(ta[7] == doctest::Approx(2.0 * a.data()[7]));
  Siamese<Sequential<Input<6, 6, 1>, Flatten, Dense<4>>, Head<SqDiff, Cosine>> m;
  const Tensor p = m.predict(ta, tb);
  const auto pv = as_xtensor(p);
  CHECK(pv.size() == 4);
  CHECK(xt::all(pv > 0.0f && pv < 1.0f));
}

TEST_CASE("to_tensor keeps the rank of any expression (xtensor 0.24's eval of scalar * view gave rank 4)") {
  Tensor t({2, 3});
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(i);
  const Tensor twice = to_tensor(2.0f * as_xtensor(t));
  CHECK(twice.shape() == std::vector<std::size_t>{2, 3});
  CHECK(twice[5] == 10.0f);
  xt::xarray<double> x = xt::ones<double>({5});
  CHECK(to_tensor(3.0 * x).shape() == std::vector<std::size_t>{5});
  CHECK(to_tensor(xt::sum(x)).shape().empty());  // a 0-d expression: a Tensor of rank 0, one value
}
