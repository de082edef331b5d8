// Tokenizer::load: a file that loads saves to a file that loads to the same tokenizer (save is a fixed point).
#include <siamese/data/tokenizer.hpp>

#include <sstream>
#include <string>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  siamese::Tokenizer tok;
  if (!fuzz::accepted([&] { tok = siamese::Tokenizer::load(in, "fuzz.tok"); }, "fuzz.tok")) return 0;
  std::ostringstream once;
  tok.save(once);
  std::istringstream again_in(once.str());
  siamese::Tokenizer again;
  if (!fuzz::accepted([&] { again = siamese::Tokenizer::load(again_in, "saved.tok"); }))
    fuzz::fail("a saved tokenizer loads");
  std::ostringstream twice;
  again.save(twice);
  fuzz::require(once.str() == twice.str(), "save(load(save(t))) == save(t)");
  const std::string sample = "The quick brown fox, the lazy dog. \xC3\xA9t\xC3\xA9!";
  fuzz::require(tok.text_to_sequence(sample) == again.text_to_sequence(sample), "the same sequences after reload");
  for (int i : tok.text_to_sequence(sample)) fuzz::require(tok.word_at(i) != nullptr, "emitted indices name a word");
  return 0;
}
