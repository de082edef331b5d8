// read_image (PNG through libpng, JPEG through libjpeg-turbo) and load_image (decode, then resize to 7 x 5).
#include <siamese/data/images.hpp>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size);
  siamese::Tensor img;
  if (!fuzz::accepted([&] { img = siamese::read_image(path); }, path)) return 0;
  fuzz::require(img.rank() == 3 && img.dim(2) == 3 && img.size() > 0, "a decoded image is (height, width, 3)");
  for (float v : img) fuzz::require(v >= 0.0f && v <= 255.0f, "pixels lie in [0, 255]");
  const siamese::Tensor small = siamese::resize_bilinear(img, 7, 5);
  fuzz::require(small.dim(0) == 7 && small.dim(1) == 5 && small.dim(2) == 3, "resized to the asked size");
  for (float v : small) fuzz::require(v >= 0.0f && v <= 255.0f, "resizing stays within the input's range");
  return 0;
}
