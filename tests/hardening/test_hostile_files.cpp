// Regression tests for what fuzzing (fuzz/) and review found in the loaders: each input here once crashed, read
// out of bounds, hit undefined behaviour or escaped as the wrong exception type. Now each is refused with the
// library's exception naming the file, or (for valid edge cases) loads.
#include <siamese/data/images.hpp>
#include <siamese/eval/index.hpp>
#include <siamese/io/file_format.hpp>
#include <siamese/io/npz.hpp>
#include <siamese/siamese.hpp>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace siamese;
using namespace hardening;

TEST_CASE("weight file: empty and scalar tensors round-trip (was memcpy to a null pointer)") {
  const auto path = temp("edge.bin");
  write_weight_file(path, WeightFile{"weights", "sig", {{"empty", {0, 3}, {}}, {"scalar", {}, {1.5f}}}});
  const WeightFile f = read_weight_file(path);
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors[0].shape == std::vector<std::uint64_t>{0, 3});
  CHECK(f.tensors[0].data.empty());
  CHECK(f.tensors[1].data == std::vector<float>{1.5f});
  std::filesystem::remove(path);
}

TEST_CASE("embedding index: an empty index saves and loads (was memcpy to a null pointer)") {
  const auto path = temp("empty.idx");
  EmbeddingIndex(5, Distance::Cosine).save(path);
  const EmbeddingIndex back = EmbeddingIndex::load(path);
  CHECK(back.size() == 0);
  CHECK(back.dim() == 5);
  CHECK(back.search(std::vector<float>(5, 1.0f), 3).k == 0);
  std::filesystem::remove(path);
}

namespace {
using Enc = Sequential<Input<3>, Dense<2>, BatchNorm>;
using Model = Triplet<Enc, backend::Reference>;

// A checkpoint of a trained Model with `edit` applied to its tensors, written with a valid checksum.
template <class Edit>
std::filesystem::path edited_checkpoint(const char* name, Edit edit) {
  Model m(1);
  Adam opt;
  TripletBatch b{Tensor({2, 3}), Tensor({2, 3}), Tensor({2, 3})};
  for (std::size_t i = 0; i < 6; ++i) b.anchor[i] = 0.1f * float(i), b.positive[i] = 0.5f, b.negative[i] = -0.2f * float(i);
  m.train_step(b, TripletLoss{}, opt);
  TrainingState s;
  s.learning_rate = 1e-3f;
  const auto path = temp(name);
  save_checkpoint(m, s, path);
  WeightFile f = read_weight_file(path);
  for (auto& t : f.tensors) edit(t);
  write_weight_file(path, f);
  return path;
}
}  // namespace

TEST_CASE("checkpoint: damaged counters are refused (was a float-to-integer conversion out of range)") {
  for (float bad : {-8.0f, 0.5f, 16777216.0f, std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    const auto path = edited_checkpoint("counter.ckpt", [&](NamedTensor& t) {
      if (t.name == "optimizer:step") t.data[0] = bad;
    });
    Model m(2);
    const float w0 = m.parameters()[0];
    CHECK_THROWS_WITH_AS(load_checkpoint(m, path), doctest::Contains("counter 'optimizer:step' is damaged"), FileError);
    CHECK(m.parameters()[0] == w0);
    CHECK(m.step() == 0);
    std::filesystem::remove(path);
  }
}

TEST_CASE("checkpoint: an empty learning rate is a FileError (was std::out_of_range from vector::at)") {
  const auto path = edited_checkpoint("lr.ckpt", [](NamedTensor& t) {
    if (t.name == "fit:learning_rate") t.shape = {0}, t.data.clear();
  });
  Model m(2);
  CHECK_THROWS_WITH_AS(load_checkpoint(m, path), doctest::Contains("'fit:learning_rate' is not one value"), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("checkpoint: best-epoch parameters of the wrong size are refused (fit() would copy them past the model)") {
  for (const char* name : {"fit:best_params", "fit:best_states"}) {
    CAPTURE(name);
    const auto path = edited_checkpoint("best.ckpt", [&](NamedTensor& t) {
      if (t.name == name) t.data.assign(Model::param_count + 1000, 0.5f), t.shape = {t.data.size()};
    });
    Model m(2);
    CHECK_THROWS_WITH_AS(load_checkpoint(m, path), doctest::Contains("of the wrong size"), FileError);
    std::filesystem::remove(path);
  }
}

namespace {
// Zip archives built field by field, so that each can be made hostile.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // ZipEntry{name, body}: the rest default
struct ZipEntry {
  std::string name, body;
  std::uint16_t method = 0;  // 0: stored, 8: deflate (body is then the raw deflate stream)
  std::uint32_t size = 0;    // deflate only: the uncompressed size claimed
  std::optional<std::uint32_t> packed_field, size_field, offset_field;  // central directory values, if not the real
  std::string extra;                                                     // extra field of the central directory record
};

std::string zip(std::vector<ZipEntry> entries) {
  std::string out, dir;
  for (auto& e : entries) {
    const auto offset = static_cast<std::uint32_t>(out.size());
    const std::uint32_t size = e.method == 0 ? std::uint32_t(e.body.size()) : e.size;
    const std::uint32_t crc = e.method == 0 ? hardening::crc(e.body) : 0;
    out += le<std::uint32_t>(0x04034b50) + le<std::uint16_t>(20) + le<std::uint16_t>(0) + le<std::uint16_t>(e.method) +
           le<std::uint32_t>(0) + le(crc) + le<std::uint32_t>(std::uint32_t(e.body.size())) + le(size) +
           le<std::uint16_t>(std::uint16_t(e.name.size())) + le<std::uint16_t>(0) + e.name + e.body;
    dir += le<std::uint32_t>(0x02014b50) + le<std::uint16_t>(20) + le<std::uint16_t>(20) + le<std::uint16_t>(0) +
           le<std::uint16_t>(e.method) + le<std::uint32_t>(0) + le(crc) +
           le(e.packed_field.value_or(std::uint32_t(e.body.size()))) + le(e.size_field.value_or(size)) +
           le<std::uint16_t>(std::uint16_t(e.name.size())) +
           le<std::uint16_t>(std::uint16_t(e.extra.size())) + le<std::uint16_t>(0) + le<std::uint16_t>(0) +
           le<std::uint16_t>(0) + le<std::uint32_t>(0) +
           le(e.offset_field.value_or(offset)) + e.name + e.extra;
  }
  const auto cd = static_cast<std::uint32_t>(out.size());
  const auto n = static_cast<std::uint16_t>(entries.size());
  return out + dir + le<std::uint32_t>(0x06054b50) + le<std::uint16_t>(0) + le<std::uint16_t>(0) + le(n) + le(n) +
         le<std::uint32_t>(std::uint32_t(dir.size())) + le(cd) + le<std::uint16_t>(0);
}

std::string npy(const std::string& shape, const std::string& data) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + le<std::uint16_t>(std::uint16_t(h.size())) + h + data;
}
}  // namespace

TEST_CASE("npz: a zero-size array loads (was memcpy to a null pointer)") {
  const auto path = write("empty.npz", zip({{"e.npy", npy("(0, 4)", "")}, {"w.npy", npy("(2,)", le(1.0f) + le(2.0f))}}));
  const ArrayFile f = read_npz(path);
  REQUIRE(f.arrays.size() == 2);
  CHECK(f.arrays[0].shape == std::vector<std::size_t>{0, 4});
  CHECK(f.arrays[0].data.empty());
  CHECK(f.arrays[1].data == std::vector<float>{1.0f, 2.0f});
  std::filesystem::remove(path);
}

TEST_CASE("npz: a zip64 locator in a file too short for its record is refused (was a read out of bounds)") {
  const std::string locator = le<std::uint32_t>(0x07064b50) + le<std::uint32_t>(0) + le<std::uint64_t>(100000) +
                              le<std::uint32_t>(1);
  const std::string eocd = le<std::uint32_t>(0x06054b50) + std::string(8, '\0') + le<std::uint32_t>(0) +
                           le<std::uint32_t>(0) + le<std::uint16_t>(0);
  const auto path = write("zip64.npz", std::string(8, '\0') + locator + eocd);
  CHECK_THROWS_WITH_AS(read_npz(path), doctest::Contains("corrupt zip64 end of central directory"), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("npz: zip64 extra fields are read only within their record (was a read out of bounds)") {
  // All three fields saturated, and a zip64 extra field claiming 65535 bytes while holding none: the 24 bytes
  // it would supply lie past the directory record, and 2 of them past the file.
  ZipEntry e{"a.npy", npy("(1,)", le(1.0f))};
  e.packed_field = e.size_field = e.offset_field = 0xFFFFFFFF;
  e.extra = le<std::uint16_t>(1) + le<std::uint16_t>(0xFFFF);
  const auto path = write("extra.npz", zip({e}));
  CHECK_THROWS_AS(read_npz(path), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("npz: a zip64 offset near 2^64 is refused (was an overflow, then a read up to 30 bytes before the data)") {
  ZipEntry e{"a.npy", npy("(1,)", le(1.0f))};
  e.offset_field = 0xFFFFFFFF;  // saturated: the real offset is in the zip64 extra field
  e.extra = le<std::uint16_t>(1) + le<std::uint16_t>(8) + le<std::uint64_t>(0xFFFFFFFFFFFFFFF0ull);
  const auto path = write("offset.npz", zip({e}));
  CHECK_THROWS_WITH_AS(read_npz(path), doctest::Contains("no local header at offset"), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("npz: a shape whose element count overflows is refused (was a huge allocation)") {
  // 2^62 + 1 elements of 4 bytes: the byte count wraps to 4, which the 4 data bytes matched.
  const auto path = write("overflow.npz", zip({{"a.npy", npy("(4611686018427387905,)", le(1.0f))}}));
  CHECK_THROWS_WITH_AS(read_npz(path), doctest::Contains("bytes of data, the array holds 4"), FileError);
  const auto digits = write("digits.npz", zip({{"a.npy", npy("(99999999999999999999999,)", le(1.0f))}}));
  CHECK_THROWS_WITH_AS(read_npz(digits), doctest::Contains("absurd extent"), FileError);
  std::filesystem::remove(path);
  std::filesystem::remove(digits);
}

TEST_CASE("npz: a deflated entry claiming more than deflate can produce is refused before allocating") {
  ZipEntry e{"a.npy", std::string("\x03\x00", 2)};  // an empty raw deflate stream
  e.method = 8;
  e.size = 0xFFFFFFF0u;  // 4 GiB from 2 bytes
  const auto path = write("bomb.npz", zip({e}));
  CHECK_THROWS_WITH_AS(read_npz(path), doctest::Contains("more than deflate can produce"), FileError);
  std::filesystem::remove(path);
}

namespace {
void to_string_cb(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<char*>(data), std::size_t(size));
}
std::string encode(bool jpeg, int w, int h) {
  std::vector<unsigned char> px(std::size_t(w * h * 3));
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 37);
  std::string out;
  if (jpeg) stbi_write_jpg_to_func(to_string_cb, &out, w, h, 3, px.data(), 90);
  else stbi_write_png_to_func(to_string_cb, &out, w, h, 3, px.data(), w * 3);
  return out;
}
}  // namespace

TEST_CASE("images: valid PNG and JPEG still decode, with junk after a JPEG's end") {
  for (bool jpeg : {false, true}) {
    CAPTURE(jpeg);
    std::string bytes = encode(jpeg, 5, 3);
    if (jpeg) bytes += std::string("\xFF\xC4\x00\x20\x00", 5) + std::string(16, '\xFF');  // after EOI: never read
    const auto path = write(jpeg ? "ok.jpg" : "ok.png", bytes);
    const Tensor img = read_image(path);
    CHECK(img.shape() == std::vector<std::size_t>{3, 5, 3});
    std::filesystem::remove(path);
  }
}

TEST_CASE("images: a JPEG Huffman table of over 256 codes is refused") {
  // SOI, then a DHT whose 16 code counts are 255 each (4080 codes), the table cut short by the file's end.
  const std::string dht = std::string("\xFF\xC4\x01\x00\x00", 5) + std::string(16, '\xFF');
  const auto path = write("dht.jpg", std::string("\xFF\xD8", 2) + dht);
  CHECK_THROWS_WITH_AS(read_image(path), doctest::Contains("cannot decode the image (corrupt JPEG: "), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("images: a PNG chunk longer than the file is refused without allocating what it claims") {
  std::string png = encode(false, 4, 4);
  const std::size_t idat = png.find("IDAT") - 4;
  png.replace(idat, 4, be32(0x7FFFFF00));  // about 2 GiB of IDAT claimed
  const auto path = write("chunk.png", png);
  CHECK_THROWS_WITH_AS(read_image(path), doctest::Contains("cannot decode the image (corrupt PNG: "), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("images: a JPEG cut short is refused, not completed with grey") {
  const std::string jpg = encode(true, 16, 16);
  const auto path = write("cut.jpg", jpg.substr(0, jpg.size() * 2 / 3));
  CHECK_THROWS_WITH_AS(read_image(path), doctest::Contains("corrupt JPEG: Premature end of JPEG file"), FileError);
  std::filesystem::remove(path);
}

TEST_CASE("images: files the fuzzer found") {
  // Each once made an image decoder abort or read out of bounds; every one must now give a FileError.
  const std::filesystem::path dir = std::filesystem::path(HARDENING_DATA) / "images";
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    CAPTURE(entry.path().string());
    CHECK_THROWS_AS(read_image(entry.path()), FileError);
    ++n;
  }
  CHECK(n > 0);
}
