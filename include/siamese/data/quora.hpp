#pragma once
// Loader for the Quora Question Pairs train.csv format and a seeded train/validation split.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <siamese/data/csv.hpp>

namespace siamese {

/// Two questions and whether they ask the same thing (label 1) or not (label 0).
struct QuestionPair {
  std::string q1, q2;
  int label = 0;
};

/// The pairs of a Quora file, in file order, and how many malformed rows lenient mode skipped.
struct QuoraData {
  std::vector<QuestionPair> pairs;
  std::size_t skipped = 0;
};

namespace detail {

inline const std::vector<std::string>& quora_header() {
  static const std::vector<std::string> h{"id", "qid1", "qid2", "question1", "question2", "is_duplicate"};
  return h;
}

inline std::string join_fields(const std::vector<std::string>& row) {
  std::string s;
  for (std::size_t i = 0; i < row.size(); ++i) s += (i ? "," : "") + row[i];
  return s;
}

inline QuoraData load_quora(CsvReader& reader, bool lenient) {
  std::vector<std::string> row;
  if (!reader.read_row(row)) throw CsvError(reader.name(), 1, "empty file, expected the Quora header row");
  if (row != quora_header()) {
    const bool unlabelled = std::find(row.begin(), row.end(), "is_duplicate") == row.end() &&
                            std::find(row.begin(), row.end(), "question1") != row.end();
    throw CsvError(reader.name(), reader.line(),
                   (unlabelled ? "no is_duplicate column (a test.csv-like file has no labels); " : "") +
                       std::string("expected header 'id,qid1,qid2,question1,question2,is_duplicate', found '") +
                       join_fields(row) + "'");
  }
  QuoraData data;
  std::size_t first_line = 0;  // of the first row skipped here (the reader keeps its own first)
  std::string first_reason;
  while (reader.read_row(row)) {
    const std::string& label = row[5];
    if (label != "0" && label != "1") {
      const std::string why = "is_duplicate must be 0 or 1, found '" + label + "'";
      if (!lenient) throw CsvError(reader.name(), reader.line(), why);
      if (data.skipped++ == 0) first_line = reader.line(), first_reason = why;
      continue;
    }
    data.pairs.push_back({std::move(row[3]), std::move(row[4]), label == "1" ? 1 : 0});
  }
  data.skipped += reader.skipped();
  if (data.pairs.empty()) {  // nothing to train on is an error here, where its reason is known
    if (data.skipped == 0) throw CsvError(reader.name(), 0, "no question pairs: the file holds only its header row");
    if (reader.skipped() != 0 && (first_line == 0 || reader.first_skipped_line() < first_line))
      first_line = reader.first_skipped_line(), first_reason = reader.first_skipped_reason();
    throw CsvError(reader.name(), first_line,
                   "no question pairs: " +
                       (data.skipped == 1 ? std::string("its only row is malformed and was skipped")
                                          : "all " + std::to_string(data.skipped) + " rows are malformed and were skipped") +
                       "; the first (this line): " + first_reason);
  }
  return data;
}

// SplitMix64: a fully specified generator, so a seed gives the same split on every platform.
inline std::uint64_t split_next(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform integer in [0, bound) by rejection, bound > 0.
inline std::uint64_t split_below(std::uint64_t& state, std::uint64_t bound) noexcept {
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
  while (true) {
    const std::uint64_t x = split_next(state);
    if (x < limit) return x % bound;
  }
}

}  // namespace detail

/// Reads a Quora train.csv (`id,qid1,qid2,question1,question2,is_duplicate`, header required).
/// Empty questions are kept. Throws CsvError naming the file and line on a bad header (a
/// test.csv-like file without labels included), malformed CSV or a label other than 0/1;
/// with `lenient`, malformed rows are skipped and counted instead. A file that yields no pair (only
/// a header, or every row skipped) throws CsvError naming the file and the first skipped row's reason.
inline QuoraData load_quora(const std::string& path, bool lenient = false) {
  // The field count comes from the header, so a 3-column test.csv reaches the header check.
  CsvReader reader(path, CsvOptions{',', lenient, 0});
  return detail::load_quora(reader, lenient);
}

/// As load_quora(path), reading from a stream; `name` is used in error messages.
inline QuoraData load_quora(std::istream& in, const std::string& name, bool lenient = false) {
  CsvReader reader(in, name, CsvOptions{',', lenient, 0});
  return detail::load_quora(reader, lenient);
}

/// A train/validation partition of question pairs.
struct PairSplit {
  std::vector<QuestionPair> train, validation;
};

/// Puts round(validation_fraction * n) pairs, chosen by a seeded shuffle, into `validation` and
/// the rest into `train`; both keep the input order. Requires 0 <= validation_fraction <= 1.
inline PairSplit split(const std::vector<QuestionPair>& pairs, double validation_fraction, std::uint64_t seed) {
  if (!(validation_fraction >= 0.0 && validation_fraction <= 1.0))
    throw std::invalid_argument("split: validation_fraction must be in [0, 1], got " +
                                std::to_string(validation_fraction));
  const std::size_t n = pairs.size();
  const auto n_val = static_cast<std::size_t>(std::llround(validation_fraction * static_cast<double>(n)));
  std::vector<std::size_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = i;
  std::uint64_t state = seed;
  // Partial Fisher-Yates: the first n_val entries become a uniform random subset.
  for (std::size_t i = 0; i < n_val && i + 1 < n; ++i) std::swap(perm[i], perm[i + detail::split_below(state, n - i)]);
  std::vector<char> in_val(n, 0);
  for (std::size_t i = 0; i < n_val; ++i) in_val[perm[i]] = 1;
  PairSplit out;
  out.validation.reserve(n_val);
  out.train.reserve(n - n_val);
  for (std::size_t i = 0; i < n; ++i) (in_val[i] ? out.validation : out.train).push_back(pairs[i]);
  return out;
}

}  // namespace siamese
