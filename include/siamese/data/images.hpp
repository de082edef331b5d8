#pragma once
// Images as model input: PNG and JPEG decoding (stb_image), bilinear resizing, channels-last floats.
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
#include "detail/image_checks.hpp"
#include "detail/stb_image.hpp"

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

// The functions below call stb_image, which has internal linkage (see detail/stb_image.hpp): they
// are static too, so that no inline function refers to a different decoder in each translation unit.

/// Decodes a PNG or JPEG file into an RGB image (height, width, 3) of floats in 0..255; grey images
/// are repeated over the three channels, an alpha channel is dropped, 16-bit PNG is scaled to 8 bits.
/// A file that cannot be read or decoded throws FileError naming the file and the reason.
static inline Tensor read_image(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in || !std::filesystem::is_regular_file(path)) throw FileError("'" + file + "': cannot open image file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw FileError("'" + file + "': the image file is empty");
  if (bytes.size() > 0x7fffffff) throw FileError("'" + file + "': the image file is larger than 2 GiB");
  if (!detail::jpeg_huffman_tables_ok(bytes))
    throw FileError("'" + file + "': cannot decode the image (corrupt JPEG: a Huffman table of over 256 codes)");
  if (!detail::png_chunks_fit(bytes))
    throw FileError("'" + file + "': cannot decode the image (corrupt PNG: a chunk longer than the file)");
  int w = 0, h = 0, channels = 0;
  // Refuse a header claiming far more pixels than the file can encode (even a blank 1-bit PNG or JPEG stays
  // under ~8000 pixels a byte) before stb_image allocates for them.
  if (stbi_info_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), &w,
                            &h, &channels) &&
      double(w) * double(h) > 16384.0 * double(bytes.size()) + double(1 << 22))
    throw FileError("'" + file + "': the image claims " + std::to_string(w) + " x " + std::to_string(h) +
                    " pixels, more than its " + std::to_string(bytes.size()) + " bytes can hold");
  unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                            static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (!px) {
    const char* why = stbi_failure_reason();
    throw FileError("'" + file + "': cannot decode the image (" + (why ? why : "unknown reason") +
                    "); PNG and JPEG are supported");
  }
  Tensor out({std::size_t(h), std::size_t(w), 3});
  std::copy(px, px + out.size(), out.begin());
  stbi_image_free(px);
  return out;
}

/// read_image, then resize_bilinear to (height, width, 3).
static inline Tensor load_image(const std::filesystem::path& path, std::size_t height, std::size_t width) {
  return resize_bilinear(read_image(path), height, width);
}

/// load_image into height * width * 3 floats at `dst`: one sample of a batch tensor.
static inline void load_image_into(float* dst, const std::filesystem::path& path, std::size_t height,
                                   std::size_t width) {
  const Tensor t = load_image(path, height, width);
  std::copy(t.begin(), t.end(), dst);
}

}  // namespace siamese
