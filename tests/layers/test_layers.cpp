// Finite-difference gradient checks of every layer on backend::Reference, and their shape algebra.
#include <siamese/backend/reference/reference.hpp>
#include <siamese/layers/batchnorm.hpp>
#include <siamese/layers/concat.hpp>
#include <siamese/layers/conv2d.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/dropout.hpp>
#include <siamese/layers/pooling.hpp>
#include <siamese/model/sequential.hpp>

#include "../support/gradcheck.hpp"

using namespace siamese;
using Ref = backend::Reference;
template <class Spec, class In>
using B = typename Spec::template bind<In, LayerIndex<0>>;

TEST_CASE("shapes and parameter counts follow Keras") {
  using C = B<Conv2D<8, 3>, Shape<28, 28, 1>>;
  static_assert(std::is_same_v<C::out_shape, Shape<26, 26, 8>>);
  static_assert(detail::param_count_of<C>() == 3 * 3 * 1 * 8 + 8);
  static_assert(std::is_same_v<B<Conv2D<4, 3, 2, Padding::Same>, Shape<7, 7, 2>>::out_shape, Shape<4, 4, 4>>);
  static_assert(std::is_same_v<B<MaxPool2D<2>, Shape<7, 7, 3>>::out_shape, Shape<3, 3, 3>>);
  static_assert(std::is_same_v<B<MaxPool2D<2, 2, Padding::Same>, Shape<7, 7, 3>>::out_shape, Shape<4, 4, 3>>);
  static_assert(std::is_same_v<B<GlobalAvgPool2D, Shape<5, 5, 6>>::out_shape, Shape<6>>);
  static_assert(std::is_same_v<B<Concat<GlobalMaxPool2D, GlobalAvgPool2D>, Shape<5, 5, 6>>::out_shape, Shape<12>>);
  static_assert(detail::param_count_of<B<Dense<10>, Shape<7>>>() == 80);
  static_assert(detail::param_count_of<B<BatchNorm, Shape<4, 4, 3>>>() == 6);
  static_assert(detail::state_count_of<B<BatchNorm, Shape<4, 4, 3>>>() == 6);
  CHECK(C::describe() == "Conv2D<8,3x3,s1,valid,linear>");
}

TEST_CASE("gradient check: Dense with each activation") {
  test::check_layer<B<Dense<5>, Shape<7>>, Ref>("Dense linear", 3);
  test::check_layer<B<Dense<5, ReLU>, Shape<7>>, Ref>("Dense relu", 3);
  test::check_layer<B<Dense<4, Sigmoid>, Shape<6>>, Ref>("Dense sigmoid", 2);
  test::check_layer<B<Dense<4, Tanh>, Shape<6>>, Ref>("Dense tanh", 2);
}

TEST_CASE("gradient check: Conv2D valid, same, strided, fused ReLU") {
  test::check_layer<B<Conv2D<3, 3>, Shape<6, 5, 2>>, Ref>("Conv2D valid", 2);
  test::check_layer<B<Conv2D<2, 3, 2, Padding::Same>, Shape<7, 6, 3>>, Ref>("Conv2D same s2", 2);
  test::check_layer<B<Conv2D<4, 2, 1, Padding::Valid, ReLU>, Shape<5, 5, 1>>, Ref>("Conv2D relu", 1, 7);
}

TEST_CASE("gradient check: pooling") {
  test::check_layer<B<MaxPool2D<2>, Shape<6, 5, 3>>, Ref>("MaxPool2D", 2);
  test::check_layer<B<MaxPool2D<3, 2, Padding::Same>, Shape<7, 7, 2>>, Ref>("MaxPool2D same", 1);
  test::check_layer<B<AvgPool2D<2>, Shape<6, 5, 3>>, Ref>("AvgPool2D", 2);
  test::check_layer<B<AvgPool2D<3, 2, Padding::Same>, Shape<7, 7, 2>>, Ref>("AvgPool2D same", 1);
  test::check_layer<B<GlobalMaxPool2D, Shape<4, 3, 5>>, Ref>("GlobalMaxPool2D", 3);
  test::check_layer<B<GlobalAvgPool2D, Shape<4, 3, 5>>, Ref>("GlobalAvgPool2D", 3);
}

TEST_CASE("gradient check: activations, dropout, batch norm") {
  test::check_layer<B<ReLU, Shape<11>>, Ref>("ReLU", 3);
  test::check_layer<B<Sigmoid, Shape<11>>, Ref>("Sigmoid", 3);
  test::check_layer<B<Tanh, Shape<11>>, Ref>("Tanh", 3);
  test::check_layer<B<Dropout<0.3f>, Shape<40>>, Ref>("Dropout", 3);
  test::check_layer<B<BatchNorm, Shape<3, 2, 4>>, Ref>("BatchNorm", 3);
  test::check_layer<B<BatchNorm, Shape<5>>, Ref>("BatchNorm dense", 6);
}

TEST_CASE("gradient check: composites") {
  test::check_layer<B<Concat<GlobalMaxPool2D, GlobalAvgPool2D>, Shape<4, 4, 3>>, Ref>("Concat", 2);
  test::check_layer<B<Concat<Sequential<Flatten, Dense<3>>, Sequential<GlobalAvgPool2D, Dense<2, Tanh>>>,
                      Shape<3, 3, 2>>,
                    Ref>("Concat of Sequentials", 2);
  using Net = B<Sequential<Conv2D<3, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Flatten, Dense<4>, Dropout<0.25f>,
                           Dense<2, Sigmoid>>,
                Shape<8, 8, 2>>;
  static_assert(Net::param_count == (3 * 3 * 2 * 3 + 3) + (27 * 4 + 4) + (4 * 2 + 2));
  test::check_layer<Net, Ref>("Sequential", 2);
}

TEST_CASE("dropout: the rate of zeros, the scaling, and the identity at inference") {
  using D = B<Dropout<0.25f>, Shape<10000>>;
  std::vector<float> x(10000, 1.0f), y(10000), mask(10000);
  D::forward<Ref>(Forward{x.data(), y.data(), 1, nullptr, nullptr, mask.data(), true, 5});
  std::size_t zeros = 0;
  for (float v : y) {
    zeros += v == 0.0f;
    CHECK((v == 0.0f || std::fabs(v - 1.0f / 0.75f) < 1e-6f));
  }
  CHECK(zeros > 2300);
  CHECK(zeros < 2700);
  D::forward<Ref>(Forward{x.data(), y.data(), 1, nullptr, nullptr, mask.data(), false, 5});
  for (float v : y) CHECK(v == 1.0f);
}

TEST_CASE("batch norm: training normalises, inference uses the moving moments") {
  using N = B<BatchNorm, Shape<2>>;
  std::vector<float> x{1, 10, 3, 20, 5, 30}, y(6), w{1, 1, 0, 0}, st{0, 0, 1, 1}, s(N::scratch(3));
  N::forward<Ref>(Forward{x.data(), y.data(), 3, w.data(), st.data(), s.data(), true, 0});
  CHECK(y[0] == doctest::Approx(-1.2247).epsilon(1e-3));
  CHECK(y[4] == doctest::Approx(1.2247).epsilon(1e-3));
  CHECK(st[0] == doctest::Approx(0.01f * 3));      // moving mean of channel 0: 0.99*0 + 0.01*3
  CHECK(st[1] == doctest::Approx(0.01f * 20));
  N::forward<Ref>(Forward{x.data(), y.data(), 3, w.data(), st.data(), s.data(), false, 0});
  CHECK(y[0] == doctest::Approx((1 - 0.03) / std::sqrt(st[2] + 1e-3)).epsilon(1e-4));
}
