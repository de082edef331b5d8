#pragma once
// Shared by the fuzz targets: the input as a temporary file, the CRC32 a checksummed format needs, and
// which exceptions count as a clean refusal of bad input.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unistd.h>

#include <siamese/core/errors.hpp>

namespace fuzz {

// A file unique to this process (libFuzzer's -jobs run several), rewritten with each input.
inline const std::string& temp_path(const char* tag = "in") {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    return std::string(t != nullptr && *t != '\0' ? t : "/tmp");
  }();
  thread_local std::string p;
  p = dir + "/siamese_fuzz_" + std::to_string(::getpid()) + "_" + tag;
  return p;
}

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size, const void* tail = nullptr,
                       std::size_t tail_size = 0) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size != 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  if (tail_size != 0 && std::fwrite(tail, 1, tail_size, f) != tail_size) std::abort();
  if (std::fclose(f) != 0) std::abort();
}

// Writes the input to the temporary file as is.
inline std::string input_file(const std::uint8_t* data, std::size_t size) {
  const std::string p = temp_path();
  write_file(p, data, size);
  return p;
}

// Writes the input followed by its CRC32 (little-endian): for checksummed formats the input is the file without
// its last 4 bytes, so the fuzzer reaches the code after the checksum test instead of stopping there.
inline std::string input_file_with_crc(const std::uint8_t* data, std::size_t size) {
  const auto crc = static_cast<std::uint32_t>(crc32_z(0L, data, size));
  const unsigned char tail[4] = {static_cast<unsigned char>(crc), static_cast<unsigned char>(crc >> 8),
                                 static_cast<unsigned char>(crc >> 16), static_cast<unsigned char>(crc >> 24)};
  const std::string p = temp_path();
  write_file(p, data, size, tail, 4);
  return p;
}

// A broken invariant: report it and abort, so libFuzzer keeps the input as a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}
inline void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

// Runs f: true when it returned, false when it refused the input. Bad input may be refused only with the
// library's error for it, siamese::FileError (or a loader's own kind, derived from it), whose message names the
// file when `name` is given; any other exception (out_of_range, length_error, bad_alloc, a bare runtime_error)
// is a finding.
template <class F>
bool accepted(F&& f, const std::string& name = {}) {
  try {
    f();
    return true;
  } catch (const siamese::FileError& e) {
    if (!name.empty() && std::string_view(e.what()).find(name) == std::string_view::npos) {
      std::fprintf(stderr, "fuzz: a refusal that does not name '%s': %s\n", name.c_str(), e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: unexpected %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return false;
}

}  // namespace fuzz
