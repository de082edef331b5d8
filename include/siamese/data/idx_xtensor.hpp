#pragma once
// The IDX loaders returning xtensor: images as (count, rows, cols, 1), the channels-last batch the models take.
// Needs xtensor (the siamese-xtensor part); data/idx.hpp itself stays free of it.
#include <xtensor/xtensor.hpp>

#include <array>
#include <cstdint>
#include <filesystem>

#include "../xtensor.hpp"
#include "idx.hpp"

namespace siamese {

/// load_idx_images as an xt::xtensor<float, 4> of shape (count, rows, cols, 1), pixels scaled to [0, 1]: what
/// Siamese<Sequential<Input<rows, cols, 1>, ...>>::embed takes. Errors as load_idx_images'.
inline xt::xtensor<float, 4> xt_load_idx_images(const std::filesystem::path& path) {
  const detail::IdxImageBytes bytes = detail::read_idx_image_bytes(path);
  xt::xtensor<float, 4> out(std::array<std::size_t, 4>{bytes.count, bytes.rows, bytes.cols, 1});
  detail::scale_pixels(bytes.raw, out.data());
  return out;
}

/// load_idx_labels as an xt::xtensor<std::uint8_t, 1>. Errors as load_idx_labels'.
inline xt::xtensor<std::uint8_t, 1> xt_load_idx_labels(const std::filesystem::path& path) {
  const std::vector<std::uint8_t> labels = load_idx_labels(path);
  xt::xtensor<std::uint8_t, 1> out(std::array<std::size_t, 1>{labels.size()});
  std::copy(labels.begin(), labels.end(), out.data());
  return out;
}

/// An ImageSet's pixels viewed as a read-only (count, rows, cols, 1) xtensor expression, without a copy; valid while
/// `set` lives. A model reads it (and row ranges of it, xt::view(v, xt::range(i, j))) in place.
inline auto as_xtensor(const ImageSet& set) {
  return xt::adapt(set.pixels.data(), set.pixels.size(), xt::no_ownership(),
                   std::array<std::size_t, 4>{set.count, set.rows, set.cols, 1});
}

}  // namespace siamese
