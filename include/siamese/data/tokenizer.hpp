#pragma once
// Word (or character) tokenizer with the semantics of Keras'
// tf.keras.preprocessing.text.Tokenizer, plus a versioned text file format.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <istream>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../io/atomic_write.hpp"

namespace siamese {

/// Keras' default `filters`: each of these characters is replaced by the split string.
inline constexpr std::string_view keras_default_filters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// Options of `Tokenizer`, named and defaulted as in Keras.
struct TokenizerOptions {
  /// Only indices < num_words are emitted by texts_to_sequences; 0 means no limit (Keras' None).
  std::size_t num_words = 0;
  /// Characters (UTF-8 code points) replaced by `split` before splitting; ignored when char_level.
  std::string filters = std::string(keras_default_filters);
  /// ASCII lower-casing, applied before filtering (as Keras); other bytes are left untouched.
  bool lower = true;
  /// Separator, non-empty; tokens are the non-empty pieces between its occurrences.
  std::string split = " ";
  /// Every UTF-8 code point (spaces and punctuation included) is a token.
  bool char_level = false;
  /// Token for out-of-vocabulary words; Keras puts it first in the vocabulary (index 1).
  std::optional<std::string> oov_token;
};

namespace detail {

// Transparent hash so that maps keyed by std::string accept std::string_view look-ups.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Length of the UTF-8 code point starting at s[i]; 1 for a stray or truncated byte.
inline std::size_t utf8_length(std::string_view s, std::size_t i) noexcept {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  return n;
}

inline char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The filter characters, split into an ASCII table and a list of multibyte code points.
class FilterSet {
 public:
  explicit FilterSet(std::string_view filters) {
    ascii_.fill(false);
    for (std::size_t i = 0; i < filters.size();) {
      const std::size_t n = utf8_length(filters, i);
      if (n == 1)
        ascii_[static_cast<unsigned char>(filters[i])] = true;
      else
        multi_.emplace_back(filters.substr(i, n));
      i += n;
    }
  }
  bool contains(std::string_view cp) const noexcept {
    if (cp.size() == 1) return ascii_[static_cast<unsigned char>(cp[0])];
    return std::find(multi_.begin(), multi_.end(), cp) != multi_.end();
  }

 private:
  std::array<bool, 256> ascii_{};
  std::vector<std::string> multi_;
};

inline void split_into(std::string_view text, std::string_view split, std::vector<std::string>& out) {
  std::size_t start = 0;
  while (true) {
    const std::size_t at = text.find(split, start);
    const std::size_t end = at == std::string_view::npos ? text.size() : at;
    if (end > start) out.emplace_back(text.substr(start, end - start));
    if (at == std::string_view::npos) break;
    start = at + split.size();
  }
}

inline std::string lowered(std::string_view text, bool lower) {
  std::string s(text);
  if (lower)
    for (char& c : s) c = ascii_lower(c);
  return s;
}

// Escapes bytes that would break the line/space structure of the tokenizer file.
inline std::string escape_token(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    if (b <= 0x20 || b == 0x7F || ch == '\\') {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 0xF];
    } else {
      out += ch;
    }
  }
  return out;
}

inline std::optional<std::string> unescape_token(std::string_view s) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b <= 0x20 || b == 0x7F) return std::nullopt;
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 3 >= s.size() || s[i + 1] != 'x') return std::nullopt;
    const int hi = digit(s[i + 2]), lo = digit(s[i + 3]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 3;
  }
  return out;
}

}  // namespace detail

namespace detail {

inline std::vector<std::string> word_sequence(std::string_view text, const FilterSet& filters, bool lower,
                                              std::string_view split) {
  const std::string low = lowered(text, lower);
  std::string translated;
  translated.reserve(low.size());
  for (std::size_t i = 0; i < low.size();) {
    const std::size_t n = utf8_length(low, i);
    const std::string_view cp(low.data() + i, n);
    if (filters.contains(cp))
      translated += split;
    else
      translated += cp;
    i += n;
  }
  std::vector<std::string> out;
  split_into(translated, split, out);
  return out;
}

}  // namespace detail

/// Keras' text_to_word_sequence: lower-case (ASCII), replace each filter code point by
/// `split`, split on `split` and drop empty tokens.
inline std::vector<std::string> text_to_word_sequence(std::string_view text,
                                                      std::string_view filters = keras_default_filters,
                                                      bool lower = true, std::string_view split = " ") {
  if (split.empty()) throw std::invalid_argument("text_to_word_sequence: empty split separator");
  return detail::word_sequence(text, detail::FilterSet(filters), lower, split);
}

/// One vocabulary entry: how often a token occurred and in how many documents.
struct WordCount {
  std::string word;
  std::size_t count = 0;
  std::size_t docs = 0;
};

/// Maps texts to sequences of vocabulary indices exactly as Keras' Tokenizer does:
/// word_index ranks tokens by count (descending, ties by first appearance), from 1;
/// index 0 is never assigned (reserved for padding). Requires a non-empty split.
class Tokenizer {
 public:
  explicit Tokenizer(TokenizerOptions options = {}) : opt_(std::move(options)), filters_(opt_.filters) {
    if (opt_.split.empty()) throw std::invalid_argument("Tokenizer: empty split separator");
  }

  const TokenizerOptions& options() const noexcept { return opt_; }

  /// The tokens of one text under this tokenizer's options (Keras' per-text analysis).
  std::vector<std::string> tokenize(std::string_view text) const {
    if (!opt_.char_level) return detail::word_sequence(text, filters_, opt_.lower, opt_.split);
    // Keras' char_level path only lower-cases: no filters, no splitting.
    const std::string low = detail::lowered(text, opt_.lower);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < low.size();) {
      const std::size_t n = detail::utf8_length(low, i);
      out.emplace_back(low.substr(i, n));
      i += n;
    }
    return out;
  }

  /// Counts the tokens of `texts` (adding to earlier calls) and rebuilds word_index.
  template <class Texts>
  void fit_on_texts(const Texts& texts) {
    for (const auto& t : texts) count_text(std::string_view(t));
    rebuild_index();
  }
  void fit_on_texts(std::initializer_list<std::string_view> texts) { fit_on_texts<>(texts); }

  /// Index of each known token of each text; unknown tokens and those with index >= num_words
  /// are dropped, or mapped to the oov index when there is an oov_token.
  template <class Texts>
  std::vector<std::vector<int>> texts_to_sequences(const Texts& texts) const {
    std::vector<std::vector<int>> out;
    for (const auto& t : texts) out.push_back(text_to_sequence(std::string_view(t)));
    return out;
  }
  std::vector<std::vector<int>> texts_to_sequences(std::initializer_list<std::string_view> texts) const {
    return texts_to_sequences<>(texts);
  }

  /// texts_to_sequences for one text.
  std::vector<int> text_to_sequence(std::string_view text) const {
    const int oov = oov_index();
    std::vector<int> seq;
    for (const auto& w : tokenize(text)) {
      const int i = index_of(w);
      if (i != 0) {
        if (opt_.num_words != 0 && static_cast<std::size_t>(i) >= opt_.num_words) {
          if (oov != 0) seq.push_back(oov);
        } else {
          seq.push_back(i);
        }
      } else if (oov != 0) {
        seq.push_back(oov);
      }
    }
    return seq;
  }

  /// Inverse of texts_to_sequences as in Keras: indices joined by a space, unknown ones dropped
  /// (or written as the oov token), indices >= num_words treated as out of vocabulary.
  template <class Sequences>
  std::vector<std::string> sequences_to_texts(const Sequences& sequences) const {
    const int oov = oov_index();
    std::vector<std::string> out;
    for (const auto& seq : sequences) {
      std::string text;
      bool any = false;
      auto put = [&](const std::string& w) {
        if (any) text += ' ';
        text += w;
        any = true;
      };
      for (const auto num : seq) {
        const std::string* w = word_at(static_cast<int>(num));
        if (w != nullptr) {
          if (opt_.num_words != 0 && static_cast<std::size_t>(num) >= opt_.num_words) {
            if (oov != 0) put(*word_at(oov));
          } else {
            put(*w);
          }
        } else if (opt_.oov_token) {
          put(*word_at(oov));
        }
      }
      out.push_back(std::move(text));
    }
    return out;
  }

  /// Index of `word` in word_index, 0 when absent.
  int index_of(std::string_view word) const {
    const auto it = word_index_.find(word);
    return it == word_index_.end() ? 0 : it->second;
  }

  /// Keras' index_word[index], or nullptr when no word has that index.
  const std::string* word_at(int index) const {
    if (index < 1 || static_cast<std::size_t>(index) > sorted_.size()) return nullptr;
    const std::string& w = sorted_[static_cast<std::size_t>(index) - 1];
    // When the oov token is also a counted word, Keras' dict keeps only its later index.
    return index_of(w) == index ? &w : nullptr;
  }

  /// Index of the oov token (1 unless the oov token also occurs in the texts), 0 without one.
  int oov_index() const { return opt_.oov_token ? index_of(*opt_.oov_token) : 0; }

  /// Keras' word_index: every counted token (and the oov token) with its index.
  const detail::StringMap<int>& word_index() const noexcept { return word_index_; }

  /// Tokens in the order of their first appearance, with counts (Keras' word_counts, word_docs).
  const std::vector<WordCount>& word_counts() const noexcept { return counts_; }

  /// Number of texts seen by fit_on_texts.
  std::size_t document_count() const noexcept { return documents_; }

  /// Size an embedding table needs: the largest index emitted by texts_to_sequences, plus one.
  std::size_t vocabulary_size() const noexcept {
    const std::size_t all = sorted_.size() + 1;
    return opt_.num_words != 0 ? std::min(all, opt_.num_words) : all;
  }

  /// Writes the options and counts in the versioned text format read by load().
  void save(std::ostream& out) const {
    out << "siamese-tokenizer 1\n";
    out << "num_words=" << opt_.num_words << '\n';
    out << "lower=" << (opt_.lower ? 1 : 0) << '\n';
    out << "char_level=" << (opt_.char_level ? 1 : 0) << '\n';
    out << "split=" << detail::escape_token(opt_.split) << '\n';
    out << "filters=" << detail::escape_token(opt_.filters) << '\n';
    out << "has_oov_token=" << (opt_.oov_token ? 1 : 0) << '\n';
    out << "oov_token=" << detail::escape_token(opt_.oov_token.value_or("")) << '\n';
    out << "document_count=" << documents_ << '\n';
    out << "words=" << counts_.size() << '\n';
    for (const auto& wc : counts_) out << wc.count << ' ' << wc.docs << ' ' << detail::escape_token(wc.word) << '\n';
  }

  /// Writes the file atomically (io/atomic_write.hpp); throws TokenizerError naming it when that fails.
  void save(const std::string& path) const {
    std::ostringstream out;
    save(out);
    write_file_atomically<TokenizerError>(path, out.str());
  }

  /// Reads a file written by save(); `name` is used in error messages.
  static Tokenizer load(std::istream& in, const std::string& name);

  static Tokenizer load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw TokenizerError("cannot open tokenizer file '" + path + "'");
    return load(in, path);
  }

 private:
  void count_text(std::string_view text) {
    ++documents_;
    const auto seq = tokenize(text);
    std::vector<std::size_t> seen;
    for (const auto& w : seq) {
      auto [it, inserted] = position_.try_emplace(w, counts_.size());
      if (inserted) counts_.push_back({w, 0, 0});
      ++counts_[it->second].count;
      seen.push_back(it->second);
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (auto p : seen) ++counts_[p].docs;
  }

  void rebuild_index() {
    std::vector<std::size_t> order(counts_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    // Keras: stable sort by count, descending; ties keep first-appearance order.
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return counts_[a].count > counts_[b].count; });
    sorted_.clear();
    if (opt_.oov_token) sorted_.push_back(*opt_.oov_token);
    for (auto i : order) sorted_.push_back(counts_[i].word);
    word_index_.clear();
    // dict(zip(...)): a repeated key keeps the later index.
    for (std::size_t i = 0; i < sorted_.size(); ++i) word_index_[sorted_[i]] = static_cast<int>(i + 1);
  }

  TokenizerOptions opt_;
  detail::FilterSet filters_;
  std::vector<WordCount> counts_;
  detail::StringMap<std::size_t> position_;
  std::vector<std::string> sorted_;
  detail::StringMap<int> word_index_;
  std::size_t documents_ = 0;
};

inline Tokenizer Tokenizer::load(std::istream& in, const std::string& name) {
  std::size_t line_no = 0;
  std::string line;
  auto fail = [&](const std::string& what) -> TokenizerError {
    return TokenizerError("tokenizer file '" + name + "', line " + std::to_string(line_no) + ": " + what);
  };
  auto next = [&](const char* expecting) {
    if (!std::getline(in, line)) {
      ++line_no;
      throw fail(std::string("unexpected end of file, expected ") + expecting);
    }
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
  };
  auto to_size = [&](std::string_view s, const char* what) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string_view::npos)
      throw fail(std::string("invalid ") + what + " '" + std::string(s) + "'");
    return static_cast<std::size_t>(std::stoull(std::string(s)));
  };
  auto value = [&](const char* key) {
    next(key);
    const std::string prefix = std::string(key) + "=";
    if (line.compare(0, prefix.size(), prefix) != 0)
      throw fail("expected '" + prefix + "...', found '" + line + "'");
    return line.substr(prefix.size());
  };
  auto flag = [&](const char* key) {
    const std::string v = value(key);
    if (v != "0" && v != "1") throw fail(std::string("expected ") + key + "=0 or 1, found '" + v + "'");
    return v == "1";
  };
  auto text = [&](const char* key) {
    auto v = detail::unescape_token(value(key));
    if (!v) throw fail(std::string("malformed escape in ") + key);
    return *v;
  };

  next("header");
  if (line.rfind("siamese-tokenizer ", 0) != 0) throw fail("not a siamese tokenizer file (bad header)");
  if (line != "siamese-tokenizer 1") throw fail("unsupported tokenizer file version '" + line.substr(18) + "'");

  TokenizerOptions opt;
  opt.num_words = to_size(value("num_words"), "num_words");
  opt.lower = flag("lower");
  opt.char_level = flag("char_level");
  opt.split = text("split");
  if (opt.split.empty()) throw fail("empty split separator");
  opt.filters = text("filters");
  const bool has_oov = flag("has_oov_token");
  std::string oov = text("oov_token");
  if (has_oov) opt.oov_token = std::move(oov);
  const std::size_t documents = to_size(value("document_count"), "document_count");
  const std::size_t words = to_size(value("words"), "word count");

  Tokenizer tok(std::move(opt));
  tok.documents_ = documents;
  for (std::size_t k = 0; k < words; ++k) {
    next("a word line '<count> <docs> <word>'");
    const auto s1 = line.find(' ');
    const auto s2 = s1 == std::string::npos ? s1 : line.find(' ', s1 + 1);
    if (s2 == std::string::npos) throw fail("expected '<count> <docs> <word>', found '" + line + "'");
    WordCount wc;
    wc.count = to_size(std::string_view(line).substr(0, s1), "count");
    wc.docs = to_size(std::string_view(line).substr(s1 + 1, s2 - s1 - 1), "document count");
    auto w = detail::unescape_token(std::string_view(line).substr(s2 + 1));
    if (!w) throw fail("malformed word '" + line.substr(s2 + 1) + "'");
    if (w->empty()) throw fail("empty word");
    if (wc.count == 0 || wc.docs == 0 || wc.docs > wc.count || wc.docs > documents)
      throw fail("inconsistent counts " + std::to_string(wc.count) + " " + std::to_string(wc.docs));
    wc.word = std::move(*w);
    if (!tok.position_.try_emplace(wc.word, tok.counts_.size()).second) throw fail("duplicate word '" + wc.word + "'");
    tok.counts_.push_back(std::move(wc));
  }
  if (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line != "\r") throw fail("unexpected content after the last word");
  }
  tok.rebuild_index();
  return tok;
}

}  // namespace siamese
