#pragma once
// Helpers of the hardening tests: temporary files, little- and big-endian byte strings, zlib's CRC32.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

namespace hardening {

// A path in the temporary folder unique to this process and name.
inline std::filesystem::path temp(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("siamese_hardening_" + std::to_string(::getpid()) + "_" + name);
}
inline std::filesystem::path write(const std::string& name, const std::string& bytes) {
  const auto p = temp(name);
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  return p;
}
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
// The bytes of v, little-endian (this machine's order: x86-64), floats as their bit pattern.
template <class T>
std::string le(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
inline std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
inline std::uint32_t crc(const std::string& s) {
  return static_cast<std::uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}
// The file with its last 4 bytes replaced by the CRC32 of the rest (weight, checkpoint and index files).
inline std::string with_crc(std::string body) { return body + le(crc(body)); }

}  // namespace hardening
