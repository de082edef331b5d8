#pragma once
// Hugging Face .safetensors weight files: an 8-byte little-endian header length N, N bytes of JSON describing
// each tensor (dtype, shape, byte range), then the tensors' raw little-endian bytes. The reader checks the
// whole layout when the file is opened, as the format's specification requires, and reads tensors on demand
// with pread: a damaged or hostile file ends in a FileError, never in a crash or an allocation its size does
// not justify. Needs nlohmann-json (header-only; Debian's nlohmann-json3-dev), which the rest of the
// library does not: this header is not part of <siamese/siamese.hpp>.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "detail/half.hpp"
#include "npz.hpp"

namespace siamese {

static_assert(std::endian::native == std::endian::little,
              "siamese reads .safetensors files (little-endian data) only on little-endian machines");

/// One tensor of a .safetensors file as its header describes it: the dtype as the format spells it ("F32",
/// "BF16", "I64", ...), the row-major shape, and its bytes [begin, end) within the data after the header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<std::size_t> shape;
  std::uint64_t begin = 0, end = 0;

  std::size_t count() const {  // the opened file has checked that this does not overflow
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

namespace detail {
/// Bits per element of the format's dtypes; 0 for a name the format does not define.
inline unsigned safetensors_dtype_bits(std::string_view dtype) {
  static constexpr std::pair<std::string_view, unsigned> known[] = {
      {"BOOL", 8},   {"U8", 8},        {"I8", 8},        {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
      {"U16", 16},   {"F16", 16},      {"BF16", 16},     {"I32", 32},    {"U32", 32},    {"F32", 32},    {"F64", 64},
      {"I64", 64},   {"U64", 64},      {"C64", 64},      {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}};
  for (const auto& [name, bits] : known)
    if (name == dtype) return bits;
  return 0;
}
inline bool safetensors_float(std::string_view dtype) { return dtype == "F32" || dtype == "F16" || dtype == "BF16"; }
/// Integer and boolean tensors are buffers (BERT's position_ids), not weights: read_all leaves them out.
inline bool safetensors_integral(std::string_view dtype) {
  return dtype == "BOOL" || dtype.starts_with("I") || dtype.starts_with("U");
}

/// The first pass over a header: refuses duplicate keys (the format forbids them; nlohmann's DOM keeps the last
/// silently), nesting deeper than the format's (tensor -> shape), descriptions of many keys, and what is not
/// JSON. Stops at the first problem: `tensor_problem` (about `tensor`) or `problem`.
struct SafetensorsHeaderCheck : nlohmann::json_sax<nlohmann::json> {
  std::string tensor, tensor_problem, problem;
  std::vector<std::set<std::string, std::less<>>> keys;  // the keys of each open object, innermost last
  std::size_t depth = 0;                                 // open objects and arrays

  bool about_tensor(std::string why) {
    tensor_problem = std::move(why);
    return false;
  }
  bool open(bool object) {
    if (++depth > 3) return about_tensor("the header nests deeper than the format's JSON does");
    if (object) keys.emplace_back();
    return true;
  }
  bool start_object(std::size_t) override { return open(true); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_object() override {
    keys.pop_back();
    --depth;
    return true;
  }
  bool end_array() override {
    --depth;
    return true;
  }
  bool key(std::string& k) override {
    if (depth == 1) tensor = k;
    auto& seen = keys.back();
    if (depth > 1 && tensor != "__metadata__" && seen.size() >= 16)
      return about_tensor("more keys than a tensor's description has");
    if (!seen.insert(k).second)
      return about_tensor(depth == 1 ? "the name appears twice in the header (the format forbids duplicates)"
                                     : "key '" + k + "' appears twice");
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    problem = ex.what();  // it quotes the token read last, which may be as long as the header
    if (problem.size() > 300) problem = problem.substr(0, 300) + "...";
    problem = "the header is not valid JSON: " + problem;
    return false;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(std::int64_t) override { return true; }
  bool number_unsigned(std::uint64_t) override { return true; }
  bool number_float(double, const std::string&) override { return true; }
  bool string(std::string&) override { return true; }
  bool binary(nlohmann::json::binary_t&) override { return true; }
};

/// A read-only file descriptor, closed with its owner.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }

 private:
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};
}  // namespace detail

/// An opened .safetensors file: its tensors' descriptions, checked against the file, and their values on
/// demand. Opening refuses, with a FileError naming the file, the reason and the tensor where one applies:
/// a file shorter than its header says; a header longer than the format's 100 MB limit, not starting with
/// '{', not JSON, or nesting deeper than the format does; duplicate names (or keys); a dtype the format
/// does not define; a negative, non-integer or overflowing extent; data_offsets out of the data, reversed,
/// or not holding exactly shape x dtype size bytes; tensors that overlap, or leave bytes of the data to no
/// tensor (the format requires them to cover it exactly); '__metadata__' other than a map of strings.
/// Values are read as float from F32, F16 and BF16 tensors (widened exactly); other dtypes are refused
/// when read. Reading is const and thread-safe (pread); the object is movable, not copyable.
class SafetensorsFile {
 public:
  static constexpr std::uint64_t max_header_bytes = 100'000'000;  // the format's own limit

  explicit SafetensorsFile(const std::filesystem::path& path) : file_(path.string()) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open file (" + std::string(std::strerror(errno)) + ")");
    fd_ = detail::Fd(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) fail("not a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < 8)
      fail("truncated: " + std::to_string(size) + " bytes, shorter than the 8-byte header length that starts the format");
    unsigned char len[8];
    pread_all(reinterpret_cast<char*>(len), 8, 0);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
    if (n > max_header_bytes)
      fail("header length " + std::to_string(n) + " exceeds the format's limit of " + std::to_string(max_header_bytes) +
           " bytes (not a .safetensors file?)");
    if (n > size - 8)
      fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
           " bytes): truncated, or not a .safetensors file");
    data_start_ = 8 + n;
    data_size_ = size - data_start_;
    std::string header(static_cast<std::size_t>(n), '\0');
    pread_all(header.data(), header.size(), 8);
    parse_header(header);
  }

  /// The file's path, as error messages name it.
  const std::string& file() const { return file_; }
  /// Every tensor, in the order of their bytes in the file.
  const std::vector<SafetensorsEntry>& tensors() const { return entries_; }
  /// The header's '__metadata__' string map, in key order (empty when absent).
  const std::map<std::string, std::string, std::less<>>& metadata() const { return metadata_; }
  /// Where the tensors' data starts in the file: 8 plus the header length.
  std::uint64_t data_start() const { return data_start_; }

  const SafetensorsEntry* find(std::string_view name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &entries_[it->second];
  }
  /// The tensor `name`; FileError naming the file and the tensor when there is none.
  const SafetensorsEntry& entry(std::string_view name) const {
    if (const auto* e = find(name)) return *e;
    fail("has no tensor '" + std::string(name) + "'");
  }

  /// The values of tensor `name` (F32, F16 or BF16) as float, with its shape.
  NamedArray read(std::string_view name) const {
    const auto& e = entry(name);
    NamedArray a{e.name, e.shape, std::vector<float>(e.count())};
    read_values(e, a.data.data());
    return a;
  }

  /// Reads tensor `name` into the caller's `out`, which holds `shape`: a FileError names the file and the
  /// tensor when its shape in the file differs; a ShapeError when `out` does not hold as many floats as `shape`.
  void read_into(std::string_view name, std::span<const std::size_t> shape, std::span<float> out) const {
    std::size_t n = 1;
    for (auto d : shape) n = d != 0 && n > std::numeric_limits<std::size_t>::max() / d ? 0 : n * d;
    if (n != out.size())
      throw ShapeError("SafetensorsFile::read_into('" + std::string(name) + "'): a buffer of " + std::to_string(out.size()) +
                       " floats for shape " + Tensor::shape_str(std::vector<std::size_t>(shape.begin(), shape.end())));
    const auto& e = entry(name);
    if (!std::equal(shape.begin(), shape.end(), e.shape.begin(), e.shape.end()))
      fail(e.name, "has shape " + Tensor::shape_str(e.shape) + ", expected " +
                       Tensor::shape_str(std::vector<std::size_t>(shape.begin(), shape.end())));
    read_values(e, out.data());
  }

  /// Every float tensor (F32, F16, BF16) as float arrays, in file order, for import_arrays. Integer and
  /// boolean tensors (buffers such as position_ids) are left out; a tensor of another float dtype (F64,
  /// 8-bit floats, ...) is refused with a FileError naming it.
  ArrayFile read_all() const {
    ArrayFile out{file_, {}};
    for (const auto& e : entries_)
      if (!detail::safetensors_integral(e.dtype)) out.arrays.push_back(read(e.name));
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw FileError("'" + file_ + "': " + why); }
  [[noreturn]] void fail(std::string_view tensor, const std::string& why) const {
    fail("tensor '" + std::string(tensor) + "': " + why);
  }

  void pread_all(char* dst, std::size_t n, std::uint64_t at) const {
    while (n > 0) {
      const ::ssize_t got = ::pread(fd_.get(), dst, n, static_cast<::off_t>(at));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("read error at byte " + std::to_string(at) + " (" + std::strerror(errno) + ")");
      if (got == 0) fail("truncated: the file ended at byte " + std::to_string(at) + " while reading (changed since it was opened?)");
      dst += got, n -= static_cast<std::size_t>(got), at += static_cast<std::uint64_t>(got);
    }
  }

  void read_values(const SafetensorsEntry& e, float* dst) const {
    if (!detail::safetensors_float(e.dtype))
      fail(e.name, "dtype " + e.dtype + " is not supported: only F32, F16 and BF16 tensors are read (as float)");
    const std::uint64_t at = data_start_ + e.begin;
    const std::size_t n = e.count();
    if (e.dtype == "F32") {
      pread_all(reinterpret_cast<char*>(dst), n * 4, at);  // little-endian, as on this machine
      return;
    }
    const bool half = e.dtype == "F16";
    constexpr std::size_t chunk = 1 << 15;  // values per read: a bounded buffer, however large the tensor
    std::vector<unsigned char> buf(2 * std::min(chunk, n));
    for (std::size_t i = 0; i < n; i += chunk) {
      const std::size_t m = std::min(chunk, n - i);
      pread_all(reinterpret_cast<char*>(buf.data()), 2 * m, at + 2 * i);
      for (std::size_t k = 0; k < m; ++k) {
        const auto v = static_cast<std::uint16_t>(buf[2 * k] | (buf[2 * k + 1] << 8));
        dst[i + k] = half ? detail::half_to_float(v) : detail::bfloat16_to_float(v);
      }
    }
  }

  void parse_header(const std::string& h) {
    using json = nlohmann::json;
    if (h.empty() || h[0] != '{')
      fail("the header does not start with '{' (not a .safetensors file, or a damaged one)");
    if (h.find('\0') != std::string::npos) fail("the header holds a NUL byte at " + std::to_string(h.find('\0')));
    // A first pass (SAX, linear, allocating little) refuses what the DOM would hide or pay for: nlohmann keeps
    // the last of duplicate keys silently, and the format forbids them; nesting deeper than tensor -> shape.
    detail::SafetensorsHeaderCheck check;
    const bool ok = json::sax_parse(h, &check);
    if (!check.tensor_problem.empty()) fail(check.tensor, check.tensor_problem);
    if (!ok || !check.problem.empty()) fail(check.problem);
    json root;
    try {
      root = json::parse(h);
    } catch (const json::exception& ex) {  // the first pass has refused what this would
      fail("the header is not valid JSON: " + std::string(ex.what()));
    }
    if (!root.is_object()) fail("the header is not a JSON object");
    for (auto& [name, v] : root.items()) {
      if (name == "__metadata__") {
        if (!v.is_object()) fail("'__metadata__' is not a map of strings");
        for (auto& [k, s] : v.items()) {
          if (!s.is_string()) fail("'__metadata__' key '" + k + "' is not a string (the format allows only strings)");
          metadata_.emplace(k, s.get<std::string>());
        }
        continue;
      }
      entries_.push_back(parse_entry(name, v));
    }
    std::sort(entries_.begin(), entries_.end(),
              [](const auto& a, const auto& b) { return std::pair(a.begin, a.end) < std::pair(b.begin, b.end); });
    std::uint64_t covered = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const auto& e = entries_[i];
      if (e.begin < covered)
        fail(e.name, "bytes [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlap tensor '" +
                         entries_[i - 1].name + "' (bytes [" + std::to_string(entries_[i - 1].begin) + ", " +
                         std::to_string(entries_[i - 1].end) + "))");
      if (e.begin > covered)
        fail(e.name, "a gap: bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) +
                         ") of the data before it belong to no tensor (the format requires the tensors to cover the data exactly)");
      covered = e.end;
      by_name_.emplace(e.name, i);
    }
    if (covered != data_size_)
      fail("bytes [" + std::to_string(covered) + ", " + std::to_string(data_size_) +
           ") at the end of the data belong to no tensor (the format requires the tensors to cover the data exactly)");
  }

  SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& v) const {
    if (!v.is_object()) fail(name, "its description is not a JSON object");
    auto field = [&](const char* key) -> const nlohmann::json& {
      const auto it = v.find(key);
      if (it == v.end()) fail(name, std::string("no '") + key + "' in its description");
      return *it;
    };
    SafetensorsEntry e{name, {}, {}, 0, 0};
    const auto& dt = field("dtype");
    if (!dt.is_string()) fail(name, "'dtype' is not a string");
    e.dtype = dt.get<std::string>();
    const unsigned bits = detail::safetensors_dtype_bits(e.dtype);
    if (bits == 0) fail(name, "unknown dtype '" + e.dtype + "'");
    const auto& sh = field("shape");
    if (!sh.is_array()) fail(name, "'shape' is not an array");
    std::uint64_t count = 1;
    bool overflow = false;
    for (const auto& d : sh) {
      if (d.is_number_integer() && !d.is_number_unsigned()) fail(name, "negative extent " + d.dump() + " in 'shape'");
      if (!d.is_number_unsigned()) fail(name, "extent " + d.dump() + " in 'shape' is not a non-negative integer");
      const auto x = d.get<std::uint64_t>();
      if (x > std::numeric_limits<std::size_t>::max()) fail(name, "extent " + d.dump() + " in 'shape' is too large");
      e.shape.push_back(static_cast<std::size_t>(x));
      if (x != 0 && count > std::numeric_limits<std::uint64_t>::max() / x) overflow = true;
      else count *= x;
    }
    const auto& off = field("data_offsets");
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(name, "'data_offsets' is not a pair of non-negative integers: " + off.dump());
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    if (e.end < e.begin)
      fail(name, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] end before they begin");
    if (e.end > data_size_)
      fail(name, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] run past the end of the data (" +
                     std::to_string(data_size_) + " bytes): truncated file or damaged header");
    const std::uint64_t have = e.end - e.begin;
    // a shape's product may overflow 64 bits only when a zero extent makes it 0: then it holds nothing
    const bool empty = std::find(e.shape.begin(), e.shape.end(), std::size_t{0}) != e.shape.end();
    if (overflow && !empty) fail(name, "shape " + Tensor::shape_str(e.shape) + " has more elements than 64 bits count");
    if (empty) count = 0;
    if (count > std::numeric_limits<std::uint64_t>::max() / bits || count * bits / 8 != have || count * bits % 8 != 0)
      fail(name, "shape " + Tensor::shape_str(e.shape) + " of " + e.dtype + " (" + std::to_string(bits) +
                     " bits each) does not fill its data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     "] of " + std::to_string(have) + " bytes");
    return e;
  }

  std::string file_;
  detail::Fd fd_;
  std::uint64_t data_start_ = 0, data_size_ = 0;
  std::vector<SafetensorsEntry> entries_;  // by their bytes
  std::map<std::string, std::size_t, std::less<>> by_name_;
  std::map<std::string, std::string, std::less<>> metadata_;
};

/// Reads every float tensor of a .safetensors file (see SafetensorsFile::read_all), e.g. for import_arrays.
inline ArrayFile read_safetensors(const std::filesystem::path& path) { return SafetensorsFile(path).read_all(); }

}  // namespace siamese
