#pragma once
// BERT's basic tokenization as Hugging Face tokenizers' BertNormalizer + BertPreTokenizer do it, streamed: UTF-8
// decoding, cleaning, spaces around CJK ideographs, accent stripping (NFD, then nonspacing marks removed),
// lower-casing, and splitting into words on whitespace and punctuation. Used by WordPieceTokenizer.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "unicode_tables.hpp"

namespace siamese::detail {

namespace unicode {

inline constexpr char32_t replacement = 0xFFFD;

inline constexpr std::uint8_t flags_by_search(char32_t c) noexcept {
  const auto* it = std::upper_bound(std::begin(flag_ranges), std::end(flag_ranges), c,
                                    [](char32_t v, const FlagRange& r) { return v < r.first; });
  return (it - 1)->flags;  // flag_ranges starts at U+0000
}

inline constexpr std::array<std::uint8_t, 128> ascii_flags = [] {
  std::array<std::uint8_t, 128> a{};
  for (char32_t c = 0; c < 128; ++c) a[c] = flags_by_search(c);
  return a;
}();

inline std::uint8_t flags(char32_t c) noexcept { return c < 128 ? ascii_flags[c] : flags_by_search(c); }

/// Lower case of c: writes 1 to 3 code points to out and returns their number (Rust's char::to_lowercase).
inline std::size_t lower(char32_t c, char32_t* out) noexcept {
  if (c < 128) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  for (const auto& m : lower_multi)
    if (m.from == c) {
      std::size_t n = 0;
      while (n < 4 && m.to[n] != 0) out[n] = m.to[n], ++n;
      return n;
    }
  const auto* it = std::upper_bound(std::begin(lower_runs), std::end(lower_runs), c,
                                    [](char32_t v, const LowerRun& r) { return v < r.first; });
  out[0] = c;
  if (it != std::begin(lower_runs)) {
    const LowerRun& r = *(it - 1);
    if (c <= r.last && (c - r.first) % r.stride == 0)
      out[0] = static_cast<char32_t>(static_cast<std::int64_t>(c) + r.delta);
  }
  return 1;
}

/// The table's canonical decomposition of c (see unicode_tables.hpp), Hangul syllables by formula; c itself
/// when it has none. Returns the number of code points written to out (at most max_decomposition, which
/// make_unicode_tables.py checks).
inline constexpr std::size_t max_decomposition = 4;
inline std::size_t decompose(char32_t c, char32_t* out) noexcept {
  if (c < 0xC0) {
    out[0] = c;
    return 1;
  }
  if (c >= 0xAC00 && c <= 0xD7A3) {  // Unicode 3.12, Conjoining Jamo Behavior
    const char32_t s = c - 0xAC00;
    out[0] = 0x1100 + s / 588;
    out[1] = 0x1161 + (s % 588) / 28;
    if (s % 28 == 0) return 2;
    out[2] = 0x11A7 + s % 28;
    return 3;
  }
  const auto* one = std::lower_bound(std::begin(nfd_single), std::end(nfd_single), c,
                                     [](const NfdSingle& d, char32_t v) { return d.from < v; });
  if (one != std::end(nfd_single) && one->from == c) {
    out[0] = one->to;
    return 1;
  }
  const auto* many = std::lower_bound(std::begin(nfd_multi), std::end(nfd_multi), c,
                                      [](const NfdMulti& d, char32_t v) { return d.from < v; });
  if (many != std::end(nfd_multi) && many->from == c) {
    std::copy_n(nfd_pool + many->offset, many->length, out);
    return many->length;
  }
  out[0] = c;
  return 1;
}

/// Combining class of a code point that accent stripping keeps although its class is nonzero.
inline std::uint8_t kept_combining_class(char32_t c) noexcept {
  const auto* it = std::lower_bound(std::begin(kept_ccc), std::end(kept_ccc), c,
                                    [](const CombiningClass& k, char32_t v) { return k.cp < v; });
  return it != std::end(kept_ccc) && it->cp == c ? it->ccc : 1;
}

/// tokenizers' is_chinese_char: the CJK ideograph blocks (not kana, not Hangul).
inline constexpr bool is_cjk_ideograph(char32_t c) noexcept {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

}  // namespace unicode

/// Decodes the UTF-8 code point at s[i] and advances i. An ill-formed sequence yields U+FFFD for its maximal
/// well-formed prefix (Unicode's "maximal subpart" practice, as Python's errors='replace' does), so a valid
/// byte after a broken sequence is never swallowed.
inline char32_t decode_utf8(std::string_view s, std::size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i++]);
  if (b0 < 0x80) return b0;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t c;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return unicode::replacement;
  }
  for (std::size_t k = 0; k < need; ++k) {
    if (i >= s.size()) return unicode::replacement;
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < lo || b > hi) return unicode::replacement;
    c = (c << 6) | (b & 0x3F);
    ++i;
    lo = 0x80, hi = 0xBF;
  }
  return c;
}

inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

/// Options of BERT's basic tokenization (BertNormalizer's), as tokenizer_config.json names them.
struct BertTextOptions {
  bool lower_case = true;
  bool strip_accents = true;
  bool tokenize_chinese_chars = true;
};

/// Streams the words of one piece of text (a part between special tokens) to a sink: `bool on_word(word,
/// chars)` gets each word as UTF-8 with its length in code points, and returns false to stop early. A word
/// is cut off after `max_chars` + 1 code points: its length still tells that it is too long. The buffers are
/// kept from call to call, so that splitting allocates nothing once they have grown.
class BertWordSplitter {
 public:
  template <class OnWord>
  bool split(std::string_view text, const BertTextOptions& opt, std::size_t max_chars, OnWord&& on_word) {
    word_.clear();
    chars_ = 0;
    run_.clear();
    max_chars_ = max_chars;
    for (std::size_t i = 0; i < text.size();) {
      char32_t c = decode_utf8(text, i);
      // Cleaning: NUL, U+FFFD (and so every broken UTF-8 sequence) and control characters go; whitespace
      // becomes a space.
      const std::uint8_t f = unicode::flags(c);
      if (c == 0 || c == unicode::replacement || (f & unicode::control)) continue;
      if (f & unicode::whitespace) c = ' ';
      if (opt.tokenize_chinese_chars && unicode::is_cjk_ideograph(c)) {
        if (!accent(' ', opt, on_word) || !accent(c, opt, on_word) || !accent(' ', opt, on_word)) return false;
      } else if (!accent(c, opt, on_word)) {
        return false;
      }
    }
    return flush_run(opt, on_word) && end_word(on_word);
  }

 private:
  // Accent stripping: NFD, whose canonical reordering only matters among the code points that stay (a run of
  // nonzero classes is kept in run_ until a class-0 code point ends it), then nonspacing marks removed.
  template <class OnWord>
  bool accent(char32_t c, const BertTextOptions& opt, OnWord& on_word) {
    if (!opt.strip_accents) return lower(c, opt, on_word);
    char32_t parts[unicode::max_decomposition];
    const std::size_t n = unicode::decompose(c, parts);
    for (std::size_t k = 0; k < n; ++k) {
      const char32_t p = parts[k];
      const std::uint8_t f = unicode::flags(p);
      if (f & unicode::nonzero_ccc) {
        if (!(f & unicode::mark)) run_.emplace_back(unicode::kept_combining_class(p), p);
        continue;  // a mark of nonzero class is dropped without ending the run
      }
      if (!flush_run(opt, on_word)) return false;
      if (!(f & unicode::mark) && !lower(p, opt, on_word)) return false;
    }
    return true;
  }

  template <class OnWord>
  bool flush_run(const BertTextOptions& opt, OnWord& on_word) {
    if (run_.empty()) return true;
    std::stable_sort(run_.begin(), run_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [ccc, p] : run_)
      if (!lower(p, opt, on_word)) return false;
    run_.clear();
    return true;
  }

  template <class OnWord>
  bool lower(char32_t c, const BertTextOptions& opt, OnWord& on_word) {
    if (!opt.lower_case) return pre_tokenize(c, on_word);
    char32_t low[4];
    const std::size_t n = unicode::lower(c, low);
    for (std::size_t k = 0; k < n; ++k)
      if (!pre_tokenize(low[k], on_word)) return false;
    return true;
  }

  // BertPreTokenizer: whitespace separates words and is dropped; punctuation is a word of its own.
  template <class OnWord>
  bool pre_tokenize(char32_t c, OnWord& on_word) {
    const std::uint8_t f = unicode::flags(c);
    if (f & unicode::split_space) return end_word(on_word);
    if (f & unicode::punctuation) {
      if (!end_word(on_word)) return false;
      append(c);
      return end_word(on_word);
    }
    append(c);
    return true;
  }

  void append(char32_t c) {
    if (chars_++ <= max_chars_) append_utf8(word_, c);
  }

  template <class OnWord>
  bool end_word(OnWord& on_word) {
    if (chars_ == 0) return true;
    const bool go_on = on_word(std::string_view(word_), chars_);
    word_.clear();
    chars_ = 0;
    return go_on;
  }

  std::string word_;
  std::size_t chars_ = 0, max_chars_ = 0;
  std::vector<std::pair<std::uint8_t, char32_t>> run_;
};

}  // namespace siamese::detail
