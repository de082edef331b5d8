// The HDF5 reader on committed files written by h5py (the old format Keras' save_weights writes by default,
// and libver='latest'), and on damaged copies of them: truncated, patched, mutated byte by byte. Every
// damaged file must end in a FileError naming the file, never in a crash, a hang or another exception.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <siamese/io/hdf5.hpp>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / ("siamese_test_h5r_" + std::to_string(::getpid()) + "_" + name);
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
void put64(std::string& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>(v >> (8 * i));
}

/// Reads bytes as a file: true when it loaded; a refusal must be a FileError that names the file.
bool loads(const std::string& bytes, const char* name = "damaged.h5") {
  const fs::path p = temp(name);
  spit(p, bytes);
  bool ok = false;
  try {
    const ArrayFile f = read_keras_h5(p);
    for (const auto& a : f.arrays) {
      std::size_t n = 1;
      for (auto d : a.shape) n *= d;
      REQUIRE(a.data.size() == n);
    }
    ok = true;
  } catch (const FileError& e) {
    const std::string prefix = "'" + p.string() + "': ";
    INFO(e.what());
    REQUIRE(std::string(e.what()).rfind(prefix, 0) == 0);
  }
  fs::remove(p);
  return ok;
}
std::string error_of(const std::string& bytes) {
  const fs::path p = temp("error.h5");
  spit(p, bytes);
  std::string msg;
  try {
    read_keras_h5(p);
  } catch (const FileError& e) {
    msg = e.what();
  }
  fs::remove(p);
  return msg;
}
}  // namespace

TEST_CASE("a file written by h5py the way Keras' save_weights writes it") {
  const ArrayFile f = read_keras_h5(fs::path(ZOO_DATA) / "keras_weights.h5");
  REQUIRE(f.arrays.size() == 4);
  const char* names[] = {"conv1_1/kernel", "conv1_1/bias", "fc6/kernel", "fc6/bias"};
  const std::vector<std::size_t> shapes[] = {{3, 3, 3, 2}, {2}, {4, 3}, {3}};
  for (int i = 0; i < 4; ++i) {
    CAPTURE(names[i]);
    REQUIRE(f.arrays[i].name == names[i]);
    CHECK(f.arrays[i].shape == shapes[i]);
    for (std::size_t j = 0; j < f.arrays[i].data.size(); ++j) CHECK(f.arrays[i].data[j] == float(double(j) / 8 - 1));
  }
}

TEST_CASE("a whole-model file written by h5py with libver='latest': every chunk index, filter and float type") {
  // tests/zoo/data/make_keras_h5.py: extensible array + deflate + shuffle, extensible array of float16, v2 B-tree of
  // big-endian float64, fixed array + fletcher32, single deflated chunk, contiguous; dense attributes.
  const ArrayFile f = read_keras_h5(fs::path(ZOO_DATA) / "keras_latest.h5");
  const char* names[] = {"conv1_1/kernel", "conv1_1/bias", "fc6/kernel", "fc6/bias", "fc7/kernel", "fc7/bias"};
  const std::vector<std::size_t> shapes[] = {{3, 3, 2, 4}, {4}, {6, 5}, {5}, {5, 3}, {3}};
  REQUIRE(f.arrays.size() == 6);
  for (int i = 0; i < 6; ++i) {
    CAPTURE(names[i]);
    REQUIRE(f.arrays[i].name == names[i]);
    CHECK(f.arrays[i].shape == shapes[i]);
    for (std::size_t j = 0; j < f.arrays[i].data.size(); ++j) REQUIRE(f.arrays[i].data[j] == float(double(j) / 8 - 1));
  }
}

TEST_CASE("a small file of compact weights, as seed of the fuzz corpus") {
  const ArrayFile f = read_keras_h5(fs::path(ZOO_DATA) / "keras_tiny.h5");
  REQUIRE(f.arrays.size() == 2);
  CHECK(f.arrays[0].name == "fc/kernel");
  CHECK(f.arrays[0].shape == std::vector<std::size_t>{2, 3});
  CHECK(f.arrays[1].data == std::vector<float>{-1.f, -0.875f, -0.75f});
}

TEST_CASE("not HDF5, missing, truncated, or with impossible superblock fields: FileError naming the file") {
  CHECK_THROWS_WITH_AS(read_keras_h5("/nonexistent/w.h5"), "'/nonexistent/w.h5': cannot open file", FileError);
  const fs::path text = temp("text.h5");
  spit(text, "not hdf5");
  CHECK_THROWS_WITH_AS(read_keras_h5(text), ("'" + text.string() + "': not an HDF5 file").c_str(), FileError);
  fs::remove(text);
  CHECK(error_of("").find("not an HDF5 file") != std::string::npos);  // an empty file

  for (const char* name : {"keras_weights.h5", "keras_latest.h5", "keras_tiny.h5", "keras3_dense.weights.h5"}) {
    CAPTURE(name);
    const std::string good = slurp(fs::path(ZOO_DATA) / name);
    REQUIRE(loads(good));
    CHECK(error_of(good.substr(0, good.size() / 2)).find("truncated file") != std::string::npos);
    const bool v0 = good[8] == 0;
    std::string bad = good;
    bad[v0 ? 13 : 9] = 3;  // size of offsets
    CHECK(error_of(bad).find("addresses or lengths of 3 bytes are not supported") != std::string::npos);
    bad = good;
    put64(bad, v0 ? 64 : 36, std::uint64_t{1} << 40);  // root group object header address
    CHECK(error_of(bad).find("root group: object header at byte 1099511627776") != std::string::npos);
    bad = good;
    bad[8] = 7;  // superblock version
    CHECK(error_of(bad).find("unknown superblock version 7") != std::string::npos);
  }
}

TEST_CASE("a user block before the superblock") {
  std::string b = slurp(fs::path(ZOO_DATA) / "keras_latest.h5");
  CHECK(loads(std::string(512, 'u') + b));
  CHECK(loads(std::string(1024, '\0') + b));
  CHECK_FALSE(loads(std::string(700, '\0') + b));  // not at a power of two from 512: no superblock found
}

TEST_CASE("every prefix of the files, with the superblock's end-of-file field moved to match, is refused cleanly") {
  // Without the patch the superblock's size check refuses a truncated file at once; with it, the reader walks
  // into the missing structures.
  for (const char* name : {"keras_weights.h5", "keras_latest.h5", "keras_tiny.h5", "keras3_dense.weights.h5"}) {
    CAPTURE(name);
    const std::string good = slurp(fs::path(ZOO_DATA) / name);
    const std::size_t eof = good[8] == 0 ? 40 : 28;
    for (std::size_t n = 48; n < good.size(); n += 61) {
      std::string b = good.substr(0, n);
      put64(b, eof, n);
      CAPTURE(n);
      loads(b);
    }
  }
}

TEST_CASE("random byte damage ends in a result or a FileError, never in anything else") {
  std::mt19937 rng(20240611);
  for (const char* name : {"keras_weights.h5", "keras_latest.h5", "keras_tiny.h5", "keras3_dense.weights.h5"}) {
    CAPTURE(name);
    const std::string good = slurp(fs::path(ZOO_DATA) / name);
    int loaded = 0;
    for (int round = 0; round < 600; ++round) {
      std::string b = good;
      const int edits = 1 + int(rng() % 8);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = rng() % b.size();
        switch (rng() % 3) {
          case 0: b[at] = static_cast<char>(rng()); break;
          case 1: b[at] = static_cast<char>(b[at] ^ (1 << (rng() % 8))); break;
          default: b[at] = static_cast<char>(rng() % 2 ? 0xFF : 0); break;
        }
      }
      CAPTURE(round);
      loaded += loads(b);
    }
    CHECK(loaded > 0);  // harmless damage (in values, padding, checksums) still loads
  }
}
