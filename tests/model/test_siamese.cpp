// Siamese and triplet models: compile-time facts, gradients of the whole model, run-time shape errors.
#include <siamese/siamese.hpp>

#include <filesystem>

#include "../support/gradcheck.hpp"
#include "user_features.hpp"

using namespace siamese;

using Encoder = Sequential<Input<28, 28, 1>, Conv2D<8, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<16>>;
using Model = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine>>;

static_assert(Model::embedding_width == 16);
static_assert(Model::encoder::param_count == (3 * 3 * 1 * 8 + 8) + (13 * 13 * 8 * 16 + 16));
static_assert(Model::head::width == 16 + 16 + 1);
static_assert(Model::param_count == Model::encoder::param_count + (33 * 100 + 100) + (100 + 1));
static_assert(std::is_same_v<Model::backend_type, backend::Cpu>);

namespace {
// Small and smooth enough for finite differences through the whole model.
using Tiny = Sequential<Input<5, 5, 2>, Conv2D<3, 3, 1, Padding::Same, Tanh>, AvgPool2D<2>, Flatten, Dense<4, Tanh>>;

template <class M>
PairBatch random_pairs(std::size_t n, std::uint64_t seed) {
  PairBatch b;
  std::vector<std::size_t> shape{n};
  for (auto d : M::input_shape::dims) shape.push_back(d);
  b.a = Tensor(shape);
  b.b = Tensor(shape);
  auto va = test::random_vector(b.a.size(), seed), vb = test::random_vector(b.b.size(), seed + 1);
  std::copy(va.begin(), va.end(), b.a.begin());
  std::copy(vb.begin(), vb.end(), b.b.begin());
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float(i % 2));
  return b;
}

/// Compares the model's gradient (an SGD step with learning rate 0 leaves it in gradients()) with
/// central differences of the loss over every parameter tensor.
template <class M, class Batch, class Loss>
void check_model_gradient(M& m, const Batch& batch, const Loss& loss) {
  SGD still;
  still.learning_rate = 0.0f;
  m.train_step(batch, loss, still);
  std::vector<float> w = m.parameters().to_host();
  std::vector<float> g = m.gradients().to_host();
  for (const auto& t : m.parameter_info()) {
    std::vector<float> wt(w.begin() + t.offset, w.begin() + t.offset + t.size);
    std::vector<float> gt(g.begin() + t.offset, g.begin() + t.offset + t.size);
    test::check_gradient(t.name, wt, gt, [&] {
      std::copy(wt.begin(), wt.end(), m.parameters().data() + t.offset);
      return double(m.evaluate(batch, loss));
    }, 1e-2, 3e-2, 1e-3, 40);
    std::copy(w.begin() + t.offset, w.begin() + t.offset + t.size, m.parameters().data() + t.offset);
  }
}
}  // namespace

TEST_CASE("gradient check: whole Siamese model with binary cross-entropy") {
  Siamese<Tiny, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<6, Tanh>, Dense<1>>>, backend::Reference> m(3);
  check_model_gradient(m, random_pairs<decltype(m)>(4, 7), BinaryCrossEntropy{});
}

TEST_CASE("gradient check: whole Siamese model with the other features and contrastive loss") {
  Siamese<Tiny, Head<AbsDiff, Product, Euclidean, Classifier<Dense<1>>>, backend::Reference> m(4);
  check_model_gradient(m, random_pairs<decltype(m)>(3, 9), BinaryCrossEntropy{});
  check_model_gradient(m, random_pairs<decltype(m)>(4, 5), Contrastive{1.5f});
}

TEST_CASE("a user-defined pair feature: gradient-checked and trained in a Siamese model, same on Cpu") {
  using UserHead = Head<user::SqSum, user::Manhattan, Cosine, Classifier<Dense<5, Tanh>, Dense<1>>>;
  Siamese<Tiny, UserHead, backend::Reference> ref(6);
  static_assert(decltype(ref)::head::width == 4 + 1 + 1);
  check_model_gradient(ref, random_pairs<decltype(ref)>(4, 3), BinaryCrossEntropy{});

  // Trained on the fast backend: the loss falls, and Cpu's vectorised form of the user's feature gives
  // Reference's predictions.
  Siamese<Tiny, UserHead> cpu(6);
  const auto b = random_pairs<decltype(cpu)>(8, 19);
  const Tensor pc = cpu.predict(b.a, b.b), pr = Siamese<Tiny, UserHead, backend::Reference>(6).predict(b.a, b.b);
  for (std::size_t i = 0; i < 8; ++i) CHECK(pc[i] == doctest::Approx(pr[i]).epsilon(1e-5));
  Adam opt;
  opt.learning_rate = 1e-2f;
  const float first = cpu.train_step(b, BinaryCrossEntropy{}, opt);
  float last = first;
  for (int i = 0; i < 40; ++i) last = cpu.train_step(b, BinaryCrossEntropy{}, opt);
  CHECK(last < 0.5f * first);
}

TEST_CASE("gradient check: triplet model") {
  Triplet<Tiny, backend::Reference> m(5);
  TripletBatch b;
  auto p = random_pairs<decltype(m)>(3, 11), q = random_pairs<decltype(m)>(3, 13);
  b.anchor = p.a;
  b.positive = p.b;
  b.negative = q.a;
  check_model_gradient(m, b, TripletLoss{5.0f, Distance::SquaredEuclidean});
  check_model_gradient(m, b, TripletLoss{2.0f, Distance::Cosine});
}

TEST_CASE("shared weights: swapping the two inputs of a symmetric head gives the same probability") {
  Siamese<Tiny, Head<SqDiff, AbsDiffSq, Cosine>> m(2);
  auto b = random_pairs<decltype(m)>(5, 21);
  const Tensor p1 = m.predict(b.a, b.b), p2 = m.predict(b.b, b.a);
  for (std::size_t i = 0; i < 5; ++i) CHECK(p1[i] == doctest::Approx(p2[i]).epsilon(1e-5));
  const Tensor p3 = m.predict_embeddings(m.embed(b.a), m.embed(b.b));  // the head alone on stored embeddings
  for (std::size_t i = 0; i < 5; ++i) CHECK(p3[i] == doctest::Approx(p1[i]).epsilon(1e-6));
}

TEST_CASE("predict_embeddings scores many pairs with the head's workspace alone") {
  // 400000 pairs: an encoder workspace for 800000 images of 28x28 would take tens of GB; the head needs
  // a few MB. Pairs are scored like the same pairs through predict().
  Model m(3);
  const std::size_t n = 400000;
  const auto small = random_pairs<Model>(3, 5);
  const Tensor ea = m.embed(small.a), eb = m.embed(small.b), direct = m.predict(small.a, small.b);
  Tensor a({n, Model::embedding_width}), b({n, Model::embedding_width});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < Model::embedding_width; ++k) {
      a[i * Model::embedding_width + k] = ea[(i % 3) * Model::embedding_width + k];
      b[i * Model::embedding_width + k] = eb[(i % 3) * Model::embedding_width + k];
    }
  const Tensor p = m.predict_embeddings(a, b);
  REQUIRE(p.size() == n);
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{2}, n - 1})
    CHECK(p[i] == doctest::Approx(direct[i % 3]).epsilon(1e-5));
}

TEST_CASE("frozen layers get no gradient and do not change") {
  using Enc = Sequential<Input<5, 5, 2>, Frozen<Conv2D<3, 3, 1, Padding::Same, Tanh>>, Flatten, Dense<4, Tanh>>;
  Siamese<Enc, Head<SqDiff, Classifier<Dense<1>>>, backend::Reference> m(1);
  static_assert(!decltype(m)::encoder::layer<1>::has_trainable_params);
  const auto& info = m.parameter_info();
  REQUIRE(info[0].name == "encoder/1_conv2d/kernel");  // Frozen renames nothing
  CHECK_FALSE(info[0].trainable);
  CHECK(info[2].trainable);
  const float* p = m.parameters().data();
  const std::vector<float> before(p, p + info[1].offset + info[1].size);
  const std::vector<float> dense_before(p + info[2].offset, p + info[2].offset + info[2].size);
  Adam opt;
  auto batch = random_pairs<decltype(m)>(4, 3);
  for (int i = 0; i < 3; ++i) {
    m.train_step(batch, BinaryCrossEntropy{}, opt);
    const float* g = m.gradients().data();
    for (std::size_t k = 0; k < before.size(); ++k) CHECK(g[k] == 0.0f);
  }
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(p[i] == before[i]);
  std::size_t moved = 0;  // the trainable Dense kernel after them did learn
  for (std::size_t i = 0; i < dense_before.size(); ++i) moved += p[info[2].offset + i] != dense_before[i];
  CHECK(moved == dense_before.size());
}

TEST_CASE("the user model of the README trains, saves and loads from the umbrella header alone") {
  Model m(11);
  PairBatch b = random_pairs<Model>(6, 17);
  Adam opt;
  const float first = m.train_step(b, BinaryCrossEntropy{}, opt);
  float last = first;
  for (int i = 0; i < 20; ++i) last = m.train_step(b, BinaryCrossEntropy{}, opt);
  CHECK(last < 0.5f * first);
  const auto path = std::filesystem::temp_directory_path() / "siamese_user_model.bin";
  save_weights(m, path);
  Model again(12);
  load_weights(again, path);
  const Tensor p = m.predict(b.a, b.b), q = again.predict(b.a, b.b);
  for (std::size_t i = 0; i < 6; ++i) CHECK(p[i] == q[i]);
}

TEST_CASE("a batch of the wrong shape is refused with a message that says what and where") {
  Model m;
  PairBatch b;
  b.a = Tensor({4, 28, 28});
  b.b = Tensor({4, 28, 28, 1});
  b.labels = {0, 1, 0, 1};
  Adam opt;
  CHECK_THROWS_WITH_AS(m.train_step(b, BinaryCrossEntropy{}, opt),
                       "Siamese::train_step: input 'a' has shape (4, 28, 28), but the model expects (batch, 28, 28, 1) "
                       "with batch > 0",
                       ShapeError);
  b.a = Tensor({3, 28, 28, 1});
  CHECK_THROWS_WITH_AS(m.train_step(b, BinaryCrossEntropy{}, opt),
                       doctest::Contains("inputs 'a' and 'b' hold 3 and 4 samples"), ShapeError);
  b.a = Tensor({4, 28, 28, 1});
  b.labels = {1};
  CHECK_THROWS_WITH_AS(m.train_step(b, BinaryCrossEntropy{}, opt), doctest::Contains("4 pairs but 1 labels"),
                       ShapeError);
}

TEST_CASE("a NaN stops training with the step and the tensor named, before any update") {
  Siamese<Tiny, Head<SqDiff, Classifier<Dense<1>>>> m;
  auto b = random_pairs<decltype(m)>(2, 1);
  b.a[3] = std::numeric_limits<float>::quiet_NaN();
  Adam opt;
  CHECK_THROWS_WITH_AS(m.train_step(b, BinaryCrossEntropy{}, opt), doctest::Contains("the loss is NaN at step 1"),
                       NumericError);
  // The ReLU of the default classifier maps NaN to 0: the loss stays finite, the gradient does not.
  Siamese<Tiny, Head<SqDiff>> r;
  const float w0 = r.parameters()[0];
  CHECK_THROWS_WITH_AS(r.train_step(b, BinaryCrossEntropy{}, opt),
                       "Siamese::train_step: the gradient of 'encoder/1_conv2d/kernel' is not finite at step 1",
                       NumericError);
  CHECK(r.parameters()[0] == w0);
  CHECK(r.step() == 0);
}
