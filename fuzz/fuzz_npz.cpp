// read_npz (numpy .npz: zip of .npy, stored or deflated).
#include <siamese/io/npz.hpp>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size);
  siamese::ArrayFile f;
  if (!fuzz::accepted([&] { f = siamese::read_npz(path); }, path)) return 0;
  for (const auto& a : f.arrays) {
    std::size_t n = 1;
    for (auto d : a.shape) n *= d;
    fuzz::require(a.data.size() == n, "an array holds as many values as its shape says");
  }
  return 0;
}
