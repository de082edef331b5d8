// Siamese text models (Embedding + LSTM/GRU): whole-model gradients, padding, frozen and GloVe tables.
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/recurrent.hpp>
#include <siamese/layers/time_pooling.hpp>
#include <siamese/siamese.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "../support/gradcheck.hpp"

using namespace siamese;

namespace {
using TextEncoder = Sequential<Input<6>, Embedding<20, 4>, LSTM<3>>;
using TextModel = Siamese<TextEncoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<1>>>, backend::Reference>;

/// n pairs of 6 token ids in [1, 20), each padded with 0 'pre' or 'post' to a random length >= 2.
PairBatch token_pairs(std::size_t n, std::uint64_t seed) {
  detail::Rng r(seed);
  PairBatch b{Tensor({n, 6}), Tensor({n, 6}), {}};
  for (Tensor* side : {&b.a, &b.b})
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t len = 2 + r.below(5), start = r.below(2) ? 6 - len : 0;
      for (std::size_t t = 0; t < 6; ++t) (*side)[i * 6 + t] = t >= start && t < start + len ? float(1 + r.below(19)) : 0.0f;
    }
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float(i % 2));
  return b;
}

/// The pattern of tests/model/test_siamese.cpp: the model's gradient against central differences of its loss.
/// The table is first redrawn in [-1, 1]: Keras' +-0.05 start gives states near 0, where the
/// cosine feature curves too fast for finite differences.
template <class M>
void check_model_gradient(M& m, const PairBatch& batch) {
  const auto table = test::random_vector(m.parameter_info()[0].size, 77);
  std::copy(table.begin(), table.end(), m.parameters().data() + m.parameter_info()[0].offset);
  SGD still;
  still.learning_rate = 0.0f;
  m.train_step(batch, BinaryCrossEntropy{}, still);
  std::vector<float> w = m.parameters().to_host();
  std::vector<float> g = m.gradients().to_host();
  for (const auto& t : m.parameter_info()) {
    std::vector<float> wt(w.begin() + t.offset, w.begin() + t.offset + t.size);
    std::vector<float> gt(g.begin() + t.offset, g.begin() + t.offset + t.size);
    test::check_gradient(t.name, wt, gt, [&] {
      std::copy(wt.begin(), wt.end(), m.parameters().data() + t.offset);
      return double(m.evaluate(batch, BinaryCrossEntropy{}));
    }, 1e-2, 3e-2, 1e-3, 80);
    std::copy(w.begin() + t.offset, w.begin() + t.offset + t.size, m.parameters().data() + t.offset);
  }
}

Tensor ids(std::vector<float> v) {
  Tensor t({1, v.size()});
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}
}  // namespace

TEST_CASE("gradient check: whole Siamese text model (Embedding, LSTM, head) on padded pairs") {
  TextModel m(3);
  const auto& info = m.parameter_info();
  REQUIRE(info.size() == 6);
  CHECK(info[0].name == "encoder/1_embedding/embeddings");
  CHECK(info[3].name == "encoder/2_lstm/bias");
  // Keras' unit_forget_bias: the forget quarter of the bias starts at 1, the rest at 0.
  for (std::size_t i = 0; i < 12; ++i) CHECK(m.parameters()[info[3].offset + i] == (i >= 3 && i < 6 ? 1.0f : 0.0f));
  check_model_gradient(m, token_pairs(4, 7));
}

TEST_CASE("gradient check: Siamese text model with a GRU, a bidirectional LSTM and time pooling") {
  Siamese<Sequential<Input<6>, Embedding<20, 4>, GRU<3>>, Head<AbsDiff, Product, Classifier<Dense<1>>>,
          backend::Reference>
      g(5);
  check_model_gradient(g, token_pairs(3, 9));
  Siamese<Sequential<Input<6>, Embedding<20, 3>, Bidirectional<LSTM<2, true>>, GlobalMaxPool1D>,
          Head<SqDiff, Cosine, Classifier<Dense<1>>>, backend::Reference>
      b(6);
  check_model_gradient(b, token_pairs(3, 10));
}

TEST_CASE("a padded and an unpadded question get the same embedding ('pre' and 'post')") {
  TextModel padded(11);
  Siamese<Sequential<Input<3>, Embedding<20, 4>, LSTM<3>>, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<1>>>,
          backend::Reference>
      exact(11);
  REQUIRE(exact.parameters().size() == padded.parameters().size());
  const Tensor e = exact.embed(ids({5, 3, 17}));
  const Tensor pre = padded.embed(ids({0, 0, 0, 5, 3, 17})), post = padded.embed(ids({5, 3, 17, 0, 0, 0}));
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(pre[k] == doctest::Approx(e[k]).epsilon(1e-6));
    CHECK(post[k] == doctest::Approx(e[k]).epsilon(1e-6));
  }
  CHECK(padded.embed(ids({5, 3, 17, 0, 0, 9}))[0] != doctest::Approx(e[0]).epsilon(1e-4));
  // Without mask_zero, padding is a token like any other.
  Siamese<Sequential<Input<6>, Embedding<20, 4, true, false>, LSTM<3>>, Head<SqDiff, Classifier<Dense<1>>>,
          backend::Reference>
      plain(11);
  CHECK(plain.embed(ids({0, 0, 0, 5, 3, 17}))[0] != doctest::Approx(plain.embed(ids({5, 3, 17, 0, 0, 0}))[0]).epsilon(1e-4));
}

TEST_CASE("an out-of-vocabulary id stops a training step before any update") {
  TextModel m(1);
  auto b = token_pairs(2, 3);
  b.b[7] = 20.0f;
  Adam opt;
  CHECK_THROWS_WITH_AS(m.train_step(b, BinaryCrossEntropy{}, opt),
                       "Siamese::train_step: input 'b': token id 20.000000 at sample 1, position 1 is not an integer in [0, 20)",
                       ShapeError);
  CHECK(m.step() == 0);
}

TEST_CASE("a frozen embedding table does not change while the LSTM trains") {
  Siamese<Sequential<Input<6>, Embedding<20, 4, false>, LSTM<3>>, Head<SqDiff, Classifier<Dense<1>>>,
          backend::Reference>
      m(2);
  const auto& info = m.parameter_info();
  CHECK_FALSE(info[0].trainable);
  CHECK(info[1].trainable);
  std::vector<float> table(m.parameters().data(), m.parameters().data() + info[0].size);
  const float lstm0 = m.parameters()[info[1].offset];
  Adam opt;
  const auto batch = token_pairs(4, 5);
  for (int i = 0; i < 3; ++i) m.train_step(batch, BinaryCrossEntropy{}, opt);
  for (std::size_t i = 0; i < table.size(); ++i) CHECK(m.parameters()[i] == table[i]);
  CHECK(m.parameters()[info[1].offset] != lstm0);
}

namespace {
/// A batch whose ids are all in [lo, hi).
PairBatch ids_in(std::size_t n, float lo, float hi) {
  PairBatch b{Tensor({n, 6}), Tensor({n, 6}), {}};
  const std::size_t span = std::size_t(hi - lo);
  for (std::size_t i = 0; i < n * 6; ++i) {
    b.a[i] = lo + float(i % span);
    b.b[i] = lo + float((i * 7 + 3) % span);
  }
  for (std::size_t i = 0; i < n; ++i) b.labels.push_back(float(i % 2));
  return b;
}

template <class B, class Opt>
void check_only_touched_rows(Opt opt) {
  Siamese<TextEncoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<1>>>, B> m(6);
  const auto& info = m.parameter_info();
  REQUIRE(info[0].name.find("embeddings") != std::string::npos);
  CHECK(info[0].sparse_row == 4);
  auto row = [&](std::size_t id) {
    const float* p = m.parameters().data() + info[0].offset + id * 4;
    return std::vector<float>(p, p + 4);
  };
  const auto r1 = row(1), r12 = row(12), r19 = row(19);
  m.train_step(ids_in(4, 1, 10), BinaryCrossEntropy{}, opt);  // touches rows 1..9
  const auto r1_after = row(1);
  CHECK(r1_after != r1);
  CHECK(row(12) == r12);
  // Rows 1..9 are absent from the next batches: with momentum they would keep moving; here they stay.
  for (int i = 0; i < 3; ++i) m.train_step(ids_in(4, 10, 19), BinaryCrossEntropy{}, opt);
  CHECK(row(1) == r1_after);
  CHECK(row(12) != r12);
  CHECK(row(19) == r19);  // never seen
}
}  // namespace

TEST_CASE("only the embedding rows present in a batch are updated, with Adam and with SGD momentum") {
  Adam adam;
  adam.weight_decay = 1e-2f;  // decay too touches only present rows
  check_only_touched_rows<backend::Reference>(adam);
  check_only_touched_rows<backend::Cpu>(adam);
  SGD sgd;
  sgd.momentum = 0.9f;
  check_only_touched_rows<backend::Reference>(sgd);
  check_only_touched_rows<backend::Cpu>(sgd);
}

TEST_CASE("Adam with sparse_rows = false updates the whole table, as torch.optim.Adam and Keras' Adam do") {
  // The same steps as a model whose table is an ordinary dense parameter: rows absent from a batch keep
  // moving on their momentum, rows never seen stay (their moments are zero).
  auto run = [](bool sparse_rows) {
    Siamese<TextEncoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<1>>>, backend::Cpu> m(6);
    Adam adam;
    adam.sparse_rows = sparse_rows;
    const auto& info = m.parameter_info();
    m.train_step(ids_in(4, 1, 10), BinaryCrossEntropy{}, adam);
    const std::vector<float> after_first = m.parameters().to_host();
    for (int i = 0; i < 3; ++i) m.train_step(ids_in(4, 10, 19), BinaryCrossEntropy{}, adam);
    const std::vector<float> w = m.parameters().to_host();
    auto row = [&](const std::vector<float>& v, std::size_t id) {
      const float* p = v.data() + info[0].offset + id * 4;
      return std::vector<float>(p, p + 4);
    };
    return std::tuple{row(after_first, 1), row(w, 1), row(w, 19), w};
  };
  const auto [dense_1_first, dense_1, dense_19, dense_w] = run(false);
  CHECK(dense_1 != dense_1_first);  // row 1 was absent from the last three batches, and still moved
  const auto [lazy_1_first, lazy_1, lazy_19, lazy_w] = run(true);
  CHECK(lazy_1 == lazy_1_first);
  CHECK(dense_19 == lazy_19);  // never in a batch: zero moments, no step either way

  // The dense update equals Adam's step on the whole parameter buffer, table included, taken by hand.
  Siamese<TextEncoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<1>>>, backend::Cpu> m(6);
  std::vector<float> w = m.parameters().to_host(), mo(w.size(), 0.0f), v(w.size(), 0.0f);
  const PairBatch batches[] = {ids_in(4, 1, 10), ids_in(4, 10, 19), ids_in(4, 10, 19), ids_in(4, 10, 19)};
  Adam adam;
  adam.sparse_rows = false;
  for (std::size_t k = 0; k < 4; ++k) {
    SGD still;
    still.learning_rate = 0.0f;
    m.parameters().from_host(w);
    m.train_step(batches[k], BinaryCrossEntropy{}, still);
    const std::vector<float> g = m.gradients().to_host();
    backend::Reference::adam_step({.w = w.data(),
                                   .g = g.data(),
                                   .m = mo.data(),
                                   .v = v.data(),
                                   .n = w.size(),
                                   .lr = adam.learning_rate,
                                   .beta1 = adam.beta1,
                                   .beta2 = adam.beta2,
                                   .eps = adam.epsilon,
                                   .step = k + 1,
                                   .weight_decay = 0.0f,
                                   .decoupled = false});
  }
  REQUIRE(dense_w.size() == w.size());
  for (std::size_t i = 0; i < w.size(); ++i) CHECK(dense_w[i] == doctest::Approx(w[i]).epsilon(1e-4));
}

TEST_CASE("load_glove into a model's embedding table; training then learns") {
  TextModel m(4);
  const auto path = (std::filesystem::temp_directory_path() / "siamese_seq_model_glove.txt").string();
  std::ofstream(path) << "apple 1 2 3 4\npear 0.5 0.5 0.5 0.5\n";
  const std::map<std::string, int> index{{"apple", 2}, {"pear", 19}};
  const GloveStats s = load_glove(m, path, index);
  CHECK(s.rows_set == 2);
  CHECK(m.parameters()[2 * 4 + 3] == 4.0f);
  CHECK(m.parameters()[19 * 4] == 0.5f);
  CHECK_THROWS_AS(load_glove(m, path, index, "encoder/2_lstm/kernel"), FileError);  // 4 values, 12 columns
  // The loss on a fixed batch falls under Adam: the layers train end to end.
  const auto batch = token_pairs(8, 21);
  Adam opt;
  opt.learning_rate = 0.02f;
  const float first = m.train_step(batch, BinaryCrossEntropy{}, opt);
  float last = first;
  for (int i = 0; i < 60; ++i) last = m.train_step(batch, BinaryCrossEntropy{}, opt);
  CHECK(last < 0.5f * first);
}
