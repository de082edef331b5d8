// Pair features as types: gradient checks of every built-in feature and of user-defined ones on
// backend::Reference, their names in model signatures (weight files saved before features were types
// still load), and the loss kernels' gradients.
#include <siamese/backend/reference/reference.hpp>
#include <siamese/siamese.hpp>

#include "../support/gradcheck.hpp"
#include "user_features.hpp"

using namespace siamese;
using Ref = backend::Reference;

namespace {
constexpr std::size_t N = 3, D = 5;

template <class F>
void check_feature() {
  constexpr std::size_t width = F::template width<D>;
  auto a = test::random_vector(N * D, 11), b = test::random_vector(N * D, 12), r = test::random_vector(N * width, 13);
  std::vector<float> out(N * width), da(N * D, 0.0f), db(N * D, 0.0f);
  auto loss = [&] {
    Ref::pair_feature_forward<F>({a.data(), b.data(), out.data(), width, N, D});
    double s = 0;
    for (std::size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
    return s;
  };
  loss();
  Ref::pair_feature_backward<F>({a.data(), b.data(), r.data(), width, da.data(), db.data(), N, D});
  test::check_gradient(std::string(F::name) + " d/da", a, da, loss);
  test::check_gradient(std::string(F::name) + " d/db", b, db, loss);
}

template <class F>
std::vector<float> feature_of(std::vector<float> a, std::vector<float> b) {
  std::vector<float> out(F::template width<2>);
  Ref::pair_feature_forward<F>({a.data(), b.data(), out.data(), out.size(), 1, 2});
  return out;
}
}  // namespace

TEST_CASE("pair features: values") {
  const std::vector<float> a{1, 2}, b{3, -1};
  CHECK(feature_of<SqDiff>(a, b) == std::vector<float>{4, 9});
  CHECK(feature_of<DiffSq>(a, b) == std::vector<float>{-8, 3});
  CHECK(feature_of<AbsDiff>(a, b) == std::vector<float>{2, 3});
  CHECK(feature_of<AbsDiffSq>(a, b) == std::vector<float>{8, 3});
  CHECK(feature_of<Product>(a, b) == std::vector<float>{3, -2});
  CHECK(feature_of<Cosine>(a, b)[0] == doctest::Approx(1.0 / (std::sqrt(5.0) * std::sqrt(10.0))));
  CHECK(feature_of<Euclidean>(a, b)[0] == doctest::Approx(std::sqrt(13.0)));
  CHECK(feature_of<user::SqSum>(a, b) == std::vector<float>{16, 1});
  CHECK(feature_of<user::Manhattan>(a, b) == std::vector<float>{5});
  static_assert(Cosine::width<128> == 1 && Euclidean::width<128> == 1 && user::Manhattan::width<128> == 1);
  static_assert(SqDiff::width<128> == 128 && user::SqSum::width<128> == 128);
}

TEST_CASE("gradient check: pair features, built-in and user-defined") {
  check_feature<SqDiff>();
  check_feature<DiffSq>();
  check_feature<AbsDiff>();
  check_feature<AbsDiffSq>();
  check_feature<Product>();
  check_feature<Cosine>();
  check_feature<Euclidean>();
  check_feature<user::SqSum>();
  check_feature<user::Manhattan>();
}

TEST_CASE("a type that is not a pair feature is refused by Head, a user's feature accepted") {
  struct NotAFeature {};
  static_assert(!PairFeatureType<NotAFeature> && !PairFeatureType<int>);
  static_assert(PairFeatureType<user::SqSum> && PairFeatureType<user::Manhattan>);
  using H = Head<user::SqSum, Cosine, user::Manhattan, Classifier<Dense<1>>>::bind<4>;
  static_assert(H::width == 4 + 1 + 1);
  CHECK(H::describe() == "Head[SqSum,Cosine,Manhattan]Sequential[Dense<1,linear>(1)]");
}

namespace {
// The model whose weights tests/model/data/all_features_v1.bin holds: saved (seed 7, Reference) by the
// library when pair features were still an enum, before they became types.
using AllFeatures =
    Siamese<Sequential<Input<4>, Dense<3, Tanh>>,
            Head<SqDiff, DiffSq, AbsDiff, AbsDiffSq, Product, Cosine, Euclidean, Classifier<Dense<2, Tanh>, Dense<1>>>,
            backend::Reference>;
}  // namespace

TEST_CASE("feature names in model signatures are unchanged: a weight file saved before still loads") {
  CHECK(AllFeatures::signature() ==
        "Siamese[Sequential[Input<4>(4)>Dense<3,tanh>(3)]|Head[SqDiff,DiffSq,AbsDiff,AbsDiffSq,Product,Cosine,"
        "Euclidean]Sequential[Dense<2,tanh>(2)>Dense<1,linear>(1)]]");
  AllFeatures m(1);  // other weights than the file's
  load_weights(m, std::string(MODEL_DATA) + "/all_features_v1.bin");
  Tensor a({2, 4}), b({2, 4});
  for (std::size_t i = 0; i < 8; ++i) {
    a[i] = 0.1f * float(i) - 0.3f;
    b[i] = 0.05f * float(i * i % 7) - 0.2f;
  }
  const Tensor p = m.predict(a, b);
  // The probabilities the saving program printed for these pairs.
  CHECK(p[0] == doctest::Approx(0.710748672).epsilon(1e-6));
  CHECK(p[1] == doctest::Approx(0.562111199).epsilon(1e-6));
}

TEST_CASE("binary cross-entropy from logits: values, stability, gradient") {
  std::vector<float> z{0.0f, 2.0f, -3.0f, 80.0f, -80.0f}, t{1, 0, 0, 1, 1}, dz(5);
  const float l = Ref::bce_logits({z.data(), t.data(), dz.data(), 5});
  const double expect = (std::log(2.0) + (2 + std::log1p(std::exp(-2.0))) + std::log1p(std::exp(-3.0)) +
                         std::log1p(std::exp(-80.0)) + 80.0) / 5;
  CHECK(l == doctest::Approx(expect).epsilon(1e-5));
  CHECK(std::isfinite(l));
  auto zz = test::random_vector(6, 3, -4, 4);
  std::vector<float> tt{1, 0, 1, 1, 0, 0}, g(6);
  Ref::bce_logits({zz.data(), tt.data(), g.data(), 6});
  test::check_gradient("bce", zz, g, [&] { return double(Ref::bce_logits({zz.data(), tt.data(), nullptr, 6})); });
}
TEST_CASE("contrastive loss: values and gradient") {
  std::vector<float> a{0, 0}, b{3, 4}, t{1}, da(2), db(2);
  CHECK(Ref::contrastive({a.data(), b.data(), t.data(), da.data(), db.data(), 1, 2, 1.0f}) == doctest::Approx(12.5));
  t[0] = 0;  // dissimilar and farther than the margin: no loss
  CHECK(Ref::contrastive({a.data(), b.data(), t.data(), da.data(), db.data(), 1, 2, 1.0f}) == doctest::Approx(0.0));
  auto x = test::random_vector(N * D, 21, -0.4f, 0.4f), y = test::random_vector(N * D, 22, -0.4f, 0.4f);
  std::vector<float> lab{1, 0, 0}, gx(N * D), gy(N * D);
  auto f = [&] { return double(Ref::contrastive({x.data(), y.data(), lab.data(), nullptr, nullptr, N, D, 2.0f})); };
  Ref::contrastive({x.data(), y.data(), lab.data(), gx.data(), gy.data(), N, D, 2.0f});
  test::check_gradient("contrastive d/da", x, gx, f);
  test::check_gradient("contrastive d/db", y, gy, f);
}

TEST_CASE("triplet loss: values and gradients for each distance") {
  std::vector<float> a{0, 0}, p{1, 0}, q{0, 2}, ga(2), gp(2), gq(2);
  // d(a,p) = 1, d(a,n) = 4 (squared): max(1 - 4 + 5, 0) = 2
  CHECK(Ref::triplet({a.data(), p.data(), q.data(), ga.data(), gp.data(), gq.data(), 1, 2, 5.0f,
                     Distance::SquaredEuclidean}) == doctest::Approx(2.0));
  CHECK(Ref::triplet({a.data(), p.data(), q.data(), ga.data(), gp.data(), gq.data(), 1, 2, 0.5f,
                     Distance::SquaredEuclidean}) == doctest::Approx(0.0));
  for (Distance k : {Distance::SquaredEuclidean, Distance::Euclidean, Distance::Cosine}) {
    auto x = test::random_vector(N * D, 31), y = test::random_vector(N * D, 32), z = test::random_vector(N * D, 33);
    std::vector<float> gx(N * D), gy(N * D), gz(N * D);
    const float margin = 10.0f;  // every triplet active: the hinge is smooth there
    auto f = [&] {
      return double(Ref::triplet({x.data(), y.data(), z.data(), nullptr, nullptr, nullptr, N, D, margin, k}));
    };
    Ref::triplet({x.data(), y.data(), z.data(), gx.data(), gy.data(), gz.data(), N, D, margin, k});
    test::check_gradient("triplet anchor", x, gx, f);
    test::check_gradient("triplet positive", y, gy, f);
    test::check_gradient("triplet negative", z, gz, f);
  }
}
