// Embedding: lookup, padding rows, scatter-add gradient, id validation, frozen tables, GloVe files.
#include <siamese/layers/embedding.hpp>
#include <siamese/model/init.hpp>
#include <siamese/model/sequential.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "support.hpp"

using namespace siamese;
using test::Bound;
using test::Ref;

namespace {
using E = Bound<Embedding<7, 3>, Shape<5>>;

struct Run {
  std::vector<float> w = test::random_vector(7 * 3, 3), y, dy, dw;
  template <class L>
  void forward(const std::vector<float>& ids, std::size_t n) {
    y.assign(n * L::out_shape::size, -1.0f);
    L::template forward<Ref>(Forward{ids.data(), y.data(), n, w.data(), nullptr, nullptr, true, 0});
  }
  template <class L>
  void backward(const std::vector<float>& ids, std::size_t n) {
    dy = test::random_vector(n * L::out_shape::size, 9);
    dw.assign(w.size(), 5.0f);  // stale values: the gradient must overwrite them
    L::template backward<Ref>(Backward{ids.data(), y.data(), dy.data(), nullptr, n, w.data(), dw.data(), nullptr, nullptr});
  }
};

std::string temp_file(const std::string& name, const std::string& text) {
  const auto p = std::filesystem::temp_directory_path() / ("siamese_seq_" + name);
  std::ofstream(p) << text;
  return p.string();
}
}  // namespace

TEST_CASE("Embedding: shapes, parameters, traits") {
  static_assert(std::is_same_v<E::out_shape, Shape<5, 3>>);
  static_assert(detail::param_count_of<E>() == 21);
  static_assert(Embedding<7, 3>::accepts<Shape<5>>);
  static_assert(!Embedding<7, 3>::accepts<Shape<5, 2>>);
  static_assert(detail::has_trainable<E>());
  static_assert(!detail::has_trainable<Bound<Embedding<7, 3, false>, Shape<5>>>());
  CHECK(E::describe() == "Embedding<7,3>");
  CHECK(Bound<Embedding<7, 3, false, false>, Shape<5>>::describe() == "Embedding<7,3,frozen,no_mask>");
}

TEST_CASE("Embedding: each output row is the table row of its id; id 0 gives zeros when masked") {
  const std::vector<float> ids{3, 0, 6, 3, 1, 0, 0, 2, 5, 4};
  for (bool masked : {true, false}) {
    Run r;
    if (masked) r.forward<E>(ids, 2);
    else r.forward<Bound<Embedding<7, 3, true, false>, Shape<5>>>(ids, 2);
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (std::size_t j = 0; j < 3; ++j) {
        const std::size_t id = std::size_t(ids[i]);
        CHECK(r.y[i * 3 + j] == (masked && id == 0 ? 0.0f : r.w[id * 3 + j]));
      }
  }
}

TEST_CASE("Embedding: the gradient is a scatter-add into the rows present, zero elsewhere") {
  const std::vector<float> ids{3, 0, 6, 3, 1, 0, 0, 2, 3, 4};
  Run r;
  r.forward<E>(ids, 2);
  r.backward<E>(ids, 2);
  for (std::size_t row = 0; row < 7; ++row)
    for (std::size_t j = 0; j < 3; ++j) {
      double want = 0;
      for (std::size_t i = 0; i < ids.size(); ++i)
        if (std::size_t(ids[i]) == row && row != 0) want += r.dy[i * 3 + j];
      CHECK(r.dw[row * 3 + j] == doctest::Approx(want).epsilon(1e-6));
    }
  CHECK(r.dw[5 * 3] == 0.0f);  // id 5 is absent
  CHECK(r.dw[0] == 0.0f);      // padding gets no gradient
  // Finite differences of sum(y * dy) with respect to the table.
  std::vector<float> g = r.dw;
  test::check_gradient("Embedding d/dw", r.w, g, [&] {
    r.forward<E>(ids, 2);
    double s = 0;
    for (std::size_t i = 0; i < r.y.size(); ++i) s += double(r.y[i]) * r.dy[i];
    return s;
  });
}

TEST_CASE("Embedding: without masking, id 0 is an ordinary row with a gradient") {
  using U = Bound<Embedding<7, 3, true, false>, Shape<5>>;
  const std::vector<float> ids{0, 0, 2, 1, 0};
  Run r;
  r.forward<U>(ids, 1);
  r.backward<U>(ids, 1);
  CHECK(r.dw[1] == doctest::Approx(r.dy[1] + r.dy[4] + r.dy[13]));
}

TEST_CASE("Embedding: an id outside the vocabulary or not an integer is refused with its place") {
  Run r;
  CHECK_THROWS_WITH_AS(r.forward<E>({1, 2, 3, 4, 5, 6, 0, 7, 1, 1}, 2),
                       "Embedding<7,3>: token id 7.000000 at sample 1, position 2 is not an integer in [0, 7)",
                       ShapeError);
  CHECK_THROWS_AS(r.forward<E>({1, 2, -1, 4, 5}, 1), ShapeError);
  CHECK_THROWS_AS(r.forward<E>({1, 2, 2.5f, 4, 5}, 1), ShapeError);
  const std::vector<float> ok{1, 2, 3}, bad{1, 9, 3};
  CHECK_NOTHROW(check_token_ids(ok.data(), 3, 3, 4, "batch"));
  CHECK_THROWS_WITH_AS(check_token_ids(bad.data(), 3, 3, 4, "batch 'a'"),
                       "batch 'a': token id 9.000000 at sample 0, position 1 is not an integer in [0, 4)", ShapeError);
}

TEST_CASE("Embedding: frozen tables get no gradient through Sequential, Frozen<> or the flag") {
  using Net = Bound<Sequential<Embedding<7, 3, false>>, Shape<5>>;
  using Net2 = Bound<Frozen<Embedding<7, 3>>, Shape<5>>;
  static_assert(!Net::has_trainable_params && !Net2::has_trainable_params);
  std::vector<ParamInfo> info;
  detail::collect<Net>(info, "", 0, true, false);
  REQUIRE(info.size() == 1);
  CHECK(info[0].name == "0_embedding/embeddings");
  CHECK_FALSE(info[0].trainable);
  CHECK(info[0].init == Init::UniformKeras);
  Run r;
  const std::vector<float> ids{1, 2, 3, 4, 5};
  r.forward<Bound<Embedding<7, 3, false>, Shape<5>>>(ids, 1);
  r.backward<Bound<Embedding<7, 3, false>, Shape<5>>>(ids, 1);
  for (float g : r.dw) CHECK(g == 5.0f);  // untouched
}

TEST_CASE("Embedding: the table starts uniform in +-0.05 (Keras) by default, N(0, 1) (PyTorch) with Init::Normal") {
  // Moments of a 400 x 50 table: 20000 draws put the sample mean within 0.03 and the deviation within 3%.
  auto table = [](auto spec) {
    using L = Bound<decltype(spec), Shape<5>>;
    std::vector<ParamInfo> info;
    detail::collect<L>(info, "", 0, true, false);
    REQUIRE(info.size() == 1);
    std::vector<float> v(info[0].size);
    detail::init_all(v.data(), info, 11);
    double sum = 0, sq = 0, top = 0;
    for (float x : v) sum += x, sq += double(x) * x, top = std::max(top, std::fabs(double(x)));
    const double mean = sum / double(v.size());
    return std::array<double, 4>{double(info[0].init), mean, std::sqrt(sq / double(v.size()) - mean * mean), top};
  };
  const auto keras = table(Embedding<400, 50>{}), torch = table(Embedding<400, 50, true, true, Init::Normal>{});
  CHECK(keras[0] == double(Init::UniformKeras));
  CHECK(keras[3] <= 0.05);
  CHECK(keras[2] == doctest::Approx(0.05 / std::sqrt(3.0)).epsilon(0.03));
  CHECK(torch[0] == double(Init::Normal));
  CHECK(std::fabs(torch[1]) < 0.03);
  CHECK(torch[2] == doctest::Approx(1.0).epsilon(0.03));
  CHECK(torch[3] > 3.0);  // a normal's tails, not a bounded uniform
}

TEST_CASE("load_glove: sets the rows of known words, keeps the others, names the bad line") {
  std::map<std::string, int> index{{"cat", 1}, {"dog", 2}, {"fish", 6}, {"rare", 9}};
  const std::string good = temp_file("good.txt", "dog 0.5 -1 2e-1\nunknown 1 2 3\ncat 1.5 2.5 3.5\r\nrare 9 9 9\n");
  std::vector<float> table(7 * 3, 0.25f);
  const GloveStats s = load_glove(table.data(), 7, 3, good, index);
  CHECK(s.lines == 4);
  CHECK(s.rows_set == 2);  // 'rare' has index 9, outside a 7-row table
  CHECK(table[3] == 1.5f);
  CHECK(table[5] == 3.5f);
  CHECK(table[6] == 0.5f);
  CHECK(table[7] == -1.0f);
  CHECK(table[8] == 0.2f);
  CHECK(table[0] == 0.25f);   // padding row untouched
  CHECK(table[18] == 0.25f);  // 'fish' absent from the file

  const std::string wide = temp_file("wide.txt", "dog 1 2 3\ncat 1 2 3 4\n");
  CHECK_THROWS_WITH_AS(load_glove(table.data(), 7, 3, wide, index),
                       doctest::Contains("siamese_seq_wide.txt:2: 'cat' has 4 values, but the embedding is 3 wide"),
                       FileError);
  const std::string nan = temp_file("nan.txt", "dog 1 2 3\n\ncat 1 x 3\n");
  CHECK_THROWS_WITH_AS(load_glove(table.data(), 7, 3, nan, index),
                       doctest::Contains("siamese_seq_nan.txt:3: value 2 of 'cat' is not a number: 'x'"), FileError);
  CHECK_THROWS_AS(load_glove(table.data(), 7, 3, "/nonexistent/glove.txt", index), FileError);
  const std::string empty = temp_file("empty.txt", "\n");
  CHECK_THROWS_WITH_AS(load_glove(table.data(), 7, 3, empty, index),
                       doctest::Contains("siamese_seq_empty.txt': the file holds no vectors"), FileError);
  const std::string strangers = temp_file("strangers.txt", "unknown 1 2 3\nrare 9 9 9\n");
  CHECK_THROWS_WITH_AS(load_glove(table.data(), 7, 3, strangers, index),
                       doctest::Contains("siamese_seq_strangers.txt': none of its words has a row in the table"),
                       FileError);
}
