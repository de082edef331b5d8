// read_weight_file (the container of weights and checkpoints). The input is the file without its CRC32, which the
// target appends, so the fuzzer reaches past the checksum. A file that reads writes back and reads the same.
#include <siamese/io/file_format.hpp>

#include <cstring>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file_with_crc(data, size);
  siamese::WeightFile f;
  if (!fuzz::accepted([&] { f = siamese::read_weight_file(path); }, path)) return 0;
  for (const auto& t : f.tensors) {
    std::uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    fuzz::require(t.data.size() == n, "a tensor holds as many values as its shape says");
  }
  const std::string copy = fuzz::temp_path("copy");
  siamese::write_weight_file(copy, f);
  siamese::WeightFile g;
  if (!fuzz::accepted([&] { g = siamese::read_weight_file(copy); })) fuzz::fail("a written file reads back");
  fuzz::require(g.kind == f.kind && g.signature == f.signature && g.tensors.size() == f.tensors.size(),
                "the same header after a round trip");
  for (std::size_t i = 0; i < f.tensors.size(); ++i)
    fuzz::require(g.tensors[i].name == f.tensors[i].name && g.tensors[i].shape == f.tensors[i].shape &&
                      (f.tensors[i].data.empty() || std::memcmp(g.tensors[i].data.data(), f.tensors[i].data.data(),
                                                                f.tensors[i].data.size() * 4) == 0),
                  "the same tensors after a round trip");
  return 0;
}
