// load_glove: a GloVe text file into a (vocab, dim) table. What loads sets only the rows of indexed words, to
// finite or infinite values the file spelled; a refused file names its line.
#include <siamese/layers/embedding.hpp>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size);
  constexpr std::size_t vocab = 6, dim = 3;
  const std::map<std::string, int> index{{"the", 1}, {"cat", 2}, {"sat", 3}, {"on", 4}, {"mat", 7}, {"pad", 0}};
  std::vector<float> table(vocab * dim, -7.0f);
  siamese::GloveStats st;
  if (!fuzz::accepted([&] { st = siamese::load_glove(table.data(), vocab, dim, path, index); }, path)) return 0;
  fuzz::require(st.rows_set <= st.lines, "at most one row set a line");
  for (std::size_t k = 0; k < dim; ++k) {
    fuzz::require(table[k] == -7.0f, "row 0 (padding) is never set");
    fuzz::require(table[5 * dim + k] == -7.0f, "a row no word indexes is never set");
  }
  return 0;
}
