#pragma once
// Named float arrays from numpy's .npz files (np.savez, np.savez_compressed), and their import into
// a model's parameters: how weights trained elsewhere (Keras, PyTorch) reach the library.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "../layers/layer.hpp"
#include "byte_order.hpp"
#include "crc32.hpp"
#include "detail/inflate.hpp"

namespace siamese {

/// A named float tensor read from a file: row-major (C order) values of the given shape.
struct NamedArray {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<float> data;
};

/// The arrays of one file, in file order; `file` names it in error messages.
struct ArrayFile {
  std::string file;
  std::vector<NamedArray> arrays;

  const NamedArray* find(std::string_view name) const {
    for (const auto& a : arrays)
      if (a.name == name) return &a;
    return nullptr;
  }
};

namespace detail {
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FileError("'" + path.string() + "': cannot open file");
  const auto size = in.tellg();
  if (size < 0 || !std::filesystem::is_regular_file(path)) throw FileError("'" + path.string() + "': not a regular file");
  std::string s(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(s.data(), static_cast<std::streamsize>(s.size())))
    throw FileError("'" + path.string() + "': read error");
  return s;
}

/// Parses one .npy file (format versions 1 to 3): '<f4' or '<f8', C order, any rank.
inline NamedArray parse_npy(const std::string& b, const std::string& file, std::string name) {
  const std::string where = "'" + file + "': array '" + name + "': ";
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw FileError(where + "not a .npy array (bad magic)");
  const int major = static_cast<unsigned char>(b[6]);
  if (major < 1 || major > 3) throw FileError(where + "unknown .npy format version " + std::to_string(major));
  const std::size_t hl = major == 1 ? detail::le::load<std::uint16_t>(b.data() + 8) : (b.size() < 12 ? ~std::size_t{0} : detail::le::load<std::uint32_t>(b.data() + 8));
  const std::size_t start = major == 1 ? 10 : 12;
  if (hl > b.size() - start) throw FileError(where + "truncated .npy header");
  const std::string h = b.substr(start, hl);
  auto value_of = [&](const char* key) {
    const auto k = h.find(std::string("'") + key + "'");
    if (k == std::string::npos) throw FileError(where + "the .npy header has no '" + key + "': " + h);
    auto v = h.find(':', k);
    if (v == std::string::npos) throw FileError(where + "malformed .npy header: " + h);
    v = h.find_first_not_of(' ', v + 1);
    return v == std::string::npos ? h.size() : v;
  };
  std::size_t v = value_of("descr");
  const char q = v < h.size() ? h[v] : ' ';
  const auto qe = h.find(q, v + 1);
  if ((q != '\'' && q != '"') || qe == std::string::npos) throw FileError(where + "malformed dtype in header: " + h);
  const std::string descr = h.substr(v + 1, qe - v - 1);
  if (descr != "<f4" && descr != "<f8")
    throw FileError(where + "dtype '" + descr + "' is not supported; store float32 ('<f4') or float64 ('<f8'), "
                    "e.g. with a.astype('<f4')");
  v = value_of("fortran_order");
  if (h.compare(v, 4, "True") == 0)
    throw FileError(where + "stored in Fortran order; save np.ascontiguousarray(a) instead");
  if (h.compare(v, 5, "False") != 0) throw FileError(where + "malformed fortran_order in header: " + h);
  v = value_of("shape");
  const auto close = h.find(')', v);
  if (h[v] != '(' || close == std::string::npos) throw FileError(where + "malformed shape in header: " + h);
  NamedArray a{std::move(name), {}, {}};
  const std::size_t item = descr == "<f4" ? 4 : 8, have = b.size() - start - hl;
  std::size_t count = 1;
  for (std::size_t i = v + 1; i < close;) {
    if (h[i] == ' ' || h[i] == ',') {
      ++i;
      continue;
    }
    if (h[i] < '0' || h[i] > '9') throw FileError(where + "malformed shape in header: " + h);
    std::size_t d = 0;
    while (i < close && h[i] >= '0' && h[i] <= '9') {
      if (d > (~std::size_t{0} - 9) / 10) throw FileError(where + "absurd extent in shape: " + h);
      d = d * 10 + std::size_t(h[i++] - '0');
    }
    a.shape.push_back(d);
    count = d != 0 && count > have / d ? have + 1 : count * d;  // saturates: more than the data can hold
  }
  if (have != count * item)
    throw FileError(where + "shape " + Tensor::shape_str(a.shape) + " of " + descr + " needs " +
                    (count > have ? "more than " + std::to_string(have) : std::to_string(count * item)) + " bytes of data, the array holds " + std::to_string(have));
  a.data.resize(count);
  const char* p = b.data() + start + hl;
  if (item == 4) {
    detail::le::load_floats(p, count, a.data.data());
  } else {
    for (std::size_t i = 0; i < count; ++i) a.data[i] = static_cast<float>(detail::le::load<double>(p + 8 * i));
  }
  return a;
}

inline std::string inflate_raw(const std::string& in, std::size_t out_size, const std::string& where) {
  std::string out;
  const std::string why = inflate_exact(in, out_size, -MAX_WBITS, out);
  if (!why.empty()) throw FileError(where + "corrupt deflate data (zlib: " + why + ")");
  return out;
}

struct ZipEntry {
  std::string name;
  std::uint16_t method, flags;
  std::uint32_t crc;
  std::uint64_t packed, size, offset;
};

/// The entries of a zip archive's central directory (zip64 included).
inline std::vector<ZipEntry> zip_directory(const std::string& b, const std::string& file) {
  const std::string where = "'" + file + "': ";
  if (b.size() < 22) throw FileError(where + "not a .npz (zip) file: " + std::to_string(b.size()) + " bytes");
  std::size_t eocd = std::string::npos;
  for (std::size_t i = b.size() - 22, stop = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;; --i) {
    if (detail::le::load<std::uint32_t>(b.data() + i) == 0x06054b50) {
      eocd = i;
      break;
    }
    if (i == stop) break;
  }
  if (eocd == std::string::npos) throw FileError(where + "not a .npz (zip) file: no end of central directory");
  std::uint64_t n = detail::le::load<std::uint16_t>(b.data() + eocd + 10), cd_size = detail::le::load<std::uint32_t>(b.data() + eocd + 12),
                cd = detail::le::load<std::uint32_t>(b.data() + eocd + 16);
  if (eocd >= 20 && detail::le::load<std::uint32_t>(b.data() + eocd - 20) == 0x07064b50) {  // zip64 locator
    const std::uint64_t z = detail::le::load<std::uint64_t>(b.data() + eocd - 20 + 8);
    if (b.size() < 56 || z > b.size() - 56 || detail::le::load<std::uint32_t>(b.data() + z) != 0x06064b50)
      throw FileError(where + "corrupt zip64 end of central directory");
    n = detail::le::load<std::uint64_t>(b.data() + z + 32);
    cd_size = detail::le::load<std::uint64_t>(b.data() + z + 40);
    cd = detail::le::load<std::uint64_t>(b.data() + z + 48);
  }
  if (cd > b.size() || cd_size > b.size() - cd) throw FileError(where + "truncated file: central directory out of range");
  std::vector<ZipEntry> out;
  for (std::uint64_t i = 0, p = cd; i < n; ++i) {
    if (p + 46 > cd + cd_size || detail::le::load<std::uint32_t>(b.data() + p) != 0x02014b50)
      throw FileError(where + "corrupt central directory at entry " + std::to_string(i));
    ZipEntry e{};
    e.flags = detail::le::load<std::uint16_t>(b.data() + p + 8);
    e.method = detail::le::load<std::uint16_t>(b.data() + p + 10);
    e.crc = detail::le::load<std::uint32_t>(b.data() + p + 16);
    e.packed = detail::le::load<std::uint32_t>(b.data() + p + 20);
    e.size = detail::le::load<std::uint32_t>(b.data() + p + 24);
    const std::size_t nl = detail::le::load<std::uint16_t>(b.data() + p + 28), xl = detail::le::load<std::uint16_t>(b.data() + p + 30),
                      cl = detail::le::load<std::uint16_t>(b.data() + p + 32);
    e.offset = detail::le::load<std::uint32_t>(b.data() + p + 42);
    if (p + 46 + nl + xl + cl > cd + cd_size) throw FileError(where + "corrupt central directory at entry " + std::to_string(i));
    e.name = b.substr(p + 46, nl);
    for (std::size_t x = p + 46 + nl, end = x + xl; x + 4 <= end;) {  // zip64 extra: only the saturated fields
      const std::uint16_t id = detail::le::load<std::uint16_t>(b.data() + x), len = detail::le::load<std::uint16_t>(b.data() + x + 2);
      std::size_t f = x + 4;
      if (id == 1) {
        for (std::uint64_t* v : {&e.size, &e.packed, &e.offset})
          if (*v == 0xFFFFFFFFu && f + 8 <= std::min<std::size_t>(x + 4 + len, end)) *v = detail::le::load<std::uint64_t>(b.data() + f), f += 8;
      }
      x += 4 + len;
    }
    out.push_back(std::move(e));
    p += 46 + nl + xl + cl;
  }
  return out;
}
}  // namespace detail

/// Reads every array of a numpy .npz file (np.savez or np.savez_compressed): zip entries stored or
/// deflated, each a .npy of float32 or float64 in C order (float64 is narrowed to float). Array names
/// are the entry names without ".npy" ("conv1_1/kernel"). A damaged file, another dtype, Fortran
/// order or a size that does not match the shape throws FileError naming the file and the array.
inline ArrayFile read_npz(const std::filesystem::path& path) {
  const std::string file = path.string(), b = detail::read_bytes(path);
  ArrayFile out{file, {}};
  for (const auto& e : detail::zip_directory(b, file)) {
    std::string name = e.name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    const std::string where = "'" + file + "': array '" + name + "': ";
    if (e.flags & 1) throw FileError(where + "encrypted zip entries are not supported");
    if (e.method != 0 && e.method != 8)
      throw FileError(where + "zip compression method " + std::to_string(e.method) + " is not supported (stored or deflate)");
    if (e.offset > b.size() || b.size() - e.offset < 30 || detail::le::load<std::uint32_t>(b.data() + e.offset) != 0x04034b50)
      throw FileError(where + "corrupt or truncated file: no local header at offset " + std::to_string(e.offset));
    const std::uint64_t data = e.offset + 30 + detail::le::load<std::uint16_t>(b.data() + e.offset + 26) +
                               detail::le::load<std::uint16_t>(b.data() + e.offset + 28);
    if (data > b.size() || e.packed > b.size() - data)
      throw FileError(where + "truncated file: the entry needs " + std::to_string(e.packed) + " bytes at offset " +
                      std::to_string(data) + ", the file ends at " + std::to_string(b.size()));
    std::string raw = b.substr(data, e.packed);
    if (e.method == 8 && e.size / 1032 > e.packed)  // deflate expands at most ~1032:1: refuse before allocating
      throw FileError(where + "claims " + std::to_string(e.size) + " bytes inflated from " + std::to_string(e.packed) +
                      ", more than deflate can produce");
    if (e.method == 8) raw = detail::inflate_raw(raw, e.size, where);
    else if (raw.size() != e.size) throw FileError(where + "stored entry size differs from its directory record");
    const auto crc = crc32_of(raw.data(), raw.size());
    if (crc != e.crc) throw FileError(where + "checksum mismatch: the file is corrupt");
    out.arrays.push_back(detail::parse_npy(raw, file, std::move(name)));
  }
  return out;
}

/// Copies arrays of `source` into a model's parameters (or states): each link is (library name,
/// array name), e.g. from vggface_weight_map. Every link is checked before anything changes: a link
/// to a name the model lacks throws std::invalid_argument; a missing array or one of another shape
/// throws FileError naming the file, the array and the parameter. Returns the number of arrays copied.
template <class Model>
std::size_t import_arrays(Model& model, const ArrayFile& source,
                          const std::vector<std::pair<std::string, std::string>>& links) {
  using B = typename Model::backend_type;
  struct Job {
    const ParamInfo* dst;
    float* base;
    const NamedArray* src;
  };
  std::vector<Job> jobs;
  for (const auto& [param, array] : links) {
    Job j{nullptr, nullptr, source.find(array)};
    for (const auto& p : model.parameter_info())
      if (p.name == param) j = {&p, model.parameters().data(), j.src};
    for (const auto& p : model.state_info())
      if (!j.dst && p.name == param) j = {&p, model.states().data(), j.src};
    if (!j.dst) throw std::invalid_argument("import_arrays: the model has no parameter '" + param + "'");
    if (!j.src)
      throw FileError("'" + source.file + "': has no array '" + array + "' (for parameter '" + param + "')");
    if (j.src->shape != j.dst->shape)
      throw FileError("'" + source.file + "': array '" + array + "' has shape " + Tensor::shape_str(j.src->shape) +
                      ", but parameter '" + param + "' has shape " + Tensor::shape_str(j.dst->shape));
    jobs.push_back(j);
  }
  for (const auto& j : jobs) B::to_device(j.base + j.dst->offset, j.src->data.data(), j.dst->size);
  return jobs.size();
}

}  // namespace siamese
