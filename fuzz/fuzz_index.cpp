// EmbeddingIndex::load. The input is the file without its CRC32, which the target appends. An index that loads
// answers a search with sorted, in-range neighbours and saves to a file that loads the same.
#include <siamese/eval/index.hpp>

#include <algorithm>
#include <optional>
#include <vector>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file_with_crc(data, size);
  std::optional<siamese::EmbeddingIndex> idx;
  if (!fuzz::accepted([&] { idx.emplace(siamese::EmbeddingIndex::load(path)); }, path)) return 0;
  fuzz::require(idx->labels().size() == idx->size(), "one label per row");
  if (idx->dim() > 4096) return 0;  // a valid empty index may declare any width: do not query it
  const std::vector<float> queries(2 * idx->dim(), 0.5f);
  const auto res = idx->search(queries, 3);
  if (idx->keeps_float()) {  // rescoring reads the float rows of the candidates
    const auto rescored = idx->search(queries, 2, {.rescore = 4, .model_signature = idx->model_signature()});
    fuzz::require(rescored.k == std::min<std::size_t>(2, idx->size()), "rescored: k is min(k, size)");
    for (std::size_t j = 0; j < rescored.k; ++j)
      fuzz::require(rescored.neighbours(0)[j] < idx->size(), "rescored neighbours are rows of the index");
  }
  fuzz::require(res.k == std::min<std::size_t>(3, idx->size()), "k is min(k, size)");
  for (std::size_t q = 0; q < res.queries; ++q)
    for (std::size_t j = 0; j < res.k; ++j) {
      fuzz::require(res.neighbours(q)[j] < idx->size(), "neighbours are rows of the index");
      fuzz::require(j == 0 || !(res.neighbour_distances(q)[j] < res.neighbour_distances(q)[j - 1]),
                    "neighbours come nearest first");
    }
  const std::string copy = fuzz::temp_path("copy");
  idx->save(copy);
  const auto again = siamese::EmbeddingIndex::load(copy);
  fuzz::require(again.size() == idx->size() && again.dim() == idx->dim() && again.codes() == idx->codes() &&
                    again.model_signature() == idx->model_signature() && again.memory_bytes() == idx->memory_bytes(),
                "the same index after a round trip");
  for (std::size_t i = 0; i < idx->size(); ++i) fuzz::require(again.embedding(i) == idx->embedding(i), "the same rows");
  return 0;
}
