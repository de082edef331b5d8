#pragma once
// WordPieceTokenizer: BERT's tokenizer (vocab.txt), giving the ids Hugging Face's tokenizers gives for a
// BertNormalizer + BertPreTokenizer + WordPiece tokenizer.json such as all-MiniLM-L6-v2's.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "detail/bert_text.hpp"
#include "detail/byte_trie.hpp"

namespace siamese {

/// Options of WordPieceTokenizer; the defaults are those of BERT's uncased vocabularies (all-MiniLM-L6-v2).
struct WordPieceOptions {
  /// tokenizer_config.json's do_lower_case.
  bool lower_case = true;
  /// tokenizer_config.json's strip_accents: unset (null) strips accents exactly when lower-casing.
  std::optional<bool> strip_accents;
  /// tokenizer_config.json's tokenize_chinese_chars: spaces around CJK ideographs.
  bool tokenize_chinese_chars = true;
  /// A word of more code points becomes [UNK] (tokenizer.json's max_input_chars_per_word).
  std::size_t max_input_chars_per_word = 100;
};

/// Reads the options of a Hugging Face tokenizer_config.json: do_lower_case, strip_accents (true, false or null)
/// and tokenize_chinese_chars, each defaulted as in WordPieceOptions when absent; other keys are skipped.
/// Throws FileError naming the file and byte offset when it is not a JSON object or a flag is not a boolean.
inline WordPieceOptions read_tokenizer_config(const std::string& path);

/// A vocabulary file that cannot be read or is damaged; the message names the file (and line).
class VocabularyError : public FileError {
 public:
  using FileError::FileError;
};

/// BERT's WordPiece tokenizer over a vocab.txt (one token a line, id = line number from 0), exact against Hugging
/// Face's tokenizers (BertNormalizer, BertPreTokenizer, WordPiece with the "##" prefix, and the literal special
/// tokens [PAD], [UNK], [CLS], [SEP], [MASK] found in the raw text as tokenizer.json's added tokens are).
///
/// encode() gives [CLS] ids... [SEP] cut to max_len (the last id stays [SEP]) and padded with [PAD] = 0 to
/// max_len, as sentence-transformers calls the tokenizer. The attention mask is `id != 0`; that holds for
/// every text but one that spells "[PAD]" itself (HF gives it id 0 with mask 1), where the real length that
/// encode_batch returns is the mask's exact extent. Invalid UTF-8 is read as U+FFFD per maximal ill-formed
/// subsequence (as Python's errors='replace'), which cleaning then removes as HF removes U+FFFD.
/// Requires: a vocabulary with [PAD] at id 0, [UNK], [CLS] and [SEP]. Thread-safe for concurrent const use.
class WordPieceTokenizer {
 public:
  /// Ids are stored as floats by the library's models: exact up to 2^24.
  static constexpr std::size_t max_vocabulary = std::size_t{1} << 24;
  static constexpr std::size_t max_token_bytes = 256;
  static constexpr std::uintmax_t max_file_bytes = std::uintmax_t{64} << 20;

  /// Reads vocab.txt; throws VocabularyError naming the file and line of what is wrong.
  explicit WordPieceTokenizer(const std::string& vocab_path, WordPieceOptions options = {}) : opt_(options) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(vocab_path, ec);
    if (!ec && size > max_file_bytes)
      throw VocabularyError("vocabulary file '" + vocab_path + "' has " + std::to_string(size) +
                            " bytes, more than the " + std::to_string(max_file_bytes) + " a vocabulary may have");
    std::ifstream in(vocab_path, std::ios::binary);
    if (!in) throw VocabularyError("cannot open vocabulary file '" + vocab_path + "'");
    load(in, vocab_path);
  }

  /// Reads a vocabulary from a stream; `name` stands for the file in error messages.
  WordPieceTokenizer(std::istream& in, const std::string& name, WordPieceOptions options = {}) : opt_(options) {
    load(in, name);
  }

  const WordPieceOptions& options() const noexcept { return opt_; }
  std::size_t size() const noexcept { return tokens_.size(); }

  /// Id of a token, or -1 when the vocabulary lacks it.
  std::int32_t id_of(std::string_view token) const {
    const auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
  }
  /// The token with that id; throws std::out_of_range for an id outside the vocabulary.
  const std::string& token_at(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
      throw std::out_of_range("WordPieceTokenizer: no token has id " + std::to_string(id));
    return tokens_[static_cast<std::size_t>(id)];
  }
  std::int32_t pad_id() const noexcept { return 0; }
  std::int32_t unk_id() const noexcept { return unk_; }
  std::int32_t cls_id() const noexcept { return cls_; }
  std::int32_t sep_id() const noexcept { return sep_; }

  /// The WordPiece ids of a text, without [CLS]/[SEP], not truncated.
  std::vector<std::int32_t> token_ids(std::string_view text) const {
    std::vector<std::int32_t> ids;
    Scratch s;
    run(text, static_cast<std::size_t>(-1), s, [&](std::int32_t id) { ids.push_back(id); });
    return ids;
  }

  /// The pieces of a text ("un", "##aff", "##able"), as token_ids() finds them.
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (const auto id : token_ids(text)) out.push_back(tokens_[static_cast<std::size_t>(id)]);
    return out;
  }

  /// [CLS] ids... [SEP], truncated and padded with 0 to max_len (at least 2).
  std::vector<std::int32_t> encode(std::string_view text, std::size_t max_len) const {
    std::vector<std::int32_t> ids(max_len);
    Scratch s;
    encode_row(text, max_len, s, ids.data());
    return ids;
  }

  /// Encodes texts into out, row-major n x max_len ids as floats (the form Embedding takes); returns the real
  /// length of each row (ids before the padding). One thread; the buffers are reused from text to text.
  template <class Texts>
  std::vector<std::size_t> encode_batch(const Texts& texts, std::size_t max_len, float* out) const {
    std::vector<std::size_t> lengths;
    Scratch s;
    std::vector<std::int32_t> row(max_len);
    for (const auto& t : texts) {
      lengths.push_back(encode_row(std::string_view(t), max_len, s, row.data()));
      for (std::size_t k = 0; k < max_len; ++k) out[k] = static_cast<float>(row[k]);
      out += max_len;
    }
    return lengths;
  }

 private:
  struct Scratch {
    detail::BertWordSplitter splitter;
    std::vector<std::int32_t> pieces;  // ids of the word being split, until it is known not to be [UNK]
  };

  // Writes max_len ids to out; returns how many are not padding.
  std::size_t encode_row(std::string_view text, std::size_t max_len, Scratch& s, std::int32_t* out) const {
    if (max_len < 2)
      throw std::invalid_argument("WordPieceTokenizer::encode: max_len must be at least 2 ([CLS], [SEP])");
    std::size_t n = 0;
    out[n++] = cls_;
    // Truncation keeps the first max_len - 2 pieces: tokenizing stops once they are there.
    run(text, max_len - 2, s, [&](std::int32_t id) { out[n++] = id; });
    out[n++] = sep_;
    for (std::size_t k = n; k < max_len; ++k) out[k] = 0;
    return n;
  }

  // Emits up to `limit` ids of the text: special tokens found literally, the rest through basic tokenization
  // and WordPiece, each part between special tokens on its own (as HF's added vocabulary splits the text).
  template <class Emit>
  void run(std::string_view text, std::size_t limit, Scratch& s, Emit&& emit) const {
    if (limit == 0) return;
    std::size_t count = 0;
    auto put = [&](std::int32_t id) {
      emit(id);
      return ++count < limit;
    };
    const detail::BertTextOptions basic{opt_.lower_case, opt_.strip_accents.value_or(opt_.lower_case),
                                        opt_.tokenize_chinese_chars};
    auto on_word = [&](std::string_view word, std::size_t chars) { return word_piece(word, chars, s, put); };
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '[') continue;
      std::size_t best = 0;  // leftmost-longest match among the special tokens
      std::int32_t id = -1;
      for (const auto& [token, token_id] : specials_)
        if (token.size() > best && text.substr(i, token.size()) == token) best = token.size(), id = token_id;
      if (best == 0) continue;
      if (!s.splitter.split(text.substr(start, i - start), basic, opt_.max_input_chars_per_word, on_word) || !put(id))
        return;
      start = i + best;
      i = start - 1;
    }
    s.splitter.split(text.substr(start), basic, opt_.max_input_chars_per_word, on_word);
  }

  // Greedy longest-match-first: the longest vocabulary entry that starts the rest of the word (with the "##"
  // prefix after the first piece); a word with a rest that no entry starts, or longer than
  // max_input_chars_per_word, is [UNK] as a whole.
  template <class Put>
  bool word_piece(std::string_view word, std::size_t chars, Scratch& s, Put& put) const {
    if (chars > opt_.max_input_chars_per_word) return put(unk_);
    s.pieces.clear();
    for (std::size_t start = 0; start < word.size();) {
      // A vocabulary entry is whole code points, so the match ends on a code point boundary, as HF's does.
      const auto [bytes, id] = (start == 0 ? initial_ : continuation_).longest_prefix(word.substr(start));
      if (id < 0) return put(unk_);
      s.pieces.push_back(id);
      start += bytes;
    }
    for (const auto id : s.pieces)
      if (!put(id)) return false;
    return true;
  }

  void load(std::istream& in, const std::string& name);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  WordPieceOptions opt_;
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> vocab_;
  std::vector<std::string> tokens_;
  std::vector<std::pair<std::string, std::int32_t>> specials_;
  detail::ByteTrie initial_;       // every token: the first piece of a word
  detail::ByteTrie continuation_;  // tokens "##x" as "x": the pieces after it
  std::int32_t unk_ = -1, cls_ = -1, sep_ = -1;
};

inline void WordPieceTokenizer::load(std::istream& in, const std::string& name) {
  std::size_t line_no = 0;
  auto fail = [&](const std::string& what) {
    return VocabularyError("vocabulary file '" + name + "', line " + std::to_string(line_no) + ": " + what);
  };
  std::streambuf* buf = in.rdbuf();
  if (buf == nullptr) throw VocabularyError("cannot read vocabulary file '" + name + "'");
  std::string line;
  while (true) {
    line.clear();
    int ch = 0;
    bool any = false;
    // Lines are read with a bound, so that a damaged file cannot make one huge string.
    while ((ch = buf->sbumpc()) != std::char_traits<char>::eof() && ch != '\n') {
      if (!any) ++line_no, any = true;
      if (line.size() > max_token_bytes)
        throw fail("a line longer than " + std::to_string(max_token_bytes) + " bytes: not a vocabulary");
      line += static_cast<char>(ch);
    }
    if (!any) {
      if (ch == std::char_traits<char>::eof()) break;
      ++line_no;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) throw fail("an empty line (a vocabulary has one token a line)");
    if (tokens_.size() == max_vocabulary)
      throw fail("more than " + std::to_string(max_vocabulary) + " tokens (ids must stay exact as floats)");
    for (std::size_t i = 0; i < line.size();) {
      const std::size_t at = i;
      const char32_t c = detail::decode_utf8(line, i);
      if (c == detail::unicode::replacement) throw fail("invalid UTF-8 (or U+FFFD) at byte " + std::to_string(at + 1));
      const std::uint8_t f = detail::unicode::flags(c);
      if (c == 0 || (f & (detail::unicode::control | detail::unicode::whitespace | detail::unicode::split_space))) {
        char code[16];
        std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
        throw fail(std::string("a token with whitespace or a control character (") + code + ")");
      }
    }
    const auto id = static_cast<std::int32_t>(tokens_.size());
    const auto [it, fresh] = vocab_.try_emplace(line, id);
    if (!fresh) throw fail("duplicate token '" + line + "' (also on line " + std::to_string(it->second + 1) + ")");
    tokens_.push_back(line);
  }
  if (in.bad()) throw VocabularyError("error reading vocabulary file '" + name + "'");
  if (tokens_.empty()) throw VocabularyError("vocabulary file '" + name + "' has no tokens");
  for (const char* required : {"[PAD]", "[UNK]", "[CLS]", "[SEP]"})
    if (id_of(required) < 0)
      throw VocabularyError("vocabulary file '" + name + "' has no " + required + " token (not a BERT vocabulary)");
  if (id_of("[PAD]") != 0)
    throw VocabularyError("vocabulary file '" + name + "' has [PAD] on line " + std::to_string(id_of("[PAD]") + 1) +
                          ", not on line 1: padding must be id 0");
  std::vector<std::pair<std::string, std::int32_t>> all, rest;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    all.emplace_back(tokens_[i], static_cast<std::int32_t>(i));
    if (tokens_[i].size() > 2 && tokens_[i].compare(0, 2, "##") == 0)
      rest.emplace_back(tokens_[i].substr(2), static_cast<std::int32_t>(i));
  }
  initial_ = detail::ByteTrie(std::move(all));
  continuation_ = detail::ByteTrie(std::move(rest));
  unk_ = id_of("[UNK]");
  cls_ = id_of("[CLS]");
  sep_ = id_of("[SEP]");
  for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (id_of(special) >= 0) specials_.emplace_back(special, id_of(special));
}

namespace detail {

// Just enough JSON for tokenizer_config.json: a top-level object whose values are skipped unless they are one of
// the flags asked for.
class ConfigScanner {
 public:
  ConfigScanner(std::string text, std::string name) : s_(std::move(text)), name_(std::move(name)) {}

  WordPieceOptions options() {
    WordPieceOptions opt;
    space();
    expect('{');
    space();
    if (peek() == '}') return opt;
    while (true) {
      space();
      const std::string key = string();
      space();
      expect(':');
      space();
      if (key == "do_lower_case") {
        opt.lower_case = flag(false).value();
      } else if (key == "strip_accents") {
        opt.strip_accents = flag(true);
      } else if (key == "tokenize_chinese_chars") {
        opt.tokenize_chinese_chars = flag(false).value();
      } else {
        skip_value(0);
      }
      space();
      if (peek() == '}') break;
      expect(',');
    }
    ++i_;
    space();
    if (i_ != s_.size()) throw fail("content after the object");
    return opt;
  }

 private:
  FileError fail(const std::string& what) const {
    return FileError("tokenizer config file '" + name_ + "', byte " + std::to_string(i_ + 1) + ": " + what);
  }
  char peek() const {
    if (i_ >= s_.size()) throw fail("unexpected end of file");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) throw fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool word(std::string_view w) {
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  std::optional<bool> flag(bool nullable) {
    if (word("true")) return true;
    if (word("false")) return false;
    if (nullable && word("null")) return std::nullopt;
    throw fail(nullable ? "expected true, false or null" : "expected true or false");
  }
  // A string's content with its escapes left as they are: the keys asked for have none.
  std::string string() {
    expect('"');
    const std::size_t start = i_;
    while (peek() != '"') {
      if (s_[i_] == '\\') ++i_;
      ++i_;
    }
    return s_.substr(start, i_++ - start);
  }
  void skip_value(int depth) {
    if (depth > 64) throw fail("nested deeper than 64 levels");
    const char c = peek();
    if (c == '"') {
      string();
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      space();
      if (peek() == close) {
        ++i_;
        return;
      }
      while (true) {
        space();
        if (c == '{') {
          string();
          space();
          expect(':');
          space();
        }
        skip_value(depth + 1);
        space();
        if (peek() == close) break;
        expect(',');
      }
      ++i_;
    } else {
      const std::size_t start = i_;
      while (i_ < s_.size() && std::string_view("{}[],: \t\r\n\"").find(s_[i_]) == std::string_view::npos) ++i_;
      if (i_ == start) throw fail("expected a value");
    }
  }

  std::string s_, name_;
  std::size_t i_ = 0;
};

}  // namespace detail

inline WordPieceOptions read_tokenizer_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("cannot open tokenizer config file '" + path + "'");
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > (std::size_t{1} << 20)) throw FileError("tokenizer config file '" + path + "' is over 1 MiB");
  }
  return detail::ConfigScanner(std::move(text), path).options();
}

}  // namespace siamese
