// WordPieceTokenizer on arbitrary bytes as text (UTF-8 or not): ids stay in the vocabulary, encode() is [CLS],
// the first max_len - 2 of token_ids(), [SEP] and zeros, and encode_batch() writes the same as floats.
// Byte 0 chooses the options, byte 1 max_len (2..65) and max_input_chars_per_word; the rest is the text.
#include <siamese/data/wordpiece.hpp>

#include <map>
#include <sstream>
#include <utility>
#include <string>
#include <vector>

#include "common.hpp"

namespace {
// A small uncased vocabulary: specials, letters and digits with their ## forms, some words and pieces, accented,
// Greek, Cyrillic, CJK and kana tokens, punctuation.
std::string vocabulary() {
  std::string v = "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (char c = 'a'; c <= 'z'; ++c) v += std::string(1, c) + "\n##" + std::string(1, c) + "\n";
  for (char c = '0'; c <= '9'; ++c) v += std::string(1, c) + "\n##" + std::string(1, c) + "\n";
  for (const char* w : {"the", "un", "##aff", "##able", "##ing", "run", "runn", "cafe", "naive", "##ed",
                        "\xCF\x83", "\xD0\xB4\xD0\xB0", "\xE4\xB8\xAD", "\xE6\x96\x87", "\xE3\x81\x82",
                        "##\xE3\x81\x84", "\xE1\x84\x92", "##\xE1\x85\xA1", "!", ",", ".", "?", "'", "-", "#", "##",
                        "[", "]", "\xC2\xAB"})
    v += std::string(w) + "\n";
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const std::string vocab = vocabulary();
  siamese::WordPieceOptions opt;
  opt.lower_case = data[0] & 1;
  if (data[0] & 2) opt.strip_accents = static_cast<bool>(data[0] & 4);
  opt.tokenize_chinese_chars = data[0] & 8;
  opt.max_input_chars_per_word = (data[0] & 16) ? 1 + data[1] % 8 : 100;
  const std::size_t max_len = 2 + (data[1] >> 2);
  // One tokenizer per option set, built on first use: reading the vocabulary is fuzz_wordpiece_vocab's part.
  static std::map<std::pair<int, std::size_t>, siamese::WordPieceTokenizer> made;
  const std::pair<int, std::size_t> key{data[0] & 31, opt.max_input_chars_per_word};
  auto it = made.find(key);
  if (it == made.end()) {
    std::istringstream in(vocab);
    it = made.emplace(key, siamese::WordPieceTokenizer(in, "fuzz-vocab.txt", opt)).first;
  }
  const siamese::WordPieceTokenizer& tok = it->second;
  const std::string text(reinterpret_cast<const char*>(data) + 2, size - 2);

  const auto ids = tok.token_ids(text);
  for (const auto id : ids) fuzz::require(id >= 0 && static_cast<std::size_t>(id) < tok.size(), "ids name tokens");
  fuzz::require(tok.tokenize(text).size() == ids.size(), "one piece per id");
  const auto enc = tok.encode(text, max_len);
  fuzz::require(enc.size() == max_len && enc[0] == tok.cls_id(), "encode: max_len ids from [CLS]");
  const std::size_t n = std::min(ids.size(), max_len - 2);
  for (std::size_t k = 0; k < n; ++k) fuzz::require(enc[1 + k] == ids[k], "encode: the first pieces of token_ids");
  fuzz::require(enc[n + 1] == tok.sep_id(), "encode: [SEP] after the pieces");
  for (std::size_t k = n + 2; k < max_len; ++k) fuzz::require(enc[k] == 0, "encode: padded with 0");
  std::vector<float> out(2 * max_len, -1.0f);
  const auto lengths = tok.encode_batch(std::vector<std::string>{text, text}, max_len, out.data());
  fuzz::require(lengths.size() == 2 && lengths[0] == n + 2 && lengths[1] == n + 2, "encode_batch: real lengths");
  for (std::size_t k = 0; k < 2 * max_len; ++k)
    fuzz::require(out[k] == static_cast<float>(enc[k % max_len]), "encode_batch: the ids as floats");
  return 0;
}
