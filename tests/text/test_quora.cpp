// Quora loader on small files written here, and the seeded train/validation split.
#include <doctest/doctest.h>

#include <siamese/data/quora.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using siamese::CsvError;
using siamese::QuestionPair;

namespace {

std::string write_temp(const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("siamese_text_quora_" + std::to_string(std::random_device{}()) + ".csv");
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

std::string load_error(const std::string& content, bool lenient = false) {
  std::istringstream in(content);
  try {
    (void)siamese::load_quora(in, "train.csv", lenient);
  } catch (const CsvError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("train.csv format: quoted header, embedded newlines and quotes, empty questions") {
  // Kaggle's train.csv quotes every field; questions may hold commas, quotes and newlines.
  const std::string content =
      "\"id\",\"qid1\",\"qid2\",\"question1\",\"question2\",\"is_duplicate\"\n"
      "\"0\",\"1\",\"2\",\"What is the step by step guide to invest in share market in india?\","
      "\"What is the step by step guide to invest in share market?\",\"0\"\n"
      "\"1\",\"3\",\"4\",\"How do I read \"\"War and Peace\"\", quickly?\",\"Line one\nline two\",\"1\"\n"
      "2,5,6,,Why?,0\r\n";
  const std::string path = write_temp(content);
  const auto data = siamese::load_quora(path);
  std::filesystem::remove(path);
  REQUIRE(data.pairs.size() == 3);
  CHECK(data.skipped == 0);
  CHECK(data.pairs[0].q1 == "What is the step by step guide to invest in share market in india?");
  CHECK(data.pairs[0].q2 == "What is the step by step guide to invest in share market?");
  CHECK(data.pairs[0].label == 0);
  CHECK(data.pairs[1].q1 == "How do I read \"War and Peace\", quickly?");
  CHECK(data.pairs[1].q2 == "Line one\nline two");
  CHECK(data.pairs[1].label == 1);
  CHECK(data.pairs[2].q1.empty());
  CHECK(data.pairs[2].q2 == "Why?");
  CHECK(data.pairs[2].label == 0);
}

TEST_CASE("header is checked; a test.csv-like file is rejected with a clear message") {
  auto e = load_error("\"test_id\",\"question1\",\"question2\"\n0,a,b\n");
  CHECK(contains(e, "train.csv:1:"));
  CHECK(contains(e, "no is_duplicate column"));
  e = load_error("id,qid1,qid2,q1,q2,is_duplicate\n");
  CHECK(contains(e, "train.csv:1: expected header 'id,qid1,qid2,question1,question2,is_duplicate'"));
  CHECK(contains(e, "found 'id,qid1,qid2,q1,q2,is_duplicate'"));
  CHECK(contains(load_error(""), "train.csv:1: empty file"));
}

TEST_CASE("bad rows: strict errors name the line, lenient mode counts them") {
  const std::string content =
      "id,qid1,qid2,question1,question2,is_duplicate\n"
      "0,1,2,a,b,1\n"
      "1,3,4,\"multi\nline\",c,yes\n"  // label not 0/1 (record on line 3)
      "2,5,6,d,e\n"                     // five fields (line 5)
      "3,7,8,f,g\"h,0\n"                // stray quote (line 6)
      "4,9,10,i,j,0\n";
  auto e = load_error(content);
  CHECK(contains(e, "train.csv:3: is_duplicate must be 0 or 1, found 'yes'"));
  std::istringstream in(content);
  const auto data = siamese::load_quora(in, "train.csv", true);
  REQUIRE(data.pairs.size() == 2);
  CHECK(data.skipped == 3);
  CHECK(data.pairs[0].q1 == "a");
  CHECK(data.pairs[1].q1 == "i");
  CHECK(data.pairs[1].label == 0);
  // With the bad label fixed, the next strict error is the field count on line 5.
  std::string fixed = content;
  fixed.replace(fixed.find(",yes"), 4, ",1");
  CHECK(contains(load_error(fixed), "train.csv:5: expected 6 fields, found 5"));
}

TEST_CASE("a file that yields no pair is an error naming the file and the first skipped row's reason") {
  const std::string header = "id,qid1,qid2,question1,question2,is_duplicate\n";
  CHECK(load_error(header) == "train.csv:0: no question pairs: the file holds only its header row");
  CHECK(load_error(header, true) == "train.csv:0: no question pairs: the file holds only its header row");
  // One malformed row, skipped in lenient mode: the reader's reason.
  CHECK(load_error(header + "0,1,2,a,b\n", true) ==
        "train.csv:2: no question pairs: its only row is malformed and was skipped; the first (this line): "
        "expected 6 fields, found 5");
  // A bad label after a CSV error: the earlier line wins, whichever part of the loader skipped it.
  CHECK(load_error(header + "0,1,2,a\"b,c,1\n1,3,4,d,e,x\n", true) ==
        "train.csv:2: no question pairs: all 2 rows are malformed and were skipped; the first (this line): "
        "quote inside unquoted field 4");
  CHECK(load_error(header + "1,3,4,d,e,x\n0,1,2,a\"b,c,1\n", true) ==
        "train.csv:2: no question pairs: all 2 rows are malformed and were skipped; the first (this line): "
        "is_duplicate must be 0 or 1, found 'x'");
  // A file with any good row still loads.
  std::istringstream in(header + "1,3,4,d,e,x\n2,5,6,f,g,1\n");
  CHECK(siamese::load_quora(in, "train.csv", true).pairs.size() == 1);
}

namespace {

std::vector<QuestionPair> numbered(std::size_t n) {
  std::vector<QuestionPair> pairs;
  for (std::size_t i = 0; i < n; ++i) pairs.push_back({std::to_string(i), "q", static_cast<int>(i % 2)});
  return pairs;
}

std::vector<std::size_t> ids(const std::vector<QuestionPair>& v) {
  std::vector<std::size_t> out;
  for (const auto& p : v) out.push_back(std::stoul(p.q1));
  return out;
}

}  // namespace

TEST_CASE("split: sizes, disjoint cover in input order, determinism") {
  const auto pairs = numbered(1000);
  const auto s = siamese::split(pairs, 0.2, 42);
  CHECK(s.validation.size() == 200);
  CHECK(s.train.size() == 800);
  auto all = ids(s.train);
  const auto val = ids(s.validation);
  CHECK(std::is_sorted(all.begin(), all.end()));
  CHECK(std::is_sorted(val.begin(), val.end()));
  all.insert(all.end(), val.begin(), val.end());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == i);
  // Same seed, same split; another seed, another split.
  CHECK(ids(siamese::split(pairs, 0.2, 42).validation) == val);
  CHECK(ids(siamese::split(pairs, 0.2, 43).validation) != val);
  // round(fraction * n).
  CHECK(siamese::split(numbered(10), 0.25, 1).validation.size() == 3);
  CHECK(siamese::split(numbered(10), 0.0, 1).validation.empty());
  CHECK(siamese::split(numbered(10), 1.0, 1).train.empty());
  CHECK(siamese::split({}, 0.5, 1).train.empty());
  CHECK_THROWS_AS(siamese::split(pairs, 1.5, 1), std::invalid_argument);
  CHECK_THROWS_AS(siamese::split(pairs, -0.1, 1), std::invalid_argument);
}

TEST_CASE("split: every pair is equally likely to land in validation") {
  // 2000 seeds, n=10, 3 validation pairs each: each index is expected 600 times (sd about 20).
  std::vector<int> hits(10, 0);
  for (std::uint64_t seed = 0; seed < 2000; ++seed)
    for (auto i : ids(siamese::split(numbered(10), 0.3, seed).validation)) ++hits[i];
  for (int h : hits) {
    CHECK(h > 500);
    CHECK(h < 700);
  }
}
