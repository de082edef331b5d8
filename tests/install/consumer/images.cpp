// An outside project using the installed library's images part (siamese-images: libpng and libjpeg): decodes a
// 2x1 PNG and refuses a damaged JPEG through libjpeg.
#include <siamese/data/images.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

int main() {
  const std::string png(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x01\x08\x02\x00"
      "\x00\x00\x7b\x40\xe8\xdd\x00\x00\x00\x0f\x49\x44\x41\x54\x78\x9c\x63\x38\x91\x62\xc4\x25\x22\x07\x00\x07\xd7"
      "\x01\x9b\x2e\xd5\x2b\x69\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82",
      72);
  const auto dir = std::filesystem::temp_directory_path();
  const auto png_path = dir / "siamese_consumer.png", jpeg_path = dir / "siamese_consumer.jpg";
  std::ofstream(png_path, std::ios::binary) << png;
  std::ofstream(jpeg_path, std::ios::binary) << std::string("\xff\xd8\xff\xdb\x00\x43\x00", 7);
  const siamese::Tensor img = siamese::read_image(png_path);
  const bool png_ok = img.size() == 6 && img[0] == 200.0f && img[5] == 30.0f;
  bool jpeg_refused = false;
  try {
    siamese::read_image(jpeg_path);
  } catch (const siamese::FileError&) {
    jpeg_refused = true;
  }
  std::filesystem::remove(png_path);
  std::filesystem::remove(jpeg_path);
  std::printf("consumer images: PNG %s, damaged JPEG %s\n", png_ok ? "decoded" : "WRONG",
              jpeg_refused ? "refused" : "NOT refused");
  return png_ok && jpeg_refused ? 0 : 1;
}
