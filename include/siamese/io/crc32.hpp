#pragma once
// The one CRC32 of the library's files (zlib's, the checksum of zip and PNG): over the whole length of a
// buffer, files over 4 GiB included, although zlib's crc32() takes a 32-bit length.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace siamese {

/// The largest piece crc32() is handed at once: 1 GiB, well inside its 32-bit length.
inline constexpr std::size_t crc32_max_piece = std::size_t{1} << 30;

/// CRC32 of bytes [p, p + n), continuing from `crc` (0 to start); fed to zlib in pieces of at most `piece`
/// bytes (a parameter only so that the piecing can be tested on a small buffer).
inline std::uint32_t crc32_of(const void* p, std::size_t n, std::uint32_t crc = 0,
                              std::size_t piece = crc32_max_piece) {
  piece = std::clamp<std::size_t>(piece, 1, crc32_max_piece);
  const auto* b = static_cast<const Bytef*>(p);
  uLong c = crc;
  while (n > 0) {
    const std::size_t k = std::min(n, piece);
    c = ::crc32(c, b, static_cast<uInt>(k));
    b += k;
    n -= k;
  }
  return static_cast<std::uint32_t>(c);
}

}  // namespace siamese
