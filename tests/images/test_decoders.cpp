// The PNG and JPEG layouts read_image must handle, written here with libpng and libjpeg themselves: 16-bit, grey,
// grey + alpha, 1-bit, palette with transparency, interlaced PNG; grey, progressive and CMYK JPEG; and the limits
// of its own (a progressive JPEG of over 500 scans, a JPEG that ends early).
#include <doctest/doctest.h>

#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include <siamese/data/images.hpp>

using namespace siamese;
namespace fs = std::filesystem;

namespace {

fs::path write(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("siamese_test_decoders_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return p;
}

void append(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

struct PngSpec {
  int width, height, color, depth;
  bool interlaced = false;
  std::vector<png_color> palette = {};
  std::vector<png_byte> alpha = {};  // tRNS of a palette image
};

// Rows of raw samples (big-endian for 16 bits, packed for under 8) to a PNG file's bytes. libpng errors abort
// the test (its default handler), which is what a test wants.
std::string encode_png(const PngSpec& s, std::vector<std::vector<png_byte>> rows) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  REQUIRE((png && info));
  png_set_write_fn(png, &out, append, nullptr);
  png_set_IHDR(png, info, png_uint_32(s.width), png_uint_32(s.height), s.depth, s.color,
               s.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty()) png_set_PLTE(png, info, s.palette.data(), int(s.palette.size()));
  if (!s.alpha.empty()) png_set_tRNS(png, info, s.alpha.data(), int(s.alpha.size()), nullptr);
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (auto& r : rows) ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

struct JpegSpec {
  int width, height, components;
  J_COLOR_SPACE space;
  bool progressive = false;
  std::vector<jpeg_scan_info> scans = {};  // a scan script of its own
};

std::string encode_jpeg(const JpegSpec& s, const std::vector<unsigned char>& pixels) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = JDIMENSION(s.width);
  c.image_height = JDIMENSION(s.height);
  c.input_components = s.components;
  c.in_color_space = s.space;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 95, TRUE);
  if (s.progressive) jpeg_simple_progression(&c);
  if (!s.scans.empty()) {
    c.scan_info = s.scans.data();
    c.num_scans = int(s.scans.size());
  }
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<unsigned char*>(pixels.data()) + std::size_t(c.next_scanline) * s.width * s.components;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<const char*>(buf), len);
  std::free(buf);
  return out;
}

float at(const Tensor& t, std::size_t y, std::size_t x, std::size_t k) { return t[(y * t.dim(1) + x) * 3 + k]; }

}  // namespace

TEST_CASE("PNG: 16-bit RGB keeps each sample's high byte; interlaced files read as plain ones") {
  const int w = 5, h = 4;
  std::vector<std::vector<png_byte>> rows16(h), rows8(h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) {
        const int v = (x * 40 + y * 13 + k * 70) % 256;
        rows16[y].push_back(png_byte(v));
        rows16[y].push_back(png_byte(255 - v));  // the low byte: dropped
        rows8[y].push_back(png_byte(v));
      }
  for (bool interlaced : {false, true}) {
    CAPTURE(interlaced);
    const auto p16 = write("rgb16.png", encode_png({w, h, PNG_COLOR_TYPE_RGB, 16, interlaced}, rows16));
    const auto p8 = write("rgb8.png", encode_png({w, h, PNG_COLOR_TYPE_RGB, 8, interlaced}, rows8));
    const Tensor a = read_image(p16), b = read_image(p8);
    REQUIRE(a.shape() == std::vector<std::size_t>{4, 5, 3});
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < 3; ++k) {
          CHECK(at(a, y, x, k) == float((x * 40 + y * 13 + k * 70) % 256));
          CHECK(at(b, y, x, k) == at(a, y, x, k));
        }
    fs::remove(p16);
    fs::remove(p8);
  }
}

TEST_CASE("PNG: grey, grey + alpha, 1-bit grey and a palette with transparency become RGB, alpha dropped") {
  std::vector<std::vector<png_byte>> grey{{0, 100, 255}}, grey_alpha{{10, 0, 20, 128, 30, 255}}, bits{{0b10100000}};
  const auto g = write("grey.png", encode_png({3, 1, PNG_COLOR_TYPE_GRAY, 8}, grey));
  const auto ga = write("grey_alpha.png", encode_png({3, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8}, grey_alpha));
  const auto b = write("bits.png", encode_png({3, 1, PNG_COLOR_TYPE_GRAY, 1}, bits));
  PngSpec pal{3, 1, PNG_COLOR_TYPE_PALETTE, 8};
  pal.palette = {{200, 10, 20}, {30, 40, 250}};
  pal.alpha = {0, 128};  // the first entry fully transparent: still its own colour
  const auto p = write("palette.png", encode_png(pal, {{1, 0, 1}}));
  const auto grey_of = [](const Tensor& t) {
    std::vector<float> v;
    for (std::size_t x = 0; x < t.dim(1); ++x) {
      CHECK(at(t, 0, x, 0) == at(t, 0, x, 1));
      CHECK(at(t, 0, x, 0) == at(t, 0, x, 2));
      v.push_back(at(t, 0, x, 0));
    }
    return v;
  };
  CHECK(grey_of(read_image(g)) == std::vector<float>{0, 100, 255});
  CHECK(grey_of(read_image(ga)) == std::vector<float>{10, 20, 30});
  CHECK(grey_of(read_image(b)) == std::vector<float>{255, 0, 255});
  const Tensor t = read_image(p);
  REQUIRE(t.shape() == std::vector<std::size_t>{1, 3, 3});
  CHECK(std::vector<float>(t.begin(), t.end()) == std::vector<float>{30, 40, 250, 200, 10, 20, 30, 40, 250});
  for (const auto& f : {g, ga, b, p}) fs::remove(f);
}

TEST_CASE("JPEG: grey becomes RGB; progressive reads as baseline does; CMYK is refused by name") {
  const int w = 16, h = 16;
  std::vector<unsigned char> grey(w * h), rgb(w * h * 3), cmyk(w * h * 4, 100);
  for (int i = 0; i < w * h; ++i) {
    grey[i] = static_cast<unsigned char>(60 + (i % w) * 4 + (i / w) * 3);  // smooth: survives quality 95 closely
    for (int k = 0; k < 3; ++k) rgb[i * 3 + k] = static_cast<unsigned char>(grey[i] + 20 * k);
  }
  const Tensor g = read_image(write("grey.jpg", encode_jpeg({w, h, 1, JCS_GRAYSCALE}, grey)));
  REQUIRE(g.shape() == std::vector<std::size_t>{16, 16, 3});
  for (int i = 0; i < w * h; ++i) {
    CHECK(std::abs(at(g, i / w, i % w, 0) - float(grey[i])) <= 3.0f);
    CHECK(at(g, i / w, i % w, 1) == at(g, i / w, i % w, 0));
    CHECK(at(g, i / w, i % w, 2) == at(g, i / w, i % w, 0));
  }
  JpegSpec prog{w, h, 3, JCS_RGB};
  prog.progressive = true;
  const Tensor base = read_image(write("base.jpg", encode_jpeg({w, h, 3, JCS_RGB}, rgb)));
  const Tensor progressive = read_image(write("progressive.jpg", encode_jpeg(prog, rgb)));
  REQUIRE(progressive.shape() == base.shape());
  for (std::size_t i = 0; i < base.size(); ++i) {
    CHECK(std::abs(progressive[i] - base[i]) <= 2.0f);
    CHECK(std::abs(base[i] - float(rgb[i])) <= 6.0f);
  }
  const auto c = write("cmyk.jpg", encode_jpeg({w, h, 4, JCS_CMYK}, cmyk));
  CHECK_THROWS_WITH_AS(read_image(c), doctest::Contains("corrupt JPEG: Unsupported color conversion request"),
                       FileError);
  for (const char* f : {"grey.jpg", "base.jpg", "progressive.jpg", "cmyk.jpg"})
    fs::remove(fs::temp_directory_path() / ("siamese_test_decoders_" + std::to_string(::getpid()) + "_" + f));
}

TEST_CASE("JPEG: a progressive file of over 500 scans is refused; 500 or fewer decode") {
  // Grey: the DC scan, then each of the 63 AC coefficients alone, first at bit 7 (Al 7) and refined bit by bit
  // down to 0: 1 + 63 * 8 = 505 scans, a valid script. Dropping refinements gives fewer.
  const auto script = [](int refinements) {
    std::vector<jpeg_scan_info> s;
    s.push_back({1, {0}, 0, 0, 0, 0});
    for (int k = 1; k <= 63; ++k) {
      const int top = k <= 63 - 8 ? refinements : 7;  // the last coefficients always refine fully
      s.push_back({1, {0}, k, k, 0, top});
      for (int a = top; a >= 1; --a) s.push_back({1, {0}, k, k, a, a - 1});
    }
    return s;
  };
  const int w = 16, h = 16;
  std::vector<unsigned char> grey(w * h);
  for (int i = 0; i < w * h; ++i) grey[i] = static_cast<unsigned char>((i * 37) % 251);
  JpegSpec many{w, h, 1, JCS_GRAYSCALE};
  many.scans = script(7);
  REQUIRE(many.scans.size() == 505);
  const auto p = write("scans.jpg", encode_jpeg(many, grey));
  CHECK_THROWS_WITH_AS(read_image(p), doctest::Contains("corrupt JPEG: a progressive image of over 500 scans"),
                       FileError);
  JpegSpec fewer{w, h, 1, JCS_GRAYSCALE};
  fewer.scans = script(0);
  CHECK(fewer.scans.size() == 1 + 55 + 8 * 8);
  const auto q = write("fewer_scans.jpg", encode_jpeg(fewer, grey));
  CHECK(read_image(q).shape() == std::vector<std::size_t>{16, 16, 3});
  fs::remove(p);
  fs::remove(q);
}
