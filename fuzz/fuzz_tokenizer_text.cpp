// Tokenizer on arbitrary text (UTF-8 or not): fit_on_texts, texts_to_sequences, sequences_to_texts, save/load.
// The first input bytes choose the options and the split separator; the rest are texts, one per line.
#include <siamese/data/tokenizer.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  siamese::TokenizerOptions opt;
  opt.lower = data[0] & 1;
  opt.char_level = (data[0] >> 1) & 1;
  if ((data[0] >> 2) & 1) opt.oov_token = "<oov>";
  if ((data[0] >> 3) & 1) opt.filters.clear();
  opt.num_words = data[1] % 8;  // 0: no limit
  opt.split = std::string(1, static_cast<char>(data[2] == 0 ? ' ' : data[2]));
  std::vector<std::string> texts;
  std::string cur;
  for (std::size_t i = 3; i < size; ++i) {
    if (data[i] == '\n') {
      texts.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  texts.push_back(cur);
  siamese::Tokenizer tok(opt);
  tok.fit_on_texts(texts);
  const auto seqs = tok.texts_to_sequences(texts);
  for (const auto& s : seqs)
    for (int i : s) {
      fuzz::require(tok.word_at(i) != nullptr, "emitted indices name a word");
      fuzz::require(opt.num_words == 0 || static_cast<std::size_t>(i) < opt.num_words || i == tok.oov_index(),
                    "indices beyond num_words become the oov index");
    }
  fuzz::require(tok.sequences_to_texts(seqs).size() == texts.size(), "one text per sequence");
  std::ostringstream saved;
  tok.save(saved);
  std::istringstream in(saved.str());
  siamese::Tokenizer again;
  if (!fuzz::accepted([&] { again = siamese::Tokenizer::load(in, "saved.tok"); })) fuzz::fail("a saved tokenizer loads");
  fuzz::require(again.texts_to_sequences(texts) == seqs, "a reloaded tokenizer gives the same sequences");
  return 0;
}
