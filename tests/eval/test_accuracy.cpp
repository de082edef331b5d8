// accuracy_report against pytorch-metric-learning's AccuracyCalculator (tests/eval/data/accuracy_golden.txt, written
// by scripts/make_metric_learning_golden.py), normalized_mutual_info against scikit-learn's, and the errors.
#include <siamese/eval/accuracy.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace siamese;

namespace {

template <class T>
std::vector<T> read_line(std::istream& in) {
  std::string line;
  std::getline(in, line);
  std::istringstream s(line);
  std::vector<T> v;
  for (T x; s >> x;) v.push_back(x);
  return v;
}

struct Case {
  std::string name;
  std::size_t nq = 0, nr = 0, d = 0;
  bool self = false;
  std::vector<int> ql, rl;
  std::vector<float> q, r;
  std::map<std::string, double> expect;
};
struct NmiCase {
  std::vector<int> a, b;
  double expect = 0;
};

void load(std::vector<Case>& cases, std::vector<NmiCase>& nmi) {
  std::ifstream in(std::string(SIAMESE_TEST_DATA) + "/accuracy_golden.txt");
  REQUIRE(in);
  std::string word;
  while (in >> word) {
    if (word[0] == '#') {
      std::getline(in, word);
    } else if (word == "case") {
      Case c;
      int self = 0;
      in >> c.name >> c.nq >> c.nr >> c.d >> self;
      c.self = self != 0;
      in.ignore(1);
      c.ql = read_line<int>(in);
      c.q = read_line<float>(in);
      c.rl = read_line<int>(in);
      c.r = read_line<float>(in);
      for (std::string m; in >> m && m != "end";) in >> c.expect[m];
      REQUIRE(c.q.size() == c.nq * c.d);
      REQUIRE(c.r.size() == c.nr * c.d);
      cases.push_back(std::move(c));
    } else if (word == "nmi") {
      std::size_t n = 0;
      in >> n;
      in.ignore(1);
      NmiCase c;
      c.a = read_line<int>(in);
      c.b = read_line<int>(in);
      in >> c.expect;
      REQUIRE(c.a.size() == n);
      nmi.push_back(std::move(c));
    }
  }
}

}  // namespace

TEST_CASE("accuracy_report equals pytorch-metric-learning's AccuracyCalculator") {
  std::vector<Case> cases;
  std::vector<NmiCase> nmi;
  load(cases, nmi);
  REQUIRE(cases.size() == 4);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    AccuracyOptions o;
    o.ref_includes_query = c.self;
    const AccuracyReport r = accuracy_report(c.q, c.ql, c.r, c.rl, c.d, o);
    CHECK(r.precision_at_1 == doctest::Approx(c.expect.at("p_at_1")).epsilon(1e-9));
    CHECK(r.r_precision == doctest::Approx(c.expect.at("r_precision")).epsilon(1e-9));
    CHECK(r.map_at_r == doctest::Approx(c.expect.at("map_at_r")).epsilon(1e-9));
    CHECK(r.nmi == doctest::Approx(c.expect.at("nmi")).epsilon(1e-9));
    for (std::size_t k : {1, 2, 4, 8}) CHECK(r.recall(k) == doctest::Approx(c.expect.at("recall_at_" + std::to_string(k))).epsilon(1e-9));
    CHECK(r.evaluated + r.lone == c.nq);
    if (c.name == "split_lone") CHECK(r.lone >= 3);
    else CHECK(r.lone == 0);
  }
}

TEST_CASE("accuracy_report over one set leaves every sample out of its own references") {
  std::vector<Case> cases;
  std::vector<NmiCase> nmi;
  load(cases, nmi);
  const Case& c = cases[1];  // "self": the references are the queries
  REQUIRE(c.self);
  const AccuracyReport a = accuracy_report(c.q, c.ql, c.d);
  CHECK(a.precision_at_1 == doctest::Approx(c.expect.at("p_at_1")).epsilon(1e-9));
  CHECK(a.map_at_r == doctest::Approx(c.expect.at("map_at_r")).epsilon(1e-9));
  // Without leaving it out, each query would find itself first.
  AccuracyOptions o;
  o.nmi = false;
  const AccuracyReport b = accuracy_report(c.q, c.ql, c.q, c.ql, c.d, o);
  CHECK(b.precision_at_1 == 1.0);
  CHECK(std::isnan(b.nmi));
}

TEST_CASE("normalized_mutual_info equals scikit-learn's") {
  std::vector<Case> cases;
  std::vector<NmiCase> nmi;
  load(cases, nmi);
  REQUIRE(nmi.size() == 3);
  for (const auto& c : nmi) CHECK(normalized_mutual_info(c.a, c.b) == doctest::Approx(c.expect).epsilon(1e-9));
  const std::vector<int> a{0, 0, 1, 1, 2}, renamed{5, 5, 3, 3, 9}, one(5, 4);
  CHECK(normalized_mutual_info(a, renamed) == doctest::Approx(1.0));
  CHECK(normalized_mutual_info(one, one) == 1.0);
  CHECK(normalized_mutual_info(a, one) == 0.0);
  CHECK_THROWS_AS(normalized_mutual_info(a, std::vector<int>{1, 2}), ShapeError);
}

TEST_CASE("kmeans finds separated blobs and is deterministic") {
  std::vector<float> x;
  for (int i = 0; i < 90; ++i) {
    const float cx = float(i % 3) * 20.0f;
    x.push_back(cx + float((i * 7) % 5) * 0.1f);
    x.push_back(-cx + float((i * 3) % 7) * 0.1f);
  }
  const auto c = kmeans(x, 2, 3, 1);
  std::vector<int> truth(90);
  for (int i = 0; i < 90; ++i) truth[std::size_t(i)] = i % 3;
  CHECK(normalized_mutual_info(truth, c) == doctest::Approx(1.0));
  CHECK(kmeans(x, 2, 3, 1) == c);
  x[5] = std::nanf("");
  CHECK_THROWS_AS(kmeans(x, 2, 3), NumericError);
}

TEST_CASE("accuracy_report refuses bad input, saying what and where") {
  const std::vector<float> q{0, 0, 1, 1}, r{0, 0, 1, 1, 2, 2};
  const std::vector<int> ql{0, 1}, rl{0, 1, 1};
  AccuracyOptions o;
  auto message = [&](auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message([&] { accuracy_report(q, ql, r, std::vector<int>{0, 1}, 2, o); }).find("6 reference floats for 2") !=
        std::string::npos);
  CHECK_THROWS_AS(accuracy_report(std::vector<float>{0, 0, 1}, ql, r, rl, 2, o), ShapeError);
  o.ref_includes_query = true;
  const std::vector<float> r2{0, 0, 1, 1.5f, 2, 2};
  CHECK(message([&] { accuracy_report(q, ql, r2, rl, 2, o); }).find("query 1 differs from reference 1 in column 1") !=
        std::string::npos);
  o.ref_includes_query = false;
  std::vector<float> bad = q;
  bad[3] = INFINITY;
  CHECK(message([&] { accuracy_report(bad, ql, r, rl, 2, o); }).find("query 1 is not finite") != std::string::npos);
  o.ks = {0};
  CHECK_THROWS_AS(accuracy_report(q, ql, r, rl, 2, o), ShapeError);
}
