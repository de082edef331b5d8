#pragma once
// IDX files (MNIST, Fashion-MNIST): gzip-compressed or plain, read through zlib.

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/errors.hpp"

namespace siamese {

// `count` grey-scale images of rows x cols pixels, row-major and scaled to [0, 1], with one class label each.
// Requires pixels.size() == count * rows * cols and labels.size() == count (labels may be empty for images
// read without their label file).
struct ImageSet {
  std::size_t count = 0;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> pixels;
  std::vector<std::uint8_t> labels;

  std::size_t image_size() const noexcept { return rows * cols; }
  std::span<const float> image(std::size_t i) const {
    if (i >= count) throw std::out_of_range("siamese::ImageSet::image: index " + std::to_string(i) +
                                            " out of range (count " + std::to_string(count) + ")");
    return {pixels.data() + i * image_size(), image_size()};
  }
};

// A training set split into the part to train on and a held-out validation part.
struct TrainValidation {
  ImageSet train;
  ImageSet validation;
};

namespace detail {

// Refuse sizes beyond this many elements before allocating anything: no IDX file of interest is that large.
inline constexpr std::uint64_t idx_max_elements = std::uint64_t{1} << 31;

// Built by append: g++ 12 gives a false -Wrestrict on "'" + std::string&&.
inline std::string quoted(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s.append(p.string()).push_back('\'');
  return s;
}

// Owns a gzFile; gzopen reads plain files unchanged, so one code path serves both.
class GzReader {
 public:
  explicit GzReader(const std::filesystem::path& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw DataError("siamese: IDX file " + quoted(path) + " does not exist");
    if (std::filesystem::is_directory(path, ec))
      throw DataError("siamese: IDX path " + quoted(path) + " is a directory, not a file");
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr)
      throw DataError("siamese: cannot open IDX file " + quoted(path) + ": " +
                      (errno != 0 ? std::strerror(errno) : "zlib could not allocate its state"));
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }

  // Reads up to n bytes; returns how many were read (fewer only at the end of the data).
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < n) {
      // gzread takes an unsigned and returns an int: read in chunks well below INT_MAX.
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, std::size_t{1} << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(file_, &code);
        throw DataError("siamese: IDX file " + quoted(path_) + " is corrupt (zlib: " +
                        (msg != nullptr ? msg : "unknown error") + ") after " + std::to_string(done) +
                        " bytes of its payload");
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

  // Reads exactly n bytes or throws, naming what was being read and how much was missing.
  void read_exact(void* dst, std::size_t n, std::string_view what) {
    const std::size_t got = read(dst, n);
    if (got != n)
      throw DataError("siamese: IDX file " + quoted(path_) + " is truncated: expected " + std::to_string(n) +
                      " bytes of " + std::string(what) + ", read " + std::to_string(got));
  }

  // read_exact into a vector grown chunk by chunk: a header claiming more than the file holds is refused having
  // allocated about what the file does hold, not what it claims.
  std::vector<std::uint8_t> read_vector(std::size_t n, std::string_view what) {
    constexpr std::size_t chunk = std::size_t{1} << 24;
    std::vector<std::uint8_t> out;
    while (out.size() < n) {
      const std::size_t have = out.size(), want = std::min(chunk, n - have);
      out.resize(have + want);
      const std::size_t got = read(out.data() + have, want);
      if (got != want)
        throw DataError("siamese: IDX file " + quoted(path_) + " is truncated: expected " + std::to_string(n) +
                        " bytes of " + std::string(what) + ", read " + std::to_string(have + got));
    }
    return out;
  }

  bool at_end() {
    unsigned char extra = 0;
    return read(&extra, 1) == 0;
  }

 private:
  std::filesystem::path path_;
  gzFile file_ = nullptr;
};

inline std::uint32_t big_endian_u32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Reads the magic number and dimensions of an unsigned-byte IDX file with `ndims` dimensions.
inline std::vector<std::uint64_t> read_idx_header(GzReader& in, const std::filesystem::path& path,
                                                  unsigned ndims) {
  std::array<unsigned char, 4> magic{};
  in.read_exact(magic.data(), 4, "magic number");
  const std::uint32_t expected = 0x00000800u | ndims;
  const std::uint32_t got = big_endian_u32(magic.data());
  if (got != expected) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "wrong magic number 0x%08X (expected 0x%08X: unsigned bytes, %u dimensions)",
                  static_cast<unsigned>(got), static_cast<unsigned>(expected), ndims);
    throw DataError("siamese: IDX file " + quoted(path) + " has a " + buf);
  }
  std::vector<std::uint64_t> dims(ndims);
  std::uint64_t total = 1;
  for (unsigned d = 0; d < ndims; ++d) {
    std::array<unsigned char, 4> b{};
    in.read_exact(b.data(), 4, "header (dimension " + std::to_string(d) + ")");
    dims[d] = big_endian_u32(b.data());
    total *= dims[d];  // each factor < 2^32 and the running product is checked below, so no overflow
    if (total > idx_max_elements)
      throw DataError("siamese: IDX file " + quoted(path) + " claims more than 2^31 elements (dimension " +
                      std::to_string(d) + " is " + std::to_string(dims[d]) + "); refusing to allocate");
  }
  return dims;
}

inline void expect_end(GzReader& in, const std::filesystem::path& path, std::uint64_t payload) {
  if (!in.at_end())
    throw DataError("siamese: IDX file " + quoted(path) + " has trailing data after the " +
                    std::to_string(payload) + " bytes its header announces");
}

// Unbiased integer in [0, n) from a 64-bit engine; our own mapping so results match on every standard library.
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("siamese::detail::uniform_below: empty range");
  const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: reject the incomplete last block
  for (;;) {
    const std::uint64_t x = rng();
    if (x >= threshold) return x % n;
  }
}

// Fisher-Yates with uniform_below, reproducible across standard libraries (std::shuffle is not).
template <class T>
void shuffle(std::span<T> v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

inline ImageSet subset(const ImageSet& set, std::span<const std::size_t> idx) {
  ImageSet out;
  out.count = idx.size();
  out.rows = set.rows;
  out.cols = set.cols;
  const std::size_t sz = set.image_size();
  out.pixels.resize(idx.size() * sz);
  if (!set.labels.empty()) out.labels.resize(idx.size());
  for (std::size_t k = 0; k < idx.size(); ++k) {
    std::copy_n(set.pixels.begin() + static_cast<std::ptrdiff_t>(idx[k] * sz), sz,
                out.pixels.begin() + static_cast<std::ptrdiff_t>(k * sz));
    if (!set.labels.empty()) out.labels[k] = set.labels[idx[k]];
  }
  return out;
}

}  // namespace detail

namespace detail {
// An IDX3 unsigned-byte image file's extents and pixel bytes, checked (load_idx_images' contract).
struct IdxImageBytes {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> raw;
};
inline IdxImageBytes read_idx_image_bytes(const std::filesystem::path& path) {
  detail::GzReader in(path);
  const auto dims = detail::read_idx_header(in, path, 3);
  if (dims[0] == 0) throw DataError("siamese: IDX file " + detail::quoted(path) + " holds no images (its header says 0)");
  if (dims[1] == 0 || dims[2] == 0)
    throw DataError("siamese: IDX file " + detail::quoted(path) + " declares empty images (" +
                    std::to_string(dims[1]) + " x " + std::to_string(dims[2]) + ")");
  const std::size_t n = static_cast<std::size_t>(dims[0] * dims[1] * dims[2]);
  IdxImageBytes out{dims[0], dims[1], dims[2],
                    in.read_vector(n, "pixel data (" + std::to_string(dims[0]) + " images of " +
                                          std::to_string(dims[1]) + " x " + std::to_string(dims[2]) + ")")};
  detail::expect_end(in, path, n);
  return out;
}
// Pixel bytes to floats in [0, 1], into raw.size() floats at `out`.
inline void scale_pixels(const std::vector<std::uint8_t>& raw, float* out) {
  std::transform(raw.begin(), raw.end(), out, [](std::uint8_t v) { return static_cast<float>(v) * (1.0f / 255.0f); });
}
}  // namespace detail

// Reads an IDX3 unsigned-byte image file (magic 0x00000803); the returned set has no labels. A file of no
// images is a DataError, as is a label file of no labels.
inline ImageSet load_idx_images(const std::filesystem::path& path) {
  const detail::IdxImageBytes bytes = detail::read_idx_image_bytes(path);
  ImageSet set;
  set.count = bytes.count;
  set.rows = bytes.rows;
  set.cols = bytes.cols;
  set.pixels.resize(bytes.raw.size());
  detail::scale_pixels(bytes.raw, set.pixels.data());
  return set;
}

// Reads an IDX1 unsigned-byte label file (magic 0x00000801).
inline std::vector<std::uint8_t> load_idx_labels(const std::filesystem::path& path) {
  detail::GzReader in(path);
  const auto dims = detail::read_idx_header(in, path, 1);
  if (dims[0] == 0) throw DataError("siamese: IDX file " + detail::quoted(path) + " holds no labels (its header says 0)");
  std::vector<std::uint8_t> labels = in.read_vector(dims[0], "labels (" + std::to_string(dims[0]) + " of them)");
  detail::expect_end(in, path, labels.size());
  return labels;
}

// Loads `<split>-images-idx3-ubyte[.gz]` and `<split>-labels-idx1-ubyte[.gz]` from `dir`;
// split is "train" or "t10k" ("test" is accepted for "t10k").
inline ImageSet load_mnist(const std::filesystem::path& dir, std::string_view split) {
  std::string prefix(split);
  if (prefix == "test") prefix = "t10k";
  if (prefix != "train" && prefix != "t10k")
    throw std::invalid_argument("siamese::load_mnist: split must be \"train\" or \"t10k\", got \"" +
                                std::string(split) + "\"");
  const auto find = [&](const std::string& stem) {
    // Distributions ship .gz, unpacked files, or the dotted names of the original MNIST site.
    std::string dotted = stem;
    dotted[dotted.find('-', prefix.size() + 1)] = '.';
    for (const std::string& name : {stem + ".gz", stem, dotted, dotted + ".gz"}) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(dir / name, ec)) return dir / name;
    }
    return dir / (stem + ".gz");  // does not exist: the loader reports it by this name
  };
  const auto images_path = find(prefix + "-images-idx3-ubyte");
  const auto labels_path = find(prefix + "-labels-idx1-ubyte");
  ImageSet set = load_idx_images(images_path);
  set.labels = load_idx_labels(labels_path);
  if (set.labels.size() != set.count)
    throw DataError("siamese: " + detail::quoted(images_path) + " holds " + std::to_string(set.count) +
                    " images but " + detail::quoted(labels_path) + " holds " + std::to_string(set.labels.size()) +
                    " labels");
  return set;
}

// Splits `set` at random into train and validation parts; validation gets round(fraction * count) images.
// Both parts keep the original order of their images. Requires 0 <= fraction <= 1.
inline TrainValidation train_validation_split(const ImageSet& set, double fraction, std::uint64_t seed) {
  if (!(fraction >= 0.0 && fraction <= 1.0))
    throw std::invalid_argument("siamese::train_validation_split: fraction must lie in [0, 1], got " +
                                std::to_string(fraction));
  if (set.pixels.size() != set.count * set.image_size() || (!set.labels.empty() && set.labels.size() != set.count))
    throw std::invalid_argument("siamese::train_validation_split: ImageSet sizes disagree with its count " +
                                std::to_string(set.count));
  std::vector<std::size_t> order(set.count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  detail::shuffle(std::span<std::size_t>(order), rng);
  const auto n_val = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(set.count)));
  std::span<std::size_t> val(order.data(), n_val), train(order.data() + n_val, set.count - n_val);
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {detail::subset(set, train), detail::subset(set, val)};
}

}  // namespace siamese
