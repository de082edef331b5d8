#pragma once
// The image loaders returning xtensor: (height, width, 3) RGB floats in 0..255, channels-last. Needs both optional
// parts (siamese-images for the codecs, siamese-xtensor); data/images.hpp itself stays free of xtensor.
#include <xtensor/xtensor.hpp>

#include <cstddef>
#include <filesystem>

#include "../xtensor.hpp"
#include "images.hpp"

namespace siamese {

/// read_image as an xt::xtensor<float, 3> of shape (height, width, 3). Errors as read_image's (FileError).
inline xt::xtensor<float, 3> xt_read_image(const std::filesystem::path& path) {
  return to_xtensor<3>(read_image(path), "xt_read_image");
}

/// load_image (decode, then bilinear resize) as an xt::xtensor<float, 3> of shape (height, width, 3).
inline xt::xtensor<float, 3> xt_load_image(const std::filesystem::path& path, std::size_t height, std::size_t width) {
  return to_xtensor<3>(load_image(path, height, width), "xt_load_image");
}

}  // namespace siamese
