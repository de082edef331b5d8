// IDX image and label files (plain or gzip): load_idx_images, load_idx_labels.
#include <siamese/data/idx.hpp>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size);
  siamese::ImageSet set;
  if (fuzz::accepted([&] { set = siamese::load_idx_images(path); }, path)) {
    fuzz::require(set.pixels.size() == set.count * set.rows * set.cols, "pixels match count x rows x cols");
    fuzz::require(set.labels.empty(), "an image file has no labels");
    for (float v : set.pixels) fuzz::require(v >= 0.0f && v <= 1.0f, "pixels lie in [0, 1]");
  }
  std::vector<std::uint8_t> labels;
  fuzz::accepted([&] { labels = siamese::load_idx_labels(path); }, path);
  return 0;
}
