#pragma once
// Images as model input: PNG and JPEG decoding (libpng, libjpeg-turbo), bilinear resizing, channels-last floats.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "detail/image_decode.hpp"

namespace siamese {

/// Resizes a channels-last image (H, W, C) to (height, width, C) by bilinear interpolation with
/// half-pixel centres, as OpenCV's INTER_LINEAR and TensorFlow's resize (no antialiasing): output
/// pixel y samples input row (y + 0.5) * H / height - 0.5, clamped to the image. Requires a rank-3
/// tensor and a positive target size.
inline Tensor resize_bilinear(const Tensor& image, std::size_t height, std::size_t width) {
  if (image.rank() != 3 || image.size() == 0)
    throw ShapeError("resize_bilinear: expected an image (height, width, channels), got shape " +
                     Tensor::shape_str(image.shape()));
  if (height == 0 || width == 0) throw ShapeError("resize_bilinear: the target size must be positive");
  const std::size_t H = image.dim(0), W = image.dim(1), C = image.dim(2);
  if (H == height && W == width) return image;
  struct Tap {
    std::size_t lo, hi;
    float t;
  };
  const auto taps = [](std::size_t in, std::size_t out) {
    std::vector<Tap> v(out);
    const double scale = double(in) / double(out);
    for (std::size_t i = 0; i < out; ++i) {
      const double s = std::clamp((double(i) + 0.5) * scale - 0.5, 0.0, double(in - 1));
      const auto lo = static_cast<std::size_t>(s);
      v[i] = {lo, std::min(lo + 1, in - 1), static_cast<float>(s - double(lo))};
    }
    return v;
  };
  const auto ty = taps(H, height), tx = taps(W, width);
  Tensor out({height, width, C});
  const float* x = image.data();
  for (std::size_t y = 0; y < height; ++y) {
    const float* r0 = x + ty[y].lo * W * C;
    const float* r1 = x + ty[y].hi * W * C;
    const float fy = ty[y].t;
    for (std::size_t c = 0; c < width; ++c) {
      const std::size_t a = tx[c].lo * C, b = tx[c].hi * C;
      const float fx = tx[c].t;
      float* o = out.data() + (y * width + c) * C;
      for (std::size_t k = 0; k < C; ++k) {
        const float top = r0[a + k] + fx * (r0[b + k] - r0[a + k]);
        const float bottom = r1[a + k] + fx * (r1[b + k] - r1[a + k]);
        o[k] = top + fy * (bottom - top);
      }
    }
  }
  return out;
}

/// Decodes a PNG (libpng) or JPEG (libjpeg-turbo) file into an RGB image (height, width, 3) of floats in 0..255;
/// grey images are repeated over the three channels, an alpha channel is dropped, 16-bit PNG keeps each sample's
/// high byte. Pixel values are the file's own: no gamma or colour-profile conversion. A file that cannot be read or
/// decoded, or that claims far more pixels than its size can encode, throws FileError naming the file and the reason.
inline Tensor read_image(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in || !std::filesystem::is_regular_file(path)) throw FileError("'" + file + "': cannot open image file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw FileError("'" + file + "': the image file is empty");
  const detail::Rgb8Image img = detail::decode_image(file, bytes);
  Tensor out({img.height, img.width, 3});
  std::copy(img.rgb.begin(), img.rgb.end(), out.begin());
  return out;
}

/// read_image, then resize_bilinear to (height, width, 3).
inline Tensor load_image(const std::filesystem::path& path, std::size_t height, std::size_t width) {
  return resize_bilinear(read_image(path), height, width);
}

/// load_image into height * width * 3 floats at `dst`: one sample of a batch tensor.
inline void load_image_into(float* dst, const std::filesystem::path& path, std::size_t height,
                                   std::size_t width) {
  const Tensor t = load_image(path, height, width);
  std::copy(t.begin(), t.end(), dst);
}

}  // namespace siamese
