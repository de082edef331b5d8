// .npz reading (files written by numpy, and zips built here with zlib) and import into a model.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <siamese/io/npz.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/zoo/vggface.hpp>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
// ---- a minimal zip writer, independent of the reader ---------------------------------------------
template <class T>
void put(std::string& s, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) s += char((std::uint64_t(v) >> (8 * i)) & 0xFF);
}
std::string raw_deflate(const std::string& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = (Bytef*)in.data();
  z.avail_in = uInt(in.size());
  z.next_out = (Bytef*)out.data();
  z.avail_out = uInt(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
struct Zip {
  std::string body, central;
  std::uint16_t n = 0;
  void add(const std::string& name, const std::string& data, bool deflated) {
    const std::string packed = deflated ? raw_deflate(data) : data;
    const auto crc = std::uint32_t(crc32(0, (const Bytef*)data.data(), uInt(data.size())));
    const auto offset = std::uint32_t(body.size());
    put<std::uint32_t>(body, 0x04034b50);
    for (std::uint16_t v : {20, 0, deflated ? 8 : 0, 0, 0}) put(body, v);
    for (std::uint32_t v : {crc, std::uint32_t(packed.size()), std::uint32_t(data.size())}) put(body, v);
    put<std::uint16_t>(body, std::uint16_t(name.size()));
    put<std::uint16_t>(body, 0);
    body += name + packed;
    put<std::uint32_t>(central, 0x02014b50);
    for (std::uint16_t v : {20, 20, 0, deflated ? 8 : 0, 0, 0}) put(central, v);
    for (std::uint32_t v : {crc, std::uint32_t(packed.size()), std::uint32_t(data.size())}) put(central, v);
    for (std::uint16_t v : {std::uint16_t(name.size()), std::uint16_t(0), std::uint16_t(0), std::uint16_t(0),
                            std::uint16_t(0)})
      put(central, v);
    put<std::uint32_t>(central, 0);
    put<std::uint32_t>(central, offset);
    central += name;
    ++n;
  }
  std::string finish() const {
    std::string s = body + central;
    put<std::uint32_t>(s, 0x06054b50);
    for (std::uint16_t v : {std::uint16_t(0), std::uint16_t(0), n, n}) put(s, v);
    put<std::uint32_t>(s, std::uint32_t(central.size()));
    put<std::uint32_t>(s, std::uint32_t(body.size()));
    put<std::uint16_t>(s, 0);
    return s;
  }
};
/// A .npy v1 file: the header dict padded to a multiple of 64 bytes, then the raw values.
std::string npy(const std::string& descr, const std::string& shape, const std::string& payload, bool fortran = false) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape +
                  ", }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string s = "\x93NUMPY\x01";
  s += '\0';
  put<std::uint16_t>(s, std::uint16_t(h.size()));
  return s + h + payload;
}
template <class T>
std::string values(std::size_t n, double scale, double shift) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    const T v = T(double(i) * scale + shift);
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  return s;
}
fs::path write(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("siamese_test_npz_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

void check_numpy_file(const ArrayFile& f) {
  REQUIRE(f.arrays.size() == 3);
  const NamedArray* a = f.find("conv1_1/kernel");
  REQUIRE(a);
  CHECK(a->shape == std::vector<std::size_t>{2, 3, 4});
  for (std::size_t i = 0; i < 24; ++i) CHECK(a->data[i] == float(i) / 4 - 3);
  const NamedArray* b = f.find("conv1_1/bias");
  REQUIRE(b);
  CHECK(b->shape == std::vector<std::size_t>{5});
  for (std::size_t i = 0; i < 5; ++i) CHECK(b->data[i] == float(double(i) / 3));
  const NamedArray* s = f.find("scalar");
  REQUIRE(s);
  CHECK(s->shape.empty());
  CHECK(s->data == std::vector<float>{2.5f});
  CHECK_FALSE(f.find("conv1_1"));
}
}  // namespace

TEST_CASE("files written by numpy's savez and savez_compressed") {
  check_numpy_file(read_npz(fs::path(ZOO_DATA) / "numpy_stored.npz"));
  check_numpy_file(read_npz(fs::path(ZOO_DATA) / "numpy_deflated.npz"));
}

TEST_CASE("a zip built with zlib: stored and deflated entries, float32 and float64, large arrays") {
  Zip z;
  z.add("w.npy", npy("<f4", "(3, 1000)", values<float>(3000, 0.5, -7)), true);
  z.add("deep/b.npy", npy("<f8", "(2,)", values<double>(2, 1e-3, 1)), false);
  const fs::path p = write("good.npz", z.finish());
  const ArrayFile f = read_npz(p);
  REQUIRE(f.arrays.size() == 2);
  CHECK(f.arrays[0].name == "w");
  CHECK(f.arrays[0].shape == std::vector<std::size_t>{3, 1000});
  CHECK(f.arrays[0].data[2999] == float(2999 * 0.5 - 7));
  CHECK(f.arrays[1].name == "deep/b");
  CHECK(f.arrays[1].data[1] == float(1.001));
  CHECK(f.file == p.string());
  fs::remove(p);
}

TEST_CASE("bad files: each error names the file, and the array when there is one") {
  const auto fails = [](const std::string& name, const std::string& bytes, const std::string& says) {
    const fs::path p = write(name, bytes);
    const std::string quoted = "'" + p.string() + "'";
    CHECK_THROWS_WITH_AS(read_npz(p), doctest::Contains(says.c_str()), FileError);
    CHECK_THROWS_WITH_AS(read_npz(p), doctest::Contains(quoted.c_str()), FileError);
    fs::remove(p);
  };
  CHECK_THROWS_WITH_AS(read_npz("/nonexistent/w.npz"), "'/nonexistent/w.npz': cannot open file", FileError);
  CHECK_THROWS_AS(read_npz(fs::temp_directory_path()), FileError);
  fails("text.npz", "this is not a zip archive at all, only some text", "no end of central directory");
  fails("short.npz", "PK", "not a .npz (zip) file: 2 bytes");
  {
    Zip z;
    z.add("k.npy", npy("<i8", "(2,)", values<std::int64_t>(2, 1, 0)), false);
    fails("int.npz", z.finish(), "array 'k': dtype '<i8' is not supported");
  }
  {
    Zip z;
    z.add("k.npy", npy(">f4", "(2,)", values<float>(2, 1, 0)), false);
    fails("big_endian.npz", z.finish(), "dtype '>f4' is not supported");
  }
  {
    Zip z;
    z.add("k.npy", npy("<f4", "(2, 2)", values<float>(4, 1, 0), true), false);
    fails("fortran.npz", z.finish(), "array 'k': stored in Fortran order");
  }
  {
    Zip z;
    z.add("k.npy", npy("<f4", "(2, 3)", values<float>(5, 1, 0)), true);
    fails("size.npz", z.finish(), "array 'k': shape (2, 3) of <f4 needs 24 bytes of data, the array holds 20");
  }
  {
    Zip z;
    z.add("k.npy", "not an npy payload", false);
    fails("magic.npz", z.finish(), "array 'k': not a .npy array");
  }
  Zip z;
  z.add("weights.npy", npy("<f4", "(64,)", values<float>(64, 1, 0)), false);
  z.add("other.npy", npy("<f4", "(64,)", values<float>(64, 2, 0)), true);
  const std::string good = z.finish();
  std::string flipped = good;
  flipped[200] ^= 0x10;  // inside the first entry's stored values
  fails("crc.npz", flipped, "array 'weights': checksum mismatch");
  const std::size_t deflated_at = good.find("other.npy") + 9 + 20;  // inside the second entry's deflate stream
  std::string broken = good;
  for (std::size_t i = deflated_at; i < deflated_at + 8; ++i) broken[i] = char(0xFF);
  fails("deflate.npz", broken, "array 'other': ");
  fails("truncated.npz", good.substr(0, good.size() / 2), "no end of central directory");
  std::string cut = good.substr(0, 150) + good.substr(good.find("PK\x01\x02", 150));  // data gone, directory kept
  fails("cut.npz", cut, "truncated file: central directory out of range");
}

namespace {
using TinyEnc = VGGFaceEncoderAt<32, VGGWidths<2, 2, 3, 3, 4>>;
using Model = Siamese<TinyEnc, Head<SqDiff, Classifier<Dense<1>>>, backend::Reference>;

/// The arrays of a tiny VGG in Keras naming; value j of layer l is l + j / 1000.
ArrayFile tiny_keras_arrays(const Model& m) {
  ArrayFile f{"tiny.npz", {}};
  const auto links = vggface_weight_map(m.parameter_info());
  for (std::size_t i = 0; i < links.size(); ++i)
    for (const auto& p : m.parameter_info())
      if (p.name == links[i].first) {
        NamedArray a{links[i].second, p.shape, std::vector<float>(p.size)};
        for (std::size_t j = 0; j < p.size; ++j) a.data[j] = float(i) + float(j) / 1000;
        f.arrays.push_back(a);
      }
  f.arrays.push_back({"fc6/kernel", {7, 7}, std::vector<float>(49)});  // extra arrays are ignored
  return f;
}
}  // namespace

TEST_CASE("import_arrays fills the mapped parameters, checks every link first, names what is wrong") {
  Model m(3);
  const ArrayFile f = tiny_keras_arrays(m);
  const std::vector<float> before(m.parameters().data(), m.parameters().data() + m.parameters().size());
  const auto links = vggface_weight_map(m.parameter_info());
  CHECK(import_arrays(m, f, links) == 26);
  std::size_t conv_end = 0;
  for (std::size_t i = 0; i < links.size(); ++i)
    for (const auto& p : m.parameter_info())
      if (p.name == links[i].first) {
        for (std::size_t j = 0; j < p.size; j += 7) REQUIRE(m.parameters()[p.offset + j] == float(i) + float(j) / 1000);
        conv_end = std::max(conv_end, p.offset + p.size);
      }
  for (std::size_t i = conv_end; i < before.size(); ++i) CHECK(m.parameters()[i] == before[i]);  // the head

  Model fresh(3);
  const float w0 = fresh.parameters()[0];
  ArrayFile missing = f;
  missing.arrays.erase(missing.arrays.begin() + 25);  // conv5_3/bias
  CHECK_THROWS_WITH_AS(import_arrays(fresh, missing, links),
                       "'tiny.npz': has no array 'conv5_3/bias' (for parameter 'encoder/17_conv2d/bias')", FileError);
  ArrayFile wrong = f;
  wrong.arrays[2].shape = {3, 3, 2, 3};
  CHECK_THROWS_WITH_AS(import_arrays(fresh, wrong, links),
                       "'tiny.npz': array 'conv1_2/kernel' has shape (3, 3, 2, 3), but parameter "
                       "'encoder/2_conv2d/kernel' has shape (3, 3, 2, 2)",
                       FileError);
  CHECK_THROWS_WITH_AS(import_arrays(fresh, f, {{"encoder/nothing", "conv1_1/kernel"}}),
                       doctest::Contains("no parameter 'encoder/nothing'"), std::invalid_argument);
  CHECK(fresh.parameters()[0] == w0);  // nothing changed by a failed import
}

TEST_CASE("golden: a PyTorch VGG converted by scripts/convert_vggface.py computes what PyTorch computed") {
  // scripts/make_vggface_golden.py: widths 2, 3, 4, 4, 5 and fc 6, 6, 7 at 64x64; RGB pixels by formula.
  using Widths = VGGWidths<2, 3, 4, 4, 5>;
  const ArrayFile f = read_npz(fs::path(ZOO_DATA) / "tiny_vggface_torch.npz");
  Tensor x({2, 64, 64, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t y = 0; y < 64; ++y)
      for (std::size_t c = 0; c < 64; ++c)
        for (std::size_t ch = 0; ch < 3; ++ch)
          x[((i * 64 + y) * 64 + c) * 3 + ch] = float((i * 7 + y * 3 + c * 5 + ch * 11 + (c * y) % 13) % 256);
  vggface_preprocess(x);
  const auto compare = [&](const Tensor& got, const char* name) {
    const NamedArray* want = f.find(name);
    REQUIRE(want);
    REQUIRE(got.size() == want->data.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want->data[i]).epsilon(1e-4).scale(30));
  };
  Siamese<VGGFaceEncoderAt<64, Widths>, Head<SqDiff>> enc;
  CHECK(import_arrays(enc, f, vggface_weight_map(enc.parameter_info())) == 26);
  compare(enc.embed(x), "golden/embedding");
  Siamese<VGGFaceTopAt<64, Widths, 6, 7>, Head<SqDiff>> top;
  CHECK(import_arrays(top, f, vggface_weight_map(top.parameter_info())) == 32);
  compare(top.embed(x), "golden/logits");
}
