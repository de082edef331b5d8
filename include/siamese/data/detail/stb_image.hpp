#pragma once
// stb_image (Debian's libstb-dev) compiled into each translation unit that includes this header, with
// internal linkage (STB_IMAGE_STATIC): a header-only library cannot own the one definition that a
// non-static build needs. A translation unit that already included stb_image.h keeps its own build.
#ifndef STBI_INCLUDE_STB_IMAGE_H
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#else
#include <stb_image.h>
#endif
#pragma GCC diagnostic pop
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_STATIC
#endif
