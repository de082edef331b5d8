// WordPieceTokenizer's vocab.txt reader: a file it accepts maps each line's token to its line's id and back, has
// [PAD] at 0, and tokenizes a sample into ids of the vocabulary; any other file is refused naming it.
#include <siamese/data/wordpiece.hpp>

#include <optional>
#include <sstream>
#include <string>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::optional<siamese::WordPieceTokenizer> tok;
  if (!fuzz::accepted([&] { tok.emplace(in, "fuzz-vocab.txt"); }, "fuzz-vocab.txt")) return 0;
  fuzz::require(tok->size() >= 4 && tok->token_at(0) == "[PAD]", "[PAD] is id 0");
  for (std::size_t i = 0; i < tok->size(); ++i) {
    const auto id = static_cast<std::int32_t>(i);
    fuzz::require(!tok->token_at(id).empty() && tok->id_of(tok->token_at(id)) == id, "token <-> id");
  }
  const std::string sample = "The [MASK] runner's caf\xC3\xA9, na\xC3\xAFve \xE4\xB8\xAD\xE6\x96\x87 unaffable!! \xFF";
  for (const auto id : tok->encode(sample, 24))
    fuzz::require(id >= 0 && static_cast<std::size_t>(id) < tok->size(), "ids name tokens");
  return 0;
}
