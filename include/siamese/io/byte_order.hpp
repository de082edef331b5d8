#pragma once
// The one byte order of the library's binary formats: the files it writes (weights, checkpoints, the
// embedding index) and the foreign ones it reads that are little-endian by definition (numpy's .npy/.npz
// and their zip records) store every number little-endian, encoded and decoded here byte by byte, so a file
// is the same on any host (on a little-endian host the bulk float copies are plain memcpy). Formats that
// declare their own order are read as they declare it: IDX is big-endian, HDF5 names the order per datatype.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

// In siamese::detail::le: spelled detail::le::load<std::uint32_t>(p) where used; a using-directive for siamese
// does not bring the short name `le` into a user's scope.
namespace siamese::detail::le {

template <std::size_t N>
using uint_of_size = std::conditional_t<N == 1, std::uint8_t,
                     std::conditional_t<N == 2, std::uint16_t, std::conditional_t<N == 4, std::uint32_t, std::uint64_t>>>;

/// A number that has a little-endian file encoding: an integer or an IEEE float of 1, 2, 4 or 8 bytes.
template <class T>
concept Field = std::is_arithmetic_v<T> && !std::is_same_v<T, bool> &&
                (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);

/// Writes v at p[0, sizeof(T)), least significant byte first.
template <Field T>
void store(unsigned char* p, T v) {
  auto u = std::bit_cast<uint_of_size<sizeof(T)>>(v);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    p[i] = static_cast<unsigned char>(u & 0xFF);
    u = static_cast<decltype(u)>(u >> 8);
  }
}

/// Reads a T stored little-endian at p[0, sizeof(T)).
template <Field T>
T load(const unsigned char* p) {
  uint_of_size<sizeof(T)> u = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) u = decltype(u)((std::uint64_t(u) << 8) | p[i]);
  return std::bit_cast<T>(u);
}
template <Field T>
T load(const char* p) {
  return load<T>(reinterpret_cast<const unsigned char*>(p));
}

/// Appends v to a byte string.
template <Field T, class Bytes>
void append(Bytes& out, T v) {
  unsigned char b[sizeof(T)];
  store(b, v);
  out.insert(out.end(), b, b + sizeof(T));
}

/// Appends n floats.
template <class Bytes>
void append_floats(Bytes& out, const float* v, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    const auto* b = reinterpret_cast<const char*>(v);
    out.insert(out.end(), b, b + n * sizeof(float));
  } else {
    for (std::size_t i = 0; i < n; ++i) append(out, v[i]);
  }
}

/// Reads n floats stored little-endian at p into dst.
inline void load_floats(const void* p, std::size_t n, float* dst) {
  if constexpr (std::endian::native == std::endian::little) {
    if (n != 0) std::memcpy(dst, p, n * sizeof(float));  // dst may be null when n is 0
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = load<float>(static_cast<const unsigned char*>(p) + 4 * i);
  }
}

}  // namespace siamese::detail::le
