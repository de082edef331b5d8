// pad_sequences: hand-derived Keras results and a simulation that pads/truncates one element at a time.
#include <doctest/doctest.h>

#include <siamese/data/sequence.hpp>

#include <cstdint>
#include <algorithm>
#include <deque>
#include <optional>
#include <stdexcept>
#include <random>
#include <vector>

using siamese::PadOptions;
using siamese::PadSide;
using Seqs = std::vector<std::vector<int>>;
using Ints = std::vector<std::int32_t>;

namespace {

PadOptions opts(std::optional<std::size_t> maxlen, PadSide padding, PadSide truncating, double value = 0) {
  PadOptions o;
  o.maxlen = maxlen;
  o.padding = padding;
  o.truncating = truncating;
  o.value = value;
  return o;
}

// Reference: drop one element at the truncated end until short enough, then add one padding
// value at the padded end until long enough.
std::vector<double> simulate(const std::vector<int>& s, std::size_t maxlen, PadSide padding, PadSide truncating,
                             double value) {
  std::deque<double> d(s.begin(), s.end());
  while (d.size() > maxlen) truncating == PadSide::pre ? d.pop_front() : d.pop_back();
  while (d.size() < maxlen) padding == PadSide::pre ? d.push_front(value) : d.push_back(value);
  return {d.begin(), d.end()};
}

}  // namespace

TEST_CASE("defaults: maxlen is the longest, padding and truncating 'pre', value 0") {
  const Seqs s{{1, 2}, {3, 4, 5}, {}};
  const auto p = siamese::pad_sequences(s);
  CHECK(p.rows == 3);
  CHECK(p.cols == 3);
  // Keras: [[0,1,2],[3,4,5],[0,0,0]]
  CHECK(p.values == Ints{0, 1, 2, 3, 4, 5, 0, 0, 0});
  CHECK(p(0, 2) == 2);
}

TEST_CASE("each padding x truncating combination, by hand") {
  const Seqs s{{1, 2, 3, 4}, {5}};
  // maxlen 2: the long row is cut, the short row padded.
  CHECK(siamese::pad_sequences(s, opts(2, PadSide::pre, PadSide::pre)).values == Ints{3, 4, 0, 5});
  CHECK(siamese::pad_sequences(s, opts(2, PadSide::pre, PadSide::post)).values == Ints{1, 2, 0, 5});
  CHECK(siamese::pad_sequences(s, opts(2, PadSide::post, PadSide::pre)).values == Ints{3, 4, 5, 0});
  CHECK(siamese::pad_sequences(s, opts(2, PadSide::post, PadSide::post)).values == Ints{1, 2, 5, 0});
  // maxlen larger than every sequence: only padding, and truncating does not matter.
  CHECK(siamese::pad_sequences(s, opts(5, PadSide::pre, PadSide::post, -1)).values ==
        Ints{-1, 1, 2, 3, 4, -1, -1, -1, -1, 5});
  CHECK(siamese::pad_sequences(s, opts(5, PadSide::post, PadSide::pre, 9)).values ==
        Ints{1, 2, 3, 4, 9, 5, 9, 9, 9, 9});
}

TEST_CASE("value conversion and float output") {
  const Seqs s{{7}, {}};
  // numpy's np.full(..., 2.7, dtype=int32) truncates to 2.
  CHECK(siamese::pad_sequences(s, opts(2, PadSide::pre, PadSide::pre, 2.7)).values == Ints{2, 7, 2, 2});
  const auto f = siamese::pad_sequences<float>(s, opts(2, PadSide::post, PadSide::pre, 0.5));
  CHECK(f.values == std::vector<float>{7.f, 0.5f, 0.5f, 0.5f});
}

TEST_CASE("edge cases: no sequences, maxlen 0") {
  const auto none = siamese::pad_sequences(Seqs{});
  CHECK(none.rows == 0);
  CHECK(none.cols == 0);
  CHECK(none.values.empty());
  const auto zero = siamese::pad_sequences(Seqs{{1, 2}, {}}, opts(0, PadSide::pre, PadSide::post));
  CHECK(zero.rows == 2);
  CHECK(zero.cols == 0);
  CHECK(zero.values.empty());
}

TEST_CASE("pad_side parses Keras' spelling") {
  CHECK(siamese::pad_side("pre") == PadSide::pre);
  CHECK(siamese::pad_side("post") == PadSide::post);
  CHECK_THROWS_AS(siamese::pad_side("middle"), std::invalid_argument);
}

TEST_CASE("all modes match the one-element-at-a-time simulation on random sequences") {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    Seqs s(rng() % 6);
    std::size_t longest = 0;
    for (auto& q : s) {
      q.resize(rng() % 9);
      for (auto& v : q) v = static_cast<int>(rng() % 100) + 1;
      longest = std::max(longest, q.size());
    }
    const bool given = rng() % 2;
    const std::size_t maxlen = given ? rng() % 10 : longest;
    for (PadSide padding : {PadSide::pre, PadSide::post})
      for (PadSide truncating : {PadSide::pre, PadSide::post}) {
        const double value = static_cast<double>(static_cast<int>(rng() % 5) - 2);
        const auto p = siamese::pad_sequences<double>(
            s, opts(given ? std::optional<std::size_t>(maxlen) : std::nullopt, padding, truncating, value));
        REQUIRE(p.rows == s.size());
        REQUIRE(p.cols == maxlen);
        for (std::size_t r = 0; r < s.size(); ++r) {
          const auto expect = simulate(s[r], maxlen, padding, truncating, value);
          const std::vector<double> got(p.values.begin() + static_cast<std::ptrdiff_t>(r * maxlen),
                                        p.values.begin() + static_cast<std::ptrdiff_t>((r + 1) * maxlen));
          CHECK(got == expect);
        }
      }
  }
}
