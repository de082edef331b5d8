#pragma once
// zlib inflation to an exactly known size, shared by the .npz (raw deflate) and HDF5 (zlib stream)
// readers: a stream that ends early, runs long or is corrupt is refused, inputs and outputs of any
// size are fed to zlib's 32-bit counters 1 GiB at a time.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace siamese::detail {

/// Inflates `in` to exactly `want` bytes into `out`: window_bits = MAX_WBITS for a zlib stream,
/// -MAX_WBITS for raw deflate. Returns an empty string on success, else what is wrong.
inline std::string inflate_exact(std::string_view in, std::size_t want, int window_bits, std::string& out) {
  out.assign(want + 1, '\0');  // one spare byte catches a stream that is too long
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return "zlib cannot start inflating";
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  std::size_t in_left = in.size(), out_left = out.size();
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.avail_in == 0) z.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, 1u << 30)), in_left -= z.avail_in;
    if (z.avail_out == 0) z.avail_out = static_cast<uInt>(std::min<std::size_t>(out_left, 1u << 30)), out_left -= z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    // Out of input or output space with more of it still to hand over: not an error yet.
    if (rc == Z_BUF_ERROR && ((z.avail_in == 0 && in_left) || (z.avail_out == 0 && out_left))) rc = Z_OK;
  }
  std::string why;
  if (rc != Z_STREAM_END) why = z.msg ? z.msg : "stream incomplete or longer than expected";
  else if (z.total_out != want)
    why = "inflates to " + std::to_string(z.total_out) + " bytes, " + std::to_string(want) + " expected";
  inflateEnd(&z);
  if (why.empty()) out.resize(want);
  return why;
}

}  // namespace siamese::detail
