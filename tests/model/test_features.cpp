// Gradient checks of every pair feature and loss kernel of backend::Reference.
#include <siamese/backend/reference/reference.hpp>

#include "../support/gradcheck.hpp"

using namespace siamese;
using Ref = backend::Reference;

namespace {
constexpr std::size_t N = 3, D = 5;

void check_feature(PairFeature f, std::size_t width, const char* name) {
  auto a = test::random_vector(N * D, 11), b = test::random_vector(N * D, 12), r = test::random_vector(N * width, 13);
  std::vector<float> out(N * width), da(N * D, 0.0f), db(N * D, 0.0f);
  auto loss = [&] {
    Ref::pair_feature_forward(f, a.data(), b.data(), out.data(), width, N, D);
    double s = 0;
    for (std::size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
    return s;
  };
  loss();
  Ref::pair_feature_backward(f, a.data(), b.data(), r.data(), width, da.data(), db.data(), N, D);
  test::check_gradient(std::string(name) + " d/da", a, da, loss);
  test::check_gradient(std::string(name) + " d/db", b, db, loss);
}
}  // namespace

TEST_CASE("pair features: values") {
  std::vector<float> a{1, 2}, b{3, -1}, out(2);
  Ref::pair_feature_forward(PairFeature::SqDiff, a.data(), b.data(), out.data(), 2, 1, 2);
  CHECK(out == std::vector<float>{4, 9});
  Ref::pair_feature_forward(PairFeature::DiffSq, a.data(), b.data(), out.data(), 2, 1, 2);
  CHECK(out == std::vector<float>{-8, 3});
  Ref::pair_feature_forward(PairFeature::AbsDiffSq, a.data(), b.data(), out.data(), 2, 1, 2);
  CHECK(out == std::vector<float>{8, 3});
  Ref::pair_feature_forward(PairFeature::Cosine, a.data(), b.data(), out.data(), 1, 1, 2);
  CHECK(out[0] == doctest::Approx(1.0 / (std::sqrt(5.0) * std::sqrt(10.0))));
  Ref::pair_feature_forward(PairFeature::Euclidean, a.data(), b.data(), out.data(), 1, 1, 2);
  CHECK(out[0] == doctest::Approx(std::sqrt(13.0)));
}

TEST_CASE("gradient check: pair features") {
  check_feature(PairFeature::SqDiff, D, "SqDiff");
  check_feature(PairFeature::DiffSq, D, "DiffSq");
  check_feature(PairFeature::AbsDiff, D, "AbsDiff");
  check_feature(PairFeature::AbsDiffSq, D, "AbsDiffSq");
  check_feature(PairFeature::Product, D, "Product");
  check_feature(PairFeature::Cosine, 1, "Cosine");
  check_feature(PairFeature::Euclidean, 1, "Euclidean");
}

TEST_CASE("binary cross-entropy from logits: values, stability, gradient") {
  std::vector<float> z{0.0f, 2.0f, -3.0f, 80.0f, -80.0f}, t{1, 0, 0, 1, 1}, dz(5);
  const float l = Ref::bce_logits(z.data(), t.data(), dz.data(), 5);
  const double expect = (std::log(2.0) + (2 + std::log1p(std::exp(-2.0))) + std::log1p(std::exp(-3.0)) +
                         std::log1p(std::exp(-80.0)) + 80.0) / 5;
  CHECK(l == doctest::Approx(expect).epsilon(1e-5));
  CHECK(std::isfinite(l));
  auto zz = test::random_vector(6, 3, -4, 4);
  std::vector<float> tt{1, 0, 1, 1, 0, 0}, g(6);
  Ref::bce_logits(zz.data(), tt.data(), g.data(), 6);
  test::check_gradient("bce", zz, g, [&] { return double(Ref::bce_logits(zz.data(), tt.data(), nullptr, 6)); });
}

TEST_CASE("contrastive loss: values and gradient") {
  std::vector<float> a{0, 0}, b{3, 4}, t{1}, da(2), db(2);
  CHECK(Ref::contrastive(a.data(), b.data(), t.data(), da.data(), db.data(), 1, 2, 1.0f) == doctest::Approx(12.5));
  t[0] = 0;  // dissimilar and farther than the margin: no loss
  CHECK(Ref::contrastive(a.data(), b.data(), t.data(), da.data(), db.data(), 1, 2, 1.0f) == doctest::Approx(0.0));
  auto x = test::random_vector(N * D, 21, -0.4f, 0.4f), y = test::random_vector(N * D, 22, -0.4f, 0.4f);
  std::vector<float> lab{1, 0, 0}, gx(N * D), gy(N * D);
  auto f = [&] { return double(Ref::contrastive(x.data(), y.data(), lab.data(), nullptr, nullptr, N, D, 2.0f)); };
  Ref::contrastive(x.data(), y.data(), lab.data(), gx.data(), gy.data(), N, D, 2.0f);
  test::check_gradient("contrastive d/da", x, gx, f);
  test::check_gradient("contrastive d/db", y, gy, f);
}

TEST_CASE("triplet loss: values and gradients for each distance") {
  std::vector<float> a{0, 0}, p{1, 0}, q{0, 2}, ga(2), gp(2), gq(2);
  // d(a,p) = 1, d(a,n) = 4 (squared): max(1 - 4 + 5, 0) = 2
  CHECK(Ref::triplet(a.data(), p.data(), q.data(), ga.data(), gp.data(), gq.data(), 1, 2, 5.0f,
                     Distance::SquaredEuclidean) == doctest::Approx(2.0));
  CHECK(Ref::triplet(a.data(), p.data(), q.data(), ga.data(), gp.data(), gq.data(), 1, 2, 0.5f,
                     Distance::SquaredEuclidean) == doctest::Approx(0.0));
  for (Distance k : {Distance::SquaredEuclidean, Distance::Euclidean, Distance::Cosine}) {
    auto x = test::random_vector(N * D, 31), y = test::random_vector(N * D, 32), z = test::random_vector(N * D, 33);
    std::vector<float> gx(N * D), gy(N * D), gz(N * D);
    const float margin = 10.0f;  // every triplet active: the hinge is smooth there
    auto f = [&] { return double(Ref::triplet(x.data(), y.data(), z.data(), nullptr, nullptr, nullptr, N, D, margin, k)); };
    Ref::triplet(x.data(), y.data(), z.data(), gx.data(), gy.data(), gz.data(), N, D, margin, k);
    test::check_gradient("triplet anchor", x, gx, f);
    test::check_gradient("triplet positive", y, gy, f);
    test::check_gradient("triplet negative", z, gz, f);
  }
}
