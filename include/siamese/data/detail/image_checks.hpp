#pragma once
// Checks of PNG and JPEG structure before stb_image decodes a file, for what Debian 12's stb_image (v2.27) gets
// wrong on hostile input: it writes past its Huffman tables when a JPEG table declares over 256 codes
// (CVE-2021-28021, fixed upstream in 2.28), and allocates what a PNG chunk claims before reading it.
#include <cstddef>
#include <string_view>

namespace siamese::detail {

// False when a DHT segment that stb_image could reach declares more than 256 codes in a table. Walks the markers
// as stb_image does (segment lengths, fill bytes, entropy-coded data scanned up to the next marker), reading
// zeros past the end as it does. True for data that does not start like a JPEG.
inline bool jpeg_huffman_tables_ok(std::string_view b) {
  const auto at = [&](std::size_t i) -> std::size_t { return i < b.size() ? static_cast<unsigned char>(b[i]) : 0u; };
  std::size_t p = 1;
  while (p < b.size() && at(p) == 0xFF) ++p;  // stb_image accepts fill bytes before SOI too
  if (at(0) != 0xFF || at(p) != 0xD8) return true;
  ++p;
  while (p < b.size()) {
    if (at(p) != 0xFF) {  // entropy-coded data, or junk that stb_image skips
      ++p;
      continue;
    }
    std::size_t q = p + 1;
    while (q < b.size() && at(q) == 0xFF) ++q;  // fill bytes
    const std::size_t m = at(q);
    p = q + 1;
    if (m == 0xD9) return true;                                        // EOI: stb_image reads no further
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // stuffed 0xFF, TEM, RSTn, SOI
    const std::size_t len = (at(p) << 8) | at(p + 1);
    if (m != 0xC4) {
      p += len;  // for SOS the header; its entropy-coded data is then scanned byte by byte
      continue;
    }
    // stb_image reads tables while the remaining length is positive, possibly past the declared end.
    long left = static_cast<long>(len) - 2;
    std::size_t t = p + 2;
    while (left > 0 && t < b.size()) {
      std::size_t codes = 0;
      for (std::size_t i = 0; i < 16; ++i) codes += at(t + 1 + i);
      if (codes > 256) return false;
      t += 17 + codes;
      left -= static_cast<long>(17 + codes);
    }
    p = t;
  }
  return true;
}

// False when a PNG chunk, up to IEND, declares more bytes than the file holds after it. True for data that does
// not start like a PNG.
inline bool png_chunks_fit(std::string_view b) {
  if (b.substr(0, 8) != std::string_view("\x89PNG\r\n\x1a\n", 8)) return true;
  const auto be32 = [&](std::size_t i) {
    return static_cast<std::size_t>(static_cast<unsigned char>(b[i])) << 24 |
           static_cast<std::size_t>(static_cast<unsigned char>(b[i + 1])) << 16 |
           static_cast<std::size_t>(static_cast<unsigned char>(b[i + 2])) << 8 | static_cast<unsigned char>(b[i + 3]);
  };
  for (std::size_t p = 8; b.size() - p >= 8;) {
    const std::size_t len = be32(p);
    if (len > b.size() - p - 8) return false;  // the chunk's data (its CRC may be cut: stb_image reports that)
    if (b.substr(p + 4, 4) == "IEND") break;
    p += 12 + len;
    if (p > b.size()) break;
  }
  return true;
}

}  // namespace siamese::detail
