// SafetensorsFile: Hugging Face .safetensors files (8-byte header length, JSON header, tensor bytes).
#include <siamese/io/safetensors.hpp>
// fuzz-pkg: nlohmann_json

#include <optional>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size);
  std::optional<siamese::SafetensorsFile> f;
  if (!fuzz::accepted([&] { f.emplace(path); }, path)) return 0;
  // an opened file's tensors tile its data exactly, in order, each as large as its shape and dtype say
  std::uint64_t covered = 0;
  for (const auto& e : f->tensors()) {
    fuzz::require(e.begin == covered && e.end >= e.begin, "tensors tile the data in order");
    covered = e.end;
    fuzz::require(f->find(e.name) == &e, "every tensor is found by its name");
    const bool readable = e.dtype == "F32" || e.dtype == "F16" || e.dtype == "BF16";
    siamese::NamedArray a;
    const bool read = fuzz::accepted([&] { a = f->read(e.name); }, path);
    fuzz::require(read == readable, "a tensor of an opened file is read exactly when its dtype is a float one");
    if (!read) continue;
    fuzz::require(a.shape == e.shape && a.data.size() == e.count(), "the values fill the shape");
    fuzz::require(a.data.size() * (e.dtype == "F32" ? 4 : 2) == e.end - e.begin, "the values fill the bytes");
  }
  fuzz::require(covered + f->data_start() == size, "the tensors cover the data to the end of the file");
  return 0;
}
