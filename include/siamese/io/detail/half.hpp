#pragma once
// 16-bit floats as weight files store them, widened to float exactly (every value of both formats is a float).
#include <bit>
#include <cmath>
#include <cstdint>

namespace siamese::detail {

/// IEEE 754 binary16 (numpy float16, safetensors F16): subnormals, infinities and NaN included.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  if (e == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (m << 13));
  if (e != 0) return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
  const float v = std::ldexp(float(m), -24);
  return sign ? -v : v;
}

/// bfloat16 (safetensors BF16): the upper half of a float32.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

}  // namespace siamese::detail
