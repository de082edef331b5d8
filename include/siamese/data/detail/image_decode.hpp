#pragma once
// PNG decoding through libpng and JPEG decoding through libjpeg-turbo (Debian's libpng16 and libjpeg62-turbo, both
// fuzzed continuously upstream), into 8-bit RGB. Both libraries report a fatal error by longjmp: each step that can
// fail runs in a function of its own that calls setjmp and holds no object with a destructor, so a jump never skips
// one; the library handles are owned by guards in the caller's frame, which the jump does not cross.
#include <csetjmp>
#include <cstddef>
#include <cstdio>  // jpeglib.h uses FILE and size_t without including their headers
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <png.h>

// jpeglib.h, then jerror.h: the order libjpeg's documentation uses (kept apart so that sorting keeps it).
#include <jpeglib.h>

#include <jerror.h>

#include "../../core/errors.hpp"

namespace siamese::detail {

/// An image decoded to 8-bit RGB, row-major: rgb[(y * width + x) * 3 + channel].
struct Rgb8Image {
  std::size_t height = 0, width = 0;
  std::vector<unsigned char> rgb;
};

/// The decoders refuse a header that claims more pixels than its file could plausibly encode (even a blank 1-bit
/// PNG or JPEG stays under ~8000 pixels a byte), before allocating for them.
inline void check_pixel_claim(const std::string& file, std::size_t width, std::size_t height, std::size_t bytes) {
  if (width == 0 || height == 0)
    throw FileError("'" + file + "': cannot decode the image (it claims " + std::to_string(width) + " x " +
                    std::to_string(height) + " pixels)");
  if (double(width) * double(height) > 16384.0 * double(bytes) + double(1 << 22))
    throw FileError("'" + file + "': the image claims " + std::to_string(width) + " x " + std::to_string(height) +
                    " pixels, more than its " + std::to_string(bytes) + " bytes can hold");
}

inline bool is_png(std::string_view b) { return b.size() >= 8 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8); }
inline bool is_jpeg(std::string_view b) {
  return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xFF && static_cast<unsigned char>(b[1]) == 0xD8 &&
         static_cast<unsigned char>(b[2]) == 0xFF;
}

// ---- PNG ----------------------------------------------------------------------------------------------------------

struct PngState {
  const unsigned char* data;
  std::size_t size, pos;
  char message[200];
};

inline void png_on_error(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}
inline void png_on_warning(png_structp, png_const_charp) {}
inline void png_on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "the file ends early");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

// Reads the header and asks libpng for 8-bit RGB: 16-bit samples keep their high byte, palettes and grey expand,
// an alpha channel (or palette transparency) is dropped. False on an error (its text in the state).
inline bool png_read_header(png_structp png, png_infop info, png_uint_32* width, png_uint_32* height) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  int depth = 0, color = 0;
  png_get_IHDR(png, info, width, height, &depth, &color, nullptr, nullptr, nullptr);
  if (depth == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8)
    png_error(png, "cannot convert this colour type to 8-bit RGB");
  return true;
}

inline bool png_read_pixels(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

inline Rgb8Image decode_png(const std::string& file, std::string_view bytes) {
  PngState state{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  struct Guard {
    png_structp* p;
    png_infop* i;
    ~Guard() { png_destroy_read_struct(p, i, nullptr); }
  } guard{&png, &info};
  if (!png || !info) throw std::bad_alloc();
  png_set_read_fn(png, &state, png_on_read);
  const auto fail = [&] {
    return FileError("'" + file + "': cannot decode the image (corrupt PNG: " + state.message + ")");
  };
  png_uint_32 w = 0, h = 0;
  if (!png_read_header(png, info, &w, &h)) throw fail();
  check_pixel_claim(file, w, h, bytes.size());
  Rgb8Image img{h, w, std::vector<unsigned char>(std::size_t(h) * w * 3)};
  std::vector<png_bytep> rows(h);
  for (std::size_t y = 0; y < h; ++y) rows[y] = img.rgb.data() + y * w * 3;
  if (!png_read_pixels(png, rows.data())) throw fail();
  return img;
}

// ---- JPEG ---------------------------------------------------------------------------------------------------------

struct JpegState {
  jpeg_error_mgr errors;  // first: libjpeg hands callbacks a pointer to it
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};
/// libjpeg-turbo's own guard against progressive files built to decode slowly (TurboJPEG's TJFLAG_LIMITSCANS).
inline constexpr int kJpegMaxScans = 500;

inline void jpeg_on_error(j_common_ptr c) {
  auto* s = reinterpret_cast<JpegState*>(c->err);
  (*c->err->format_message)(c, s->message);
  std::longjmp(s->jump, 1);
}
// Warnings are corrupt data the decoder can carry on past (as browsers and PIL do), except a file that ends early:
// its missing part would be made up as grey.
inline void jpeg_on_message(j_common_ptr c, int level) {
  if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(c);
}
inline void jpeg_on_progress(j_common_ptr c) {
  auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (c->is_decompressor && d->input_scan_number > kJpegMaxScans) {
    auto* s = reinterpret_cast<JpegState*>(c->err);
    std::snprintf(s->message, sizeof s->message, "a progressive image of over %d scans", kJpegMaxScans);
    std::longjmp(s->jump, 1);
  }
}

inline bool jpeg_create(j_decompress_ptr d, JpegState* s) {
  if (setjmp(s->jump)) return false;
  jpeg_create_decompress(d);
  return true;
}

inline bool jpeg_read_header_rgb(j_decompress_ptr d, JpegState* s, const unsigned char* data, std::size_t size) {
  if (setjmp(s->jump)) return false;
  d->progress = &s->progress;
  jpeg_mem_src(d, data, static_cast<unsigned long>(size));
  jpeg_read_header(d, TRUE);
  d->out_color_space = JCS_RGB;  // from grey or YCbCr; CMYK cannot convert and fails in start_decompress
  jpeg_calc_output_dimensions(d);
  return true;
}

inline bool jpeg_read_pixels(j_decompress_ptr d, JpegState* s, unsigned char* out) {
  if (setjmp(s->jump)) return false;
  jpeg_start_decompress(d);
  if (d->output_components != 3) {
    std::snprintf(s->message, sizeof s->message, "decodes to %d channels, not RGB", d->output_components);
    return false;
  }
  const std::size_t stride = std::size_t(d->output_width) * 3;
  while (d->output_scanline < d->output_height) {
    JSAMPROW row = out + std::size_t(d->output_scanline) * stride;
    jpeg_read_scanlines(d, &row, 1);
  }
  return true;
}

inline Rgb8Image decode_jpeg(const std::string& file, std::string_view bytes) {
  JpegState state{};
  jpeg_decompress_struct d{};
  d.err = jpeg_std_error(&state.errors);
  state.errors.error_exit = jpeg_on_error;
  state.errors.emit_message = jpeg_on_message;
  state.progress.progress_monitor = jpeg_on_progress;
  const auto fail = [&] {
    return FileError("'" + file + "': cannot decode the image (corrupt JPEG: " + state.message + ")");
  };
  if (!jpeg_create(&d, &state)) throw fail();
  struct Guard {
    jpeg_decompress_struct* d;
    ~Guard() { jpeg_destroy_decompress(d); }
  } guard{&d};
  d.mem->max_memory_to_use = std::size_t(1) << 30;  // progressive files buffer every coefficient
  if (!jpeg_read_header_rgb(&d, &state, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()))
    throw fail();
  check_pixel_claim(file, d.output_width, d.output_height, bytes.size());
  Rgb8Image img{d.output_height, d.output_width, std::vector<unsigned char>(std::size_t(d.output_height) * d.output_width * 3)};
  if (!jpeg_read_pixels(&d, &state, img.rgb.data())) throw fail();
  return img;
}

/// Decodes a PNG or JPEG file held in `bytes` (told apart by their signatures) into 8-bit RGB.
inline Rgb8Image decode_image(const std::string& file, std::string_view bytes) {
  if (is_png(bytes)) return decode_png(file, bytes);
  if (is_jpeg(bytes)) return decode_jpeg(file, bytes);
  throw FileError("'" + file + "': cannot decode the image (neither a PNG nor a JPEG signature); PNG and JPEG are supported");
}

}  // namespace siamese::detail
