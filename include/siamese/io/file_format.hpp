#pragma once
// The library's binary container for weights and checkpoints: a signature, named tensors, a CRC32.
// Every number is little-endian (io/byte_order.hpp); the file is written atomically (io/atomic_write.hpp):
// a crash mid-write leaves the old file intact.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "atomic_write.hpp"
#include "byte_order.hpp"
#include "crc32.hpp"

namespace siamese {

/// A named tensor of a weight file.
struct NamedTensor {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::vector<float> data;
};

/// The contents of a weights or checkpoint file.
struct WeightFile {
  std::string kind;       // "weights" or "checkpoint"
  std::string signature;  // the model's architecture, derived from its type
  std::vector<NamedTensor> tensors;

  const NamedTensor* find(const std::string& name) const {
    for (const auto& t : tensors)
      if (t.name == name) return &t;
    return nullptr;
  }
};

namespace detail {
inline constexpr char kMagic[8] = {'S', 'I', 'A', 'M', 'E', 'S', 'E', 'W'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 34;  // 64 GiB of floats: refuse beyond

struct Writer {
  std::string buf;
  template <class T>
  void put(T v) { detail::le::append(buf, v); }
  void put_str(const std::string& s) {
    put(std::uint32_t(s.size()));
    buf += s;
  }
};

struct Reader {
  const std::string& buf;
  std::size_t pos;
  const std::string& file;
  void need(std::size_t n, const char* what) {
    if (buf.size() - pos < n)
      throw FileError("'" + file + "': truncated file: " + what + " needs " + std::to_string(n) +
                      " bytes at offset " + std::to_string(pos) + ", but the file ends at " + std::to_string(buf.size()));
  }
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    const T v = detail::le::load<T>(buf.data() + pos);
    pos += sizeof v;
    return v;
  }
  std::string get_str(const char* what) {
    const auto n = get<std::uint32_t>(what);
    need(n, what);
    std::string s = buf.substr(pos, n);
    pos += n;
    return s;
  }
};
}  // namespace detail

/// Writes `f` to `path` atomically: the bytes go to a temporary file beside it, are flushed to disk,
/// then renamed over `path`.
inline void write_weight_file(const std::filesystem::path& path, const WeightFile& f) {
  detail::Writer w;
  w.buf.append(detail::kMagic, 8);
  w.put(detail::kVersion);
  w.put_str(f.kind);
  w.put_str(f.signature);
  w.put(std::uint64_t(f.tensors.size()));
  for (const auto& t : f.tensors) {
    w.put_str(t.name);
    w.put(std::uint32_t(t.shape.size()));
    for (auto d : t.shape) w.put(d);
    w.put(std::uint64_t(t.data.size()));
    detail::le::append_floats(w.buf, t.data.data(), t.data.size());
  }
  w.put(crc32_of(w.buf.data(), w.buf.size()));
  write_file_atomically(path, w.buf);
}

/// Reads and validates a file written by write_weight_file: magic, version, sizes, checksum.
inline WeightFile read_weight_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::FILE* fp = std::fopen(file.c_str(), "rb");
  if (!fp) throw FileError("'" + file + "': cannot open the file");
  std::string buf;
  char chunk[1 << 16];
  std::size_t r;
  while ((r = std::fread(chunk, 1, sizeof chunk, fp)) > 0) buf.append(chunk, r);
  std::fclose(fp);

  detail::Reader in{buf, 0, file};
  in.need(8, "the magic number");
  if (std::memcmp(buf.data(), detail::kMagic, 8) != 0)
    throw FileError("'" + file + "': not a siamese weights file (wrong magic number)");
  in.pos = 8;
  const auto version = in.get<std::uint32_t>("the version");
  if (version != detail::kVersion)
    throw FileError("'" + file + "': format version " + std::to_string(version) + " is not supported (expected " +
                    std::to_string(detail::kVersion) + ")");
  if (buf.size() < 16) in.need(16, "the checksum");
  const std::size_t body = buf.size() - 4;
  const auto stored = detail::le::load<std::uint32_t>(buf.data() + body);
  const auto crc = crc32_of(buf.data(), body);
  WeightFile f;
  f.kind = in.get_str("the kind");
  f.signature = in.get_str("the signature");
  const auto count = in.get<std::uint64_t>("the tensor count");
  if (count > (buf.size() / 16))
    throw FileError("'" + file + "': claims " + std::to_string(count) + " tensors, more than the file can hold");
  for (std::uint64_t i = 0; i < count; ++i) {
    NamedTensor t;
    t.name = in.get_str("a tensor name");
    const auto rank = in.get<std::uint32_t>("a tensor rank");
    if (rank > 8) throw FileError("'" + file + "': tensor '" + t.name + "' claims rank " + std::to_string(rank));
    std::uint64_t elems = 1;
    for (std::uint32_t k = 0; k < rank; ++k) {
      t.shape.push_back(in.get<std::uint64_t>("a tensor extent"));
      elems *= t.shape.back();
      if (t.shape.back() > detail::kMaxElements || elems > detail::kMaxElements)
        throw FileError("'" + file + "': tensor '" + t.name + "' claims an absurd size");
    }
    const auto n = in.get<std::uint64_t>("a tensor size");
    if (n != elems)
      throw FileError("'" + file + "': tensor '" + t.name + "' holds " + std::to_string(n) +
                      " values but its shape needs " + std::to_string(elems));
    in.need(n * sizeof(float), ("the values of tensor '" + t.name + "'").c_str());
    t.data.resize(n);
    detail::le::load_floats(buf.data() + in.pos, n, t.data.data());
    in.pos += n * sizeof(float);
    f.tensors.push_back(std::move(t));
  }
  if (in.pos != body)
    throw FileError("'" + file + "': " + std::to_string(body - in.pos) + " unexpected bytes after the last tensor");
  if (crc != stored) throw FileError("'" + file + "': checksum mismatch: the file is corrupt");
  return f;
}

}  // namespace siamese
