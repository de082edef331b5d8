// PNG and JPEG files written here with stb_image_write, read back; bilinear resizing against
// hand-derived values and known identities; unreadable and corrupt files.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <siamese/data/images.hpp>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / ("siamese_test_images_" + std::to_string(::getpid()) + "_" + name);
}
/// A w x h image of `c` channels whose values follow a formula of (x, y, channel).
std::vector<unsigned char> pattern(int w, int h, int c) {
  std::vector<unsigned char> v(std::size_t(w * h * c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) v[std::size_t((y * w + x) * c + k)] = (unsigned char)((x * 13 + y * 7 + k * 50) % 256);
  return v;
}
Tensor tensor(std::size_t h, std::size_t w, std::size_t c, const std::vector<float>& v) {
  Tensor t({h, w, c});
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}
}  // namespace

TEST_CASE("PNG: RGB exactly, grey repeated over three channels, alpha dropped") {
  const int w = 7, h = 5;
  const fs::path rgb = temp("rgb.png"), grey = temp("grey.png"), rgba = temp("rgba.png");
  auto p3 = pattern(w, h, 3), p1 = pattern(w, h, 1), p4 = pattern(w, h, 4);
  REQUIRE(stbi_write_png(rgb.c_str(), w, h, 3, p3.data(), w * 3));
  REQUIRE(stbi_write_png(grey.c_str(), w, h, 1, p1.data(), w));
  REQUIRE(stbi_write_png(rgba.c_str(), w, h, 4, p4.data(), w * 4));
  const Tensor a = read_image(rgb), g = read_image(grey), r = read_image(rgba);
  CHECK(a.shape() == std::vector<std::size_t>{5, 7, 3});
  CHECK(g.shape() == std::vector<std::size_t>{5, 7, 3});
  for (int i = 0; i < w * h; ++i)
    for (int k = 0; k < 3; ++k) {
      CHECK(a[std::size_t(3 * i + k)] == float(p3[std::size_t(3 * i + k)]));
      CHECK(g[std::size_t(3 * i + k)] == float(p1[std::size_t(i)]));
      CHECK(r[std::size_t(3 * i + k)] == float(p4[std::size_t(4 * i + k)]));
    }
  for (const auto& p : {rgb, grey, rgba}) fs::remove(p);
}

TEST_CASE("JPEG: a smooth image survives quality 100 within a few levels; load_image resizes") {
  const int w = 40, h = 24;
  std::vector<unsigned char> px(std::size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) px[std::size_t((y * w + x) * 3 + k)] = (unsigned char)(60 + 3 * x + 2 * y + 20 * k);
  const fs::path jpg = temp("smooth.jpg");
  REQUIRE(stbi_write_jpg(jpg.c_str(), w, h, 3, px.data(), 100));
  const Tensor t = read_image(jpg);
  REQUIRE(t.shape() == std::vector<std::size_t>{24, 40, 3});
  float worst = 0;
  for (std::size_t i = 0; i < t.size(); ++i) worst = std::max(worst, std::abs(t[i] - float(px[i])));
  CHECK(worst <= 6.0f);
  const Tensor s = load_image(jpg, 12, 20);  // 2x down: each output is the mean of a 2x2 block
  REQUIRE(s.shape() == std::vector<std::size_t>{12, 20, 3});
  CHECK(s[(5 * 20 + 7) * 3 + 1] == doctest::Approx((t[(10 * 40 + 14) * 3 + 1] + t[(10 * 40 + 15) * 3 + 1] +
                                                     t[(11 * 40 + 14) * 3 + 1] + t[(11 * 40 + 15) * 3 + 1]) / 4));
  std::vector<float> batch(2 * 8 * 8 * 3, -1.0f);
  load_image_into(batch.data() + 8 * 8 * 3, jpg, 8, 8);
  CHECK(batch[8 * 8 * 3 - 1] == -1.0f);
  CHECK(batch[8 * 8 * 3] > 50.0f);
  fs::remove(jpg);
}

TEST_CASE("bilinear resizing with half-pixel centres") {
  // 1 x 2 -> 1 x 4: samples at x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped) of [0, 4].
  const Tensor up = resize_bilinear(tensor(1, 2, 1, {0, 4}), 1, 4);
  CHECK(std::vector<float>(up.begin(), up.end()) == std::vector<float>{0, 1, 3, 4});
  // 2x down on even sizes averages 2 x 2 blocks, per channel.
  std::vector<float> v(4 * 6 * 2);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float((i * 37) % 101);
  const Tensor src = tensor(4, 6, 2, v), down = resize_bilinear(src, 2, 3);
  for (std::size_t y = 0; y < 2; ++y)
    for (std::size_t x = 0; x < 3; ++x)
      for (std::size_t c = 0; c < 2; ++c) {
        const auto at = [&](std::size_t yy, std::size_t xx) { return v[(yy * 6 + xx) * 2 + c]; };
        const float mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
        CHECK(down[(y * 3 + x) * 2 + c] == doctest::Approx(mean));
      }
  // A plane a*x + b*y + c is reproduced exactly wherever no sample is clamped.
  std::vector<float> plane(5 * 7);
  for (std::size_t y = 0; y < 5; ++y)
    for (std::size_t x = 0; x < 7; ++x) plane[y * 7 + x] = 2.0f * float(x) - 3.0f * float(y) + 1.0f;
  const Tensor big = resize_bilinear(tensor(5, 7, 1, plane), 9, 11);
  for (std::size_t y = 0; y < 9; ++y)
    for (std::size_t x = 0; x < 11; ++x) {
      const double sy = (y + 0.5) * 5 / 9 - 0.5, sx = (x + 0.5) * 7 / 11 - 0.5;
      if (sy < 0 || sx < 0 || sy > 4 || sx > 6) continue;
      CHECK(big[y * 11 + x] == doctest::Approx(2 * sx - 3 * sy + 1).epsilon(1e-5));
    }
  // Same size: unchanged.
  const Tensor same = resize_bilinear(src, 4, 6);
  CHECK(std::vector<float>(same.begin(), same.end()) == v);
  CHECK_THROWS_AS(resize_bilinear(Tensor({4, 4}), 2, 2), ShapeError);
  CHECK_THROWS_AS(resize_bilinear(src, 0, 2), ShapeError);
}

TEST_CASE("missing, empty, corrupt and truncated files: FileError naming the file") {
  const std::string missing = temp("missing.png").string();
  CHECK_THROWS_WITH_AS(read_image(missing), ("'" + missing + "': cannot open image file").c_str(), FileError);
  CHECK_THROWS_AS(read_image(fs::temp_directory_path()), FileError);
  const fs::path empty = temp("empty.jpg"), junk = temp("junk.jpg"), cut = temp("cut.png");
  std::ofstream(empty).close();
  std::ofstream(junk, std::ios::binary) << "GIF89a, or anything else that is neither PNG nor JPEG";
  const std::string empty_msg = "'" + empty.string() + "': the image file is empty";
  CHECK_THROWS_WITH_AS(read_image(empty), empty_msg.c_str(), FileError);
  const std::string junk_msg = "'" + junk.string() + "': cannot decode the image (";
  CHECK_THROWS_WITH_AS(read_image(junk), doctest::Contains(junk_msg.c_str()), FileError);
  // A PNG cut in the middle of its compressed data.
  auto px = pattern(32, 32, 3);
  int len = 0;
  unsigned char* png = stbi_write_png_to_mem(px.data(), 32 * 3, 32, 32, 3, &len);
  REQUIRE(png);
  std::ofstream(cut, std::ios::binary).write(reinterpret_cast<const char*>(png), len / 2);
  STBIW_FREE(png);
  const std::string cut_msg = "'" + cut.string() + "': cannot decode";
  CHECK_THROWS_WITH_AS(read_image(cut), doctest::Contains(cut_msg.c_str()), FileError);
  CHECK_THROWS_WITH_AS(load_image(cut, 8, 8), doctest::Contains(cut_msg.c_str()), FileError);
  for (const auto& p : {empty, junk, cut}) fs::remove(p);
}
