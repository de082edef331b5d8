#pragma once
// Image augmentation for channels-last batches: random crop after zero padding, horizontal flip, brightness and
// contrast jitter, random erasing. Every sample draws from its own seed, a function of (seed, epoch, batch index,
// sample), so a batch generator that augments stays a pure function of (epoch, index): runs are reproducible and a
// resumed run is bit-identical to an uninterrupted one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace siamese {

/// What to apply to each image, in this order: crop, flip, brightness, contrast, erasing. The defaults apply
/// nothing.
struct Augment {
  /// Random crop of the image's own size from it zero-padded by this many pixels on each side (Keras'
  /// ZeroPadding2D + RandomCrop; torchvision's RandomCrop(size, padding)): a shift by up to this many pixels.
  std::size_t crop_padding = 0;
  /// Probability of a horizontal flip (Keras' RandomFlip("horizontal") flips half the images: 0.5).
  float flip = 0;
  /// Adds a value drawn uniformly in [-brightness, brightness] * value_range to every pixel (Keras' RandomBrightness).
  float brightness = 0;
  /// Scales each channel's deviation from its mean by a factor drawn in [1 - contrast, 1 + contrast] (Keras'
  /// RandomContrast).
  float contrast = 0;
  /// Probability of random erasing (Zhong et al. 2020; torchvision's RandomErasing): a rectangle of 2% to 33% of
  /// the image, aspect ratio 0.3 to 3.3, set to `erase_value`.
  float erase = 0;
  float erase_value = 0;
  /// The span of the pixel values: 1 for images in [0, 1], 255 for [0, 255]. Brightness is relative to it.
  float value_range = 1;
  /// Augmented values are clipped to [clip_min, clip_max] when clip is true (images in a fixed range).
  bool clip = false;
  float clip_min = 0, clip_max = 1;

  bool active() const { return crop_padding > 0 || flip > 0 || brightness > 0 || contrast > 0 || erase > 0; }
};

/// The seed of sample `sample` of batch `index` of `epoch`.
constexpr std::uint64_t augment_seed(std::uint64_t seed, std::size_t epoch, std::size_t index, std::size_t sample) {
  return detail::hash2(detail::hash2(detail::hash2(seed, epoch), index), sample);
}

namespace detail {
inline void check_augment(const Augment& a) {
  const auto prob = [](float p, const char* what) {
    if (!(p >= 0.0f && p <= 1.0f))
      throw std::invalid_argument(std::string("Augment::") + what + " is a probability in [0, 1], not " +
                                  std::to_string(p));
  };
  prob(a.flip, "flip");
  prob(a.erase, "erase");
  if (!(a.brightness >= 0.0f) || !(a.contrast >= 0.0f && a.contrast <= 1.0f))
    throw std::invalid_argument("Augment: brightness must be >= 0 and contrast in [0, 1]");
}
}  // namespace detail

/// Augments one h x w x c image in place from `seed`. `work` is scratch (resized as needed).
inline void augment_image(float* img, std::size_t h, std::size_t w, std::size_t c, const Augment& a,
                          std::uint64_t seed, std::vector<float>& work) {
  detail::Rng r(seed);
  const std::size_t n = h * w * c;
  // Every draw happens whatever is enabled, so enabling one transform does not change another's randomness.
  const std::size_t p = a.crop_padding;
  const std::size_t dy = std::size_t(r.below(2 * p + 1)), dx = std::size_t(r.below(2 * p + 1));
  const bool flip = r.uniform() < a.flip;
  const float bright = (2.0f * r.uniform() - 1.0f) * a.brightness * a.value_range;
  const float contrast = 1.0f + (2.0f * r.uniform() - 1.0f) * a.contrast;
  const bool erase = r.uniform() < a.erase;
  if (p > 0 && (dy != p || dx != p)) {
    work.assign(n, 0.0f);
    // Output pixel (y, x) is padded pixel (y + dy, x + dx), i.e. input pixel (y + dy - p, x + dx - p).
    for (std::size_t y = 0; y < h; ++y) {
      const std::ptrdiff_t sy = std::ptrdiff_t(y + dy) - std::ptrdiff_t(p);
      if (sy < 0 || sy >= std::ptrdiff_t(h)) continue;
      const std::ptrdiff_t x0 = std::max<std::ptrdiff_t>(0, std::ptrdiff_t(p) - std::ptrdiff_t(dx));
      const std::ptrdiff_t x1 = std::min<std::ptrdiff_t>(std::ptrdiff_t(w), std::ptrdiff_t(w + p) - std::ptrdiff_t(dx));
      if (x1 <= x0) continue;
      std::copy_n(img + (std::size_t(sy) * w + std::size_t(x0 + std::ptrdiff_t(dx) - std::ptrdiff_t(p))) * c,
                  std::size_t(x1 - x0) * c, work.data() + (y * w + std::size_t(x0)) * c);
    }
    std::copy(work.begin(), work.end(), img);
  }
  if (flip)
    for (std::size_t y = 0; y < h; ++y)
      for (std::size_t x = 0; x < w / 2; ++x)
        std::swap_ranges(img + (y * w + x) * c, img + (y * w + x + 1) * c, img + (y * w + w - 1 - x) * c);
  if (a.brightness > 0)
    for (std::size_t i = 0; i < n; ++i) img[i] += bright;
  if (a.contrast > 0)
    for (std::size_t ch = 0; ch < c; ++ch) {
      double mean = 0;
      for (std::size_t i = ch; i < n; i += c) mean += img[i];
      const float m = float(mean / double(h * w));
      for (std::size_t i = ch; i < n; i += c) img[i] = m + (img[i] - m) * contrast;
    }
  if (a.clip)
    for (std::size_t i = 0; i < n; ++i) img[i] = std::clamp(img[i], a.clip_min, a.clip_max);
  if (erase)
    for (int attempt = 0; attempt < 10; ++attempt) {  // torchvision's rule: up to 10 draws of a rectangle that fits
      const double area = double(h * w) * (0.02 + 0.31 * double(r.uniform()));
      const double ratio = std::exp(std::log(0.3) + (std::log(3.3) - std::log(0.3)) * double(r.uniform()));
      const std::size_t eh = std::size_t(std::lround(std::sqrt(area * ratio)));
      const std::size_t ew = std::size_t(std::lround(std::sqrt(area / ratio)));
      if (eh == 0 || ew == 0 || eh >= h || ew >= w) continue;
      const std::size_t y0 = std::size_t(r.below(h - eh + 1)), x0 = std::size_t(r.below(w - ew + 1));
      for (std::size_t y = y0; y < y0 + eh; ++y) std::fill_n(img + (y * w + x0) * c, ew * c, a.erase_value);
      break;
    }
}

/// Augments every image of a channels-last batch (n, h, w, c) or (n, h, w) in place; sample i draws from
/// augment_seed(seed, epoch, index, i). Throws ShapeError for another rank.
inline void augment_batch(Tensor& x, const Augment& a, std::uint64_t seed, std::size_t epoch, std::size_t index) {
  if (!a.active()) return;
  detail::check_augment(a);
  if (x.rank() != 3 && x.rank() != 4)
    throw ShapeError("augment_batch: expected images (n, height, width[, channels]), got a tensor of shape " +
                     Tensor::shape_str(x.shape()));
  const std::size_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.rank() == 4 ? x.dim(3) : 1;
  std::vector<float> work;
  for (std::size_t i = 0; i < n; ++i)
    augment_image(x.data() + i * h * w * c, h, w, c, a, augment_seed(seed, epoch, index, i), work);
}

}  // namespace siamese
