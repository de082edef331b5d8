// xtensor at the API: views without copies, expressions into Tensors, models fed from xtensor containers and
// expressions (read in place when contiguous row-major floats, evaluated once otherwise), xtensor results, loaders.
#include <siamese/data/idx_xtensor.hpp>
#include <siamese/data/images_xtensor.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/optim/optimizers.hpp>
#include <siamese/xtensor.hpp>

#include <doctest/doctest.h>
#include <zlib.h>

#include <xtensor/xmanipulation.hpp>
#include <xtensor/xrandom.hpp>
#include <xtensor/xvectorize.hpp>
#include <xtensor/xview.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace siamese;

namespace {
using Enc = Sequential<Input<6, 6, 1>, Flatten, Dense<4>>;

/// Cpu, except that it records the host memory every upload reads from: what the model reads its inputs from.
struct Recording : backend::Cpu {
  static constexpr const char* name = "Recording";
  static constexpr std::array<std::string_view, 1> reference_fallbacks{"to_host"};
  static inline std::vector<const float*> sources;
  static void to_device(float* dst, const float* host, std::size_t n) {
    sources.push_back(host);
    std::memcpy(dst, host, n * sizeof(float));
  }
};
static_assert(Backend<Recording>);
// Every pair model of this file records its uploads (one model type: the file compiles faster).
using PairModel = Siamese<Enc, Head<SqDiff, Cosine>, Recording>;

bool recorded(const float* p) {
  return std::find(Recording::sources.begin(), Recording::sources.end(), p) != Recording::sources.end();
}

xt::xtensor<float, 4> random_batch(std::size_t n, unsigned seed) {
  xt::random::seed(seed);
  return xt::random::rand<float>({n, std::size_t{6}, std::size_t{6}, std::size_t{1}});
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}
template <class M>
bool same_parameters(const M& a, const M& b) {
  const auto pa = a.parameters().to_host(), pb = b.parameters().to_host();
  return pa == pb;
}

// A fresh directory per test case, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("siamese_test_xtensor_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};
}  // namespace

TEST_CASE("a Tensor viewed as xtensor shares its memory") {
  Tensor t({2, 3});
  auto v = as_xtensor(t);
  v(1, 2) = 5.0f;
  CHECK(t[5] == 5.0f);
  CHECK(v.shape()[0] == 2);
  t[0] = -1.0f;
  CHECK(v(0, 0) == -1.0f);
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
  const xt::xtensor<double, 2> d = {{1.5, 2.5}, {3.5, 4.5}};
  const Tensor td = to_tensor(xt::transpose(d));
  CHECK(std::vector<float>(td.begin(), td.end()) == std::vector<float>{1.5f, 3.5f, 2.5f, 4.5f});
}

TEST_CASE("predict, predict_embeddings and embed take xtensor and give the Tensor path's results") {
  const xt::xtensor<float, 4> xa = random_batch(5, 3), xb = random_batch(5, 4);
  const Tensor ta = to_tensor(xa), tb = to_tensor(xb);
  PairModel m(2);
  const Tensor p = m.predict(ta, tb);
  CHECK(same(m.predict(xa, xb), p));
  CHECK(same(m.predict(xa, tb), p));  // mixed: one Tensor, one xtensor
  const xt::xarray<float> dyn = xb;   // dynamic rank
  CHECK(same(m.predict(xa, dyn), p));
  CHECK(same(m.predict(xa, xt::view(xb, xt::all())), p));

  const xt::xtensor<float, 1> xp = xt_predict(m, xa, xb);
  CHECK(xp.shape()[0] == 5);
  CHECK(std::equal(p.begin(), p.end(), xp.begin()));

  const Tensor e = m.embed(ta);
  CHECK(same(m.embed(xa), e));
  const xt::xtensor<float, 2> xe = xt_embed(m, xa);
  CHECK(xe.shape()[0] == 5);
  CHECK(xe.shape()[1] == PairModel::embedding_width);
  CHECK(std::equal(e.begin(), e.end(), xe.begin()));

  // The head alone on xtensor embeddings, and on an expression of them (pairs in reverse order).
  const xt::xtensor<float, 2> xe2 = xt_embed(m, xb);
  const xt::xtensor<float, 1> ph = xt_predict_embeddings(m, xe, xe2);
  for (std::size_t i = 0; i < 5; ++i) CHECK(ph(i) == doctest::Approx(p[i]).epsilon(1e-5));
  const Tensor flipped = m.predict_embeddings(xt::flip(xe, 0), xt::flip(xe2, 0));
  for (std::size_t i = 0; i < 5; ++i) CHECK(flipped[i] == ph(4 - i));

  Triplet<Enc> t(3);
  CHECK(same(t.embed(xa), t.embed(ta)));
}

TEST_CASE("train_step and evaluate on xtensor batches match the Tensor batches step for step") {
  const xt::xtensor<float, 4> xa = random_batch(6, 5), xb = random_batch(6, 6), xc = random_batch(6, 7);
  const std::vector<float> pair_labels{1, 0, 1, 1, 0, 0};
  SUBCASE("Siamese, PairBatchOf<xt::xtensor<float, 4>>") {
    PairModel m1(9), m2(9);
    const PairBatch tb{to_tensor(xa), to_tensor(xb), pair_labels};
    const PairBatchOf<xt::xtensor<float, 4>> xbatch{xa, xb, pair_labels};
    // labels as an xtensor too, and the inputs by reference (nothing copied into the batch)
    const PairBatchOf<const xt::xtensor<float, 4>&, const xt::xtensor<float, 4>&, xt::xtensor<float, 1>> rbatch{
        xa, xb, xt::adapt(pair_labels, {std::size_t{6}})};
    Adam adam;
    for (int s = 0; s < 3; ++s) {
      const float l1 = m1.train_step(tb, BinaryCrossEntropy{}, adam);
      const float l2 = s == 1 ? m2.train_step(rbatch, BinaryCrossEntropy{}, adam)
                              : m2.train_step(xbatch, BinaryCrossEntropy{}, adam);
      CHECK(l1 == l2);
    }
    CHECK(same_parameters(m1, m2));
    CHECK(m1.evaluate(tb, Contrastive{}) == m2.evaluate(xbatch, Contrastive{}));
  }
  SUBCASE("Triplet, TripletBatchOf") {
    Triplet<Enc> m1(4), m2(4);
    const TripletBatch tb{to_tensor(xa), to_tensor(xb), to_tensor(xc)};
    const TripletBatchOf<xt::xtensor<float, 4>> xbatch{xa, xb, xc};
    SGD sgd;
    for (int s = 0; s < 2; ++s)
      CHECK(m1.train_step(tb, TripletLoss{}, sgd) == m2.train_step(xbatch, TripletLoss{}, sgd));
    CHECK(same_parameters(m1, m2));
    CHECK(m1.evaluate(tb, TripletLoss{}) == m2.evaluate(xbatch, TripletLoss{}));
  }
  SUBCASE("Embedder, LabeledBatchOf with xtensor labels") {
    Embedder<Enc> m1(4), m2(4);
    const std::vector<float> labels{0, 0, 1, 1, 2, 2};
    const LabeledBatch tb{to_tensor(xa), labels};
    const LabeledBatchOf<xt::xtensor<float, 4>, xt::xtensor<float, 1>> xbatch{xa, xt::adapt(labels, {std::size_t{6}})};
    Adam adam;
    for (int s = 0; s < 2; ++s) CHECK(m1.train_step(tb, BatchHard{}, adam) == m2.train_step(xbatch, BatchHard{}, adam));
    CHECK(same_parameters(m1, m2));
    CHECK(m1.evaluate(tb, BatchAll{}) == m2.evaluate(xbatch, BatchAll{}));
  }
}

TEST_CASE("contiguous row-major float xtensor data is read in place, not copied") {
  const xt::xtensor<float, 4> xa = random_batch(4, 8), xb = random_batch(4, 9);
  PairModel m(2);

  Recording::sources.clear();
  (void)m.predict(xa, xb);
  CHECK(recorded(xa.data()));  // the upload read the caller's buffers themselves
  CHECK(recorded(xb.data()));
  CHECK(Recording::sources.size() == 2);

  // A row range of a larger batch, and a rank-3 batch given its channel axis: views of the same memory.
  const xt::xtensor<float, 4> big = random_batch(10, 10);
  const xt::xtensor<float, 3> r3 = xt::view(xa, xt::all(), xt::all(), xt::all(), 0);
  Recording::sources.clear();
  (void)m.predict(xt::view(big, xt::range(3, 7)), xt::expand_dims(r3, 3));
  CHECK(recorded(big.data() + 3 * 36));
  CHECK(recorded(r3.data()));

  // The same through a batch struct holding references, and through embed.
  Recording::sources.clear();
  Adam adam;
  const PairBatchOf<const xt::xtensor<float, 4>&> batch{xa, xb, {1, 0, 1, 0}};
  (void)m.train_step(batch, BinaryCrossEntropy{}, adam);
  CHECK(recorded(xa.data()));
  CHECK(recorded(xb.data()));
  Recording::sources.clear();
  (void)m.embed(xa);
  CHECK(recorded(xa.data()));
  // Row ranges of one tensor as a batch of views.
  const auto va = xt::view(big, xt::range(0, 4)), vb = xt::view(big, xt::range(4, 8));
  Recording::sources.clear();
  (void)m.train_step(PairBatchOf<decltype(va)>{va, vb, {1, 0, 1, 0}}, BinaryCrossEntropy{}, adam);
  CHECK(recorded(big.data()));
  CHECK(recorded(big.data() + 4 * 36));

  // A container with rows and columns swapped, transposed back, is not row-major in memory: the model reads an
  // evaluated copy, not the caller's memory. (With one channel, NCHW to NHWC is no transposition in memory: a view.)
  const xt::xtensor<float, 4> swapped = xt::transpose(xa, {0, 2, 1, 3});
  Recording::sources.clear();
  const Tensor pt = m.predict(xt::transpose(swapped, {0, 2, 1, 3}), xb);
  CHECK_FALSE(recorded(swapped.data()));
  CHECK(recorded(xb.data()));
  CHECK(same(pt, m.predict(xa, xb)));
  const xt::xtensor<float, 4> nchw = xt::transpose(xa, {0, 3, 1, 2});
  Recording::sources.clear();
  (void)m.predict(xt::transpose(nchw, {0, 2, 3, 1}), xb);
  CHECK(recorded(nchw.data()));
}

TEST_CASE("a TensorView over the caller's own memory is a model input, without xtensor") {
  PairModel m(2);
  const xt::xtensor<float, 4> xa = random_batch(3, 21);
  const std::vector<float> raw(xa.begin(), xa.end());
  const std::array<std::size_t, 4> shape{3, 6, 6, 1};
  Recording::sources.clear();
  const Tensor e = m.embed(TensorView(raw.data(), shape));
  CHECK(recorded(raw.data()));
  CHECK(same(e, m.embed(to_tensor(xa))));
  const std::array<std::size_t, 9> deep{};
  CHECK_THROWS_WITH_AS(
      TensorView(raw.data(), deep),
      "TensorView: an input of rank 9 (0, 0, 0, 0, 0, 0, 0, 0, 0); the library takes at most 8 extents", ShapeError);
}

TEST_CASE("an expression that is not row-major float data is evaluated exactly once") {
  const xt::xtensor<float, 4> xa = random_batch(4, 11), xb = random_batch(4, 12);
  std::size_t calls = 0;
  auto counted = xt::vectorize([&calls](float v) {
    ++calls;
    return v;
  });
  PairModel m(5);
  const Tensor p = m.predict(xa, xb);

  CHECK(same(m.predict(counted(xa), xb), p));
  CHECK(calls == xa.size());

  calls = 0;  // through a transposed view (rows and columns swapped back)
  const xt::xtensor<float, 4> swapped = xt::transpose(xa, {0, 2, 1, 3});
  CHECK(same(m.predict(counted(xt::transpose(swapped, {0, 2, 1, 3})), xb), p));
  CHECK(calls == xa.size());

  calls = 0;  // a + b, and doubles
  const xt::xtensor<float, 4> half = xa * 0.5f;
  const xt::xtensor<double, 4> dhalf = xt::cast<double>(half);
  CHECK(same(m.embed(counted(half + half)), m.embed(xa)));
  CHECK(calls == xa.size());
  CHECK(same(m.embed(dhalf + dhalf), m.embed(xa)));

  calls = 0;  // once per training step, though the step reads the batch through a retrying wrapper
  PairModel m1(5), m2(5);
  Adam adam;
  const PairBatch tb{to_tensor(xa), to_tensor(xb), {1, 0, 1, 0}};
  const auto lazy = counted(xa);
  const PairBatchOf<decltype(lazy), xt::xtensor<float, 4>> eb{lazy, xb, {1, 0, 1, 0}};
  CHECK(m1.train_step(tb, BinaryCrossEntropy{}, adam) == m2.train_step(eb, BinaryCrossEntropy{}, adam));
  CHECK(calls == xa.size());
}

TEST_CASE("wrong xtensor shapes give the usual ShapeError naming the expected and the received shape") {
  PairModel m(1);
  const xt::xtensor<float, 4> good = random_batch(3, 13);
  const xt::xtensor<float, 4> wide = xt::zeros<float>({3, 6, 7, 1});
  CHECK_THROWS_WITH_AS(m.predict(good, wide),
                       "Siamese::predict: input 'b' has shape (3, 6, 7, 1), but the model expects (batch, 6, 6, 1) "
                       "with batch > 0",
                       ShapeError);
  const xt::xtensor<float, 3> flat = xt::zeros<float>({3, 6, 6});
  CHECK_THROWS_WITH_AS(m.embed(flat),
                       "Siamese::embed: input 'x' has shape (3, 6, 6), but the model expects (batch, 6, 6, 1) with "
                       "batch > 0",
                       ShapeError);
  // an evaluated expression reports its own shape too
  CHECK_THROWS_WITH_AS(m.embed(xt::transpose(wide, {0, 2, 1, 3})),
                       "Siamese::embed: input 'x' has shape (3, 7, 6, 1), but the model expects (batch, 6, 6, 1) with "
                       "batch > 0",
                       ShapeError);
  CHECK_THROWS_WITH_AS(m.predict(good, xt::view(good, xt::range(0, 2))),
                       "Siamese::predict: inputs 'a' and 'b' hold 3 and 2 samples; a pair batch needs the same number "
                       "on both sides",
                       ShapeError);
  Adam adam;
  const PairBatchOf<xt::xtensor<float, 4>, xt::xtensor<float, 4>, xt::xtensor<float, 1>> short_labels{
      good, good, xt::xtensor<float, 1>({1.0f, 0.0f})};
  CHECK_THROWS_WITH_AS(m.train_step(short_labels, BinaryCrossEntropy{}, adam),
                       "Siamese::train_step: the batch holds 3 pairs but 2 labels", ShapeError);
  Triplet<Enc> t(1);
  const TripletBatchOf<xt::xtensor<float, 4>> uneven{good, good, random_batch(2, 1)};
  CHECK_THROWS_WITH_AS(t.train_step(uneven, TripletLoss{}, adam),
                       "Triplet::train_step: the anchor holds 3 samples but the negative 2; they must hold the same "
                       "number",
                       ShapeError);
  CHECK_THROWS_AS(m.embed(xt::xarray<float>::from_shape({1, 1, 1, 1, 1, 1, 1, 1, 1})), ShapeError);  // rank 9
  CHECK_THROWS_WITH_AS(to_xtensor<2>(Tensor({3})),
                       "to_xtensor: a result of shape (3) cannot become an xt::xtensor "
                       "of rank 2",
                       ShapeError);
}

TEST_CASE("the IDX and image loaders return xtensor") {
  TempDir dir;
  const std::vector<unsigned char> pixels{0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6};  // 2 images of 2 x 3
  std::vector<unsigned char> file{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
  file.insert(file.end(), pixels.begin(), pixels.end());
  {
    gzFile f = gzopen((dir.path / "img.gz").c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, file.data(), static_cast<unsigned>(file.size())) > 0);
    REQUIRE(gzclose(f) == Z_OK);
    std::ofstream l(dir.path / "lab", std::ios::binary);
    const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 9};
    l.write(reinterpret_cast<const char*>(labels), sizeof labels);
  }
  const xt::xtensor<float, 4> x = xt_load_idx_images(dir.path / "img.gz");
  CHECK(x.shape() == std::array<std::size_t, 4>{2, 2, 3, 1});
  const ImageSet set = load_idx_images(dir.path / "img.gz");
  CHECK(std::equal(set.pixels.begin(), set.pixels.end(), x.begin()));
  CHECK(x(0, 1, 2, 0) == 1.0f);
  const auto v = as_xtensor(set);
  CHECK(v.shape() == x.shape());
  CHECK(v.data() == set.pixels.data());
  const xt::xtensor<std::uint8_t, 1> l = xt_load_idx_labels(dir.path / "lab");
  CHECK(l.size() == 2);
  CHECK(l(1) == 9);
  CHECK_THROWS_AS(xt_load_idx_images(dir.path / "lab"), DataError);

  const int w = 5, h = 4;
  std::vector<unsigned char> rgb(w * h * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>(i * 7);
  const std::string png = (dir.path / "a.png").string();
  REQUIRE(stbi_write_png(png.c_str(), w, h, 3, rgb.data(), w * 3));
  const xt::xtensor<float, 3> img = xt_read_image(png);
  CHECK(img.shape() == std::array<std::size_t, 3>{4, 5, 3});
  CHECK(img(1, 2, 0) == float(rgb[(1 * w + 2) * 3]));
  const Tensor ref = load_image(png, 8, 10);
  const xt::xtensor<float, 3> big = xt_load_image(png, 8, 10);
  CHECK(big.shape() == std::array<std::size_t, 3>{8, 10, 3});
  CHECK(std::equal(ref.begin(), ref.end(), big.begin()));
  CHECK_THROWS_AS(xt_read_image(dir.path / "missing.png"), FileError);
}
