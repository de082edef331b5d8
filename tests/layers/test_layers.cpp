// Finite-difference gradient checks of every layer on backend::Reference, and their shape algebra.
#include <array>
#include <cmath>

#include <siamese/backend/reference/reference.hpp>
#include <siamese/layers/batchnorm.hpp>
#include <siamese/layers/concat.hpp>
#include <siamese/layers/conv2d.hpp>
#include <siamese/layers/conv_bn.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/layers/dropout.hpp>
#include <siamese/layers/pooling.hpp>
#include <siamese/layers/residual.hpp>
#include <siamese/layers/zero_padding.hpp>
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
  using NB = B<Conv2DNoBias<8, 3>, Shape<28, 28, 1>>;
  static_assert(detail::param_count_of<NB>() == 3 * 3 * 1 * 8);
  CHECK(NB::describe() == "Conv2D<8,3x3,s1,valid,linear,nobias>");
  static_assert(std::is_same_v<B<ZeroPadding2D<3>, Shape<5, 4, 2>>::out_shape, Shape<11, 10, 2>>);
  static_assert(std::is_same_v<B<ZeroPadding2D<1, 2, 0, 3>, Shape<5, 4, 2>>::out_shape, Shape<8, 7, 2>>);
  // Keras' ResNet50 stem: ZeroPadding2D(3), 7x7/2 valid, ZeroPadding2D(1), 3x3/2 max pooling: 224 -> 112 -> 56.
  static_assert(std::is_same_v<B<Sequential<ZeroPadding2D<3>, Conv2D<4, 7, 2>, ZeroPadding2D<1>, MaxPool2D<3, 2>>,
                                 Shape<224, 224, 3>>::out_shape,
                               Shape<56, 56, 4>>);
  // keras-vggface's: 7x7/2 same, 3x3/2 valid max pooling: 224 -> 112 -> 55.
  static_assert(std::is_same_v<B<Sequential<Conv2D<4, 7, 2, Padding::Same>, MaxPool2D<3, 2>>, Shape<224, 224, 3>>::out_shape,
                               Shape<55, 55, 4>>);
}

TEST_CASE("ZeroPadding2D puts the image inside a frame of zeros, and its gradient is the frame's inside") {
  using Z = B<ZeroPadding2D<1, 2, 3, 0>, Shape<2, 2, 1>>;  // 2x2 -> 5x5
  std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8}, y(50, 9.0f);
  Z::forward<Ref>(Forward{x.data(), y.data(), 2, nullptr, nullptr, nullptr, true, 0});
  const std::vector<float> first{0, 0, 0, 0, 0,  //
                                 0, 0, 0, 1, 2,  //
                                 0, 0, 0, 3, 4,  //
                                 0, 0, 0, 0, 0,  //
                                 0, 0, 0, 0, 0};
  CHECK(std::vector<float>(y.begin(), y.begin() + 25) == first);
  CHECK(y[25 + 8] == 5);
  CHECK(y[25 + 14] == 8);
  test::check_layer<B<ZeroPadding2D<2>, Shape<3, 4, 2>>, Ref>("ZeroPadding2D", 2);
  test::check_layer<B<ZeroPadding2D<0, 1, 2, 0>, Shape<3, 4, 3>>, Ref>("ZeroPadding2D asymmetric", 3);
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
  test::check_layer<B<Conv2DNoBias<3, 3, 2, Padding::Same>, Shape<6, 6, 2>>, Ref>("Conv2D without bias", 2);
  test::check_layer<B<Conv2DNoBias<5, 7, 2, Padding::Same>, Shape<8, 8, 3>>, Ref>("Conv2D 7x7/2 stem", 2);
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
  // Inference mode: the moving statistics are constants, so the layer is a per-channel affine map.
  test::check_layer<B<BatchNorm, Shape<3, 2, 4>>, Ref>("BatchNorm inference", 3, 1, false);
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

TEST_CASE("gradient check: ResNet bottleneck blocks, projection and identity shortcuts, BatchNorm in both modes") {
  // In training mode BatchNorm couples every row of a channel, so a finite difference moves every value before a
  // ReLU and crosses its kink somewhere for most entries (measured: the differences only approach the analytic
  // gradient below eps = 1e-4). Training mode is checked with a smooth activation in the same places; ReLU at
  // inference, where the map is piecewise linear with few kinks.
  using Bottleneck = ResidualBlock<Main<Conv2DNoBias<2, 1, 2>, BatchNorm, Tanh, Conv2DNoBias<2, 3, 1, Padding::Same>,
                                        BatchNorm, Tanh, Conv2DNoBias<6, 1>, BatchNorm>,
                                   Shortcut<Conv2DNoBias<6, 1, 2>, BatchNorm>, Tanh>;
  static_assert(std::is_same_v<B<Bottleneck, Shape<5, 5, 3>>::out_shape, Shape<3, 3, 6>>);
  test::check_layer<B<Bottleneck, Shape<5, 5, 3>>, Ref>("bottleneck, projection shortcut", 2, 3);
  using Identity = ResidualBlock<Main<Conv2DNoBias<2, 1>, BatchNorm, Tanh, Conv2DNoBias<2, 3, 1, Padding::Same>,
                                      BatchNorm, Tanh, Conv2DNoBias<4, 1>, BatchNorm>,
                                 Shortcut<>, Tanh>;
  test::check_layer<B<Identity, Shape<4, 4, 4>>, Ref>("bottleneck, identity shortcut", 2, 5);
  using IdentityReLU = ResidualBlock<Main<Conv2DNoBias<2, 1>, BatchNorm, ReLU, Conv2DNoBias<2, 3, 1, Padding::Same>,
                                          BatchNorm, ReLU, Conv2DNoBias<4, 1>, BatchNorm>,
                                     Shortcut<>, ReLU>;
  test::check_layer<B<IdentityReLU, Shape<4, 4, 4>>, Ref>("bottleneck at inference", 2, 5, false);
  using ProjectionReLU = ResidualBlock<Main<Conv2DNoBias<2, 1, 2>, BatchNorm, ReLU, Conv2DNoBias<6, 1>, BatchNorm>,
                                       Shortcut<Conv2DNoBias<6, 1, 2>, BatchNorm>, ReLU>;
  test::check_layer<B<ProjectionReLU, Shape<5, 5, 3>>, Ref>("projection block at inference", 2, 4, false);
}

namespace {
/// Runs bound layer L forward (and backward when `grads`) on backend Bk; returns y, dx, dw, the states after.
template <class L, class Bk>
std::array<std::vector<float>, 4> run_layer(std::size_t n, bool training, std::vector<float> w, std::vector<float> st) {
  auto x = test::random_vector(n * L::in_shape::size, 11), dy = test::random_vector(n * L::out_shape::size, 12);
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), s(L::scratch(n) + 1);
  L::template forward<Bk>(Forward{x.data(), y.data(), n, w.data(), st.data(), s.data(), training, 3});
  L::template backward<Bk>(Backward{x.data(), y.data(), dy.data(), dx.data(), n, w.data(), training ? dw.data() : nullptr,
                                    st.data(), s.data(), nullptr, 0, training});
  return {y, dx, dw, st};
}
void expect_near(const std::string& what, const std::vector<float>& a, const std::vector<float>& b, double tol) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1 + std::fabs(b[i])));
  INFO(what << ": worst relative difference " << worst);
  CHECK(worst <= tol);
}
}  // namespace

TEST_CASE("ConvBN computes what Conv2DNoBias, BatchNorm and the activation compute, in training and inference") {
  using Fused = B<ConvBN<5, 3, 2, Padding::Same, ReLU>, Shape<7, 6, 3>>;
  using Apart = B<Sequential<Conv2DNoBias<5, 3, 2, Padding::Same>, BatchNorm, ReLU>, Shape<7, 6, 3>>;
  static_assert(detail::param_count_of<Fused>() == detail::param_count_of<Apart>());
  static_assert(detail::state_count_of<Fused>() == detail::state_count_of<Apart>());
  static_assert(std::is_same_v<Fused::out_shape, Apart::out_shape>);
  const auto w = test::random_vector(detail::param_count_of<Fused>(), 4, -0.5f, 0.5f);
  auto st = test::random_vector(detail::state_count_of<Fused>(), 5, 0.5f, 1.5f);
  for (bool training : {true, false}) {
    CAPTURE(training);
    const auto f = run_layer<Fused, Ref>(3, training, w, st), a = run_layer<Apart, Ref>(3, training, w, st);
    expect_near("y", f[0], a[0], 1e-5);
    expect_near("dx", f[1], a[1], 1e-5);
    expect_near("dw", f[2], a[2], 1e-5);
    expect_near("moving statistics", f[3], a[3], 1e-6);
  }
  // Linear and Tanh: the training-mode gradient by finite differences (ReLU's kinks are checked through the
  // equality above).
  test::check_layer<B<ConvBN<4, 3, 1, Padding::Same>, Shape<5, 5, 2>>, Ref>("ConvBN linear", 2);
  test::check_layer<B<ConvBN<4, 1, 2, Padding::Valid, Tanh>, Shape<5, 5, 3>>, Ref>("ConvBN 1x1/2 tanh", 3);
  // Inference mode asks for no parameter gradient: a trainable layer differentiated after an inference forward says
  // so.
  using L = B<ConvBN<2, 1>, Shape<2, 2, 2>>;
  std::vector<float> x(8, 1.0f), y(8), dx(8), wl(detail::param_count_of<L>(), 0.5f), dwl(wl.size()), stl(4, 1.0f),
      sl(L::scratch(1) + 1);
  L::forward<Ref>(Forward{x.data(), y.data(), 1, wl.data(), stl.data(), sl.data(), false, 0});
  CHECK_THROWS_AS(L::backward<Ref>(Backward{x.data(), y.data(), y.data(), dx.data(), 1, wl.data(), dwl.data(), stl.data(),
                                            sl.data(), nullptr, 0, false}),
                  std::logic_error);
}

TEST_CASE("Frozen: BatchNorm inside keeps its moving statistics and normalises with them") {
  using Net = B<Sequential<Frozen<Dense<3>, BatchNorm>, Dense<2>>, Shape<4>>;
  const std::size_t n = 5;
  auto x = test::random_vector(n * 4, 1), w = test::random_vector(detail::param_count_of<Net>(), 2);
  std::vector<float> st{0.5f, -0.25f, 0.1f, 2.0f, 0.5f, 1.5f}, y(n * 2), s(Net::scratch(n) + 1);
  const auto before = st;
  Net::forward<Ref>(Forward{x.data(), y.data(), n, w.data(), st.data(), s.data(), true, 7});
  CHECK(st == before);  // a training step leaves a frozen BatchNorm's statistics alone
  // The same as the unfrozen network at inference.
  using Open = B<Sequential<Dense<3>, BatchNorm, Dense<2>>, Shape<4>>;
  std::vector<float> y2(n * 2), s2(Open::scratch(n) + 1), st2 = before;
  Open::forward<Ref>(Forward{x.data(), y2.data(), n, w.data(), st2.data(), s2.data(), false, 7});
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(y2[i]).epsilon(1e-6));
  // And the gradient through the frozen group is that of the fixed (inference) map.
  const auto r = test::random_vector(n * 2, 3);
  auto loss = [&] {
    Net::forward<Ref>(Forward{x.data(), y.data(), n, w.data(), st.data(), s.data(), true, 7});
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += double(y[i]) * r[i];
    return sum;
  };
  loss();
  std::vector<float> dx(x.size()), dw(w.size());
  Net::backward<Ref>(Backward{x.data(), y.data(), r.data(), dx.data(), n, w.data(), dw.data(), st.data(), s.data()});
  test::check_gradient("Frozen BatchNorm d/dx", x, dx, loss);
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
