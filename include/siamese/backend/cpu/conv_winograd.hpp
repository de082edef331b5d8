#pragma once
// Forward 3x3, stride-1 convolution of backend::Cpu by Winograd's minimal filtering F(2x2, 3x3)
// (Lavin & Gray, 2016): each 2x2 block of output pixels comes from a 4x4 input tile through
// Y = A^T [(G g G^T) .* (B^T d B)] A, so that the channel sums become 16 GEMMs of
// (tiles x c) x (c x f) with 2.25x fewer multiply-adds than im2col + GEMM. Tiles are processed in
// blocks (thread-local transform buffers that stay in cache), blocks in parallel. Used for the maps
// where the saving outweighs the transforms (at least 64 channels in and out, 14x14 or larger outputs,
// VGG's convolutions); results match the direct sum to a few float roundings (tested against
// backend::Reference).
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../kinds.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace siamese::cpu::detail {

/// True when conv2d_forward_act takes the Winograd path for geometry g.
inline bool conv_winograd_ok(const siamese::detail::ConvGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.c >= 64 && g.f >= 64 && g.oh >= 14 && g.ow >= 14;
}

/// U[k][ci][fo] = (G g G^T)[i][j], k = 4i + j, for the HWIO kernel w (3, 3, c, f);
/// G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
inline void winograd_kernel_transform(const float* w, float* u, std::size_t c, std::size_t f) {
  for_ranges(c, 8, 16 * c * f, [&](std::size_t c0, std::size_t c1) {
    for (std::size_t ci = c0; ci < c1; ++ci) {
      const float* g[3][3];
      for (std::size_t ky = 0; ky < 3; ++ky)
        for (std::size_t kx = 0; kx < 3; ++kx) g[ky][kx] = w + ((ky * 3 + kx) * c + ci) * f;
      float* out[16];
      for (std::size_t k = 0; k < 16; ++k) out[k] = u + (k * c + ci) * f;
      for (std::size_t fo = 0; fo < f; ++fo) {
        float t[4][3];  // G g
        for (std::size_t kx = 0; kx < 3; ++kx) {
          const float a = g[0][kx][fo], b = g[1][kx][fo], d = g[2][kx][fo];
          t[0][kx] = a;
          t[1][kx] = 0.5f * (a + b + d);
          t[2][kx] = 0.5f * (a - b + d);
          t[3][kx] = d;
        }
        for (std::size_t i = 0; i < 4; ++i) {  // (G g) G^T
          out[4 * i + 0][fo] = t[i][0];
          out[4 * i + 1][fo] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
          out[4 * i + 2][fo] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
          out[4 * i + 3][fo] = t[i][2];
        }
      }
    }
  });
}

/// Tiles of 2x2 output pixels: `th` x `tw` per sample.
struct WinogradTiles {
  std::size_t th, tw, per_sample;
  explicit WinogradTiles(const siamese::detail::ConvGeom& g)
      : th((g.oh + 1) / 2), tw((g.ow + 1) / 2), per_sample(th * tw) {}
};

/// V[k][tl][ci] = (B^T d B)[i][j] for the tiles [t0, t0 + count) of x (n, h, w, c), with d the 4x4
/// input patch at (2 ty - pt, 2 tx - pl), zero outside the map;
/// B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
inline void winograd_input_transform(const siamese::detail::ConvGeom& g, const WinogradTiles& tiles, const float* x,
                                     std::size_t t0, std::size_t count, float* v) {
  const std::size_t c = g.c;
  for (std::size_t tl = 0; tl < count; ++tl) {
    const std::size_t t = t0 + tl, b = t / tiles.per_sample, r = t % tiles.per_sample;
    const std::ptrdiff_t iy0 = std::ptrdiff_t(2 * (r / tiles.tw)) - std::ptrdiff_t(g.pt);
    const std::ptrdiff_t ix0 = std::ptrdiff_t(2 * (r % tiles.tw)) - std::ptrdiff_t(g.pl);
    const float* d[4][4];
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < 4; ++j) {
        const std::ptrdiff_t iy = iy0 + std::ptrdiff_t(i), ix = ix0 + std::ptrdiff_t(j);
        const bool in = iy >= 0 && ix >= 0 && iy < std::ptrdiff_t(g.h) && ix < std::ptrdiff_t(g.w);
        d[i][j] = in ? x + ((b * g.h + std::size_t(iy)) * g.w + std::size_t(ix)) * c : nullptr;
      }
    float* out[16];
    for (std::size_t k = 0; k < 16; ++k) out[k] = v + (k * count + tl) * c;
    auto tile = [&](auto zero, auto load, auto store, std::size_t ci) {
      using V = decltype(zero);
      V s[4][4];
      for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) s[i][j] = d[i][j] ? load(d[i][j] + ci) : zero;
      V t[4][4];  // B^T d
      for (std::size_t j = 0; j < 4; ++j) {
        t[0][j] = s[0][j] - s[2][j];
        t[1][j] = s[1][j] + s[2][j];
        t[2][j] = s[2][j] - s[1][j];
        t[3][j] = s[1][j] - s[3][j];
      }
      for (std::size_t i = 0; i < 4; ++i) {  // (B^T d) B
        store(out[4 * i + 0] + ci, t[i][0] - t[i][2]);
        store(out[4 * i + 1] + ci, t[i][1] + t[i][2]);
        store(out[4 * i + 2] + ci, t[i][2] - t[i][1]);
        store(out[4 * i + 3] + ci, t[i][1] - t[i][3]);
      }
    };
    std::size_t ci = 0;
    for (; ci + vw <= c; ci += vw)
      tile(
          Vec(0.0f), [](const float* p) { return Vec::load_unaligned(p); },
          [](float* p, const Vec& q) { q.store_unaligned(p); }, ci);
    for (; ci < c; ++ci)
      tile(
          0.0f, [](const float* p) { return *p; }, [](float* p, float q) { *p = q; }, ci);
  }
}

/// y = act(A^T m A + bias) for the tiles [t0, t0 + count), m[k][tl][fo] the products of the block;
/// A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]. Pixels beyond the map (odd extents) are dropped.
inline void winograd_output_transform(const siamese::detail::ConvGeom& g, const WinogradTiles& tiles, const float* m,
                                      std::size_t t0, std::size_t count, const float* bias, Act act, float* y) {
  const std::size_t f = g.f;
  for (std::size_t tl = 0; tl < count; ++tl) {
    const std::size_t t = t0 + tl, b = t / tiles.per_sample, r = t % tiles.per_sample;
    const std::size_t oy = 2 * (r / tiles.tw), ox = 2 * (r % tiles.tw);
    const bool down = oy + 1 < g.oh, right = ox + 1 < g.ow;
    float* dst[2][2];
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 2; ++j)
        dst[i][j] = (i == 0 || down) && (j == 0 || right) ? y + ((b * g.oh + oy + i) * g.ow + ox + j) * f : nullptr;
    const float* in[16];
    for (std::size_t k = 0; k < 16; ++k) in[k] = m + (k * count + tl) * f;
    auto tile = [&](auto zero, auto load, auto store, std::size_t fo) {
      using V = decltype(zero);
      V s[2][4];  // A^T m
      for (std::size_t j = 0; j < 4; ++j) {
        const V m0 = load(in[j] + fo), m1 = load(in[4 + j] + fo), m2 = load(in[8 + j] + fo), m3 = load(in[12 + j] + fo);
        s[0][j] = m0 + m1 + m2;
        s[1][j] = m1 - m2 - m3;
      }
      const V bv = bias ? load(bias + fo) : zero;
      for (std::size_t i = 0; i < 2; ++i) {  // (A^T m) A
        if (dst[i][0]) store(dst[i][0] + fo, apply_act(act, V(s[i][0] + s[i][1] + s[i][2] + bv)));
        if (dst[i][1]) store(dst[i][1] + fo, apply_act(act, V(s[i][1] - s[i][2] - s[i][3] + bv)));
      }
    };
    std::size_t fo = 0;
    for (; fo + vw <= f; fo += vw)
      tile(
          Vec(0.0f), [](const float* p) { return Vec::load_unaligned(p); },
          [](float* p, const Vec& q) { q.store_unaligned(p); }, fo);
    for (; fo < f; ++fo)
      tile(
          0.0f, [](const float* p) { return *p; }, [](float* p, float q) { *p = q; }, fo);
  }
}

/// y = act(conv(x, w) + bias) for n samples by F(2x2, 3x3); requires conv_winograd_ok(g).
inline void conv2d_forward_winograd(const siamese::detail::ConvGeom& g, Act act, const float* x, const float* w,
                                    const float* bias, float* y, std::size_t n) {
  const std::size_t c = g.c, f = g.f;
  const WinogradTiles tiles(g);
  const std::size_t total = n * tiles.per_sample;
  if (total == 0) return;
  static thread_local Workspace kernel_ws;
  float* u = kernel_ws.reserve(16 * c * f);
  winograd_kernel_transform(w, u, c, f);
  // Tiles per block: the block's transformed inputs and products (16 x tiles x (c + f) floats) near
  // 1 MiB, so that they stay in cache from transform to product to output.
  const std::size_t block = std::clamp<std::size_t>((std::size_t{1} << 18) / (16 * (c + f)), 32, 256);
  const std::size_t blocks = (total + block - 1) / block;
  // One block buffer per thread of the arena, prepared here: a pool thread joining in a later step allocates nothing.
  // (A thread_local named inside the region would be the running thread's own: the region uses `blocks_ws`.)
  static thread_local PerThread<Workspace> block_ws;
  PerThread<Workspace>& blocks_ws = block_ws;
  const std::size_t block_floats = 16 * block * (c + f);
  blocks_ws.prepare([&](Workspace& w) { w.reserve(block_floats); });
  for_ranges(blocks, 1, total * 16 * (c + f), [&](std::size_t b0, std::size_t b1) {
    float* v = blocks_ws.local().reserve(block_floats);
    float* m = v + 16 * block * c;
    for (std::size_t bi = b0; bi < b1; ++bi) {
      const std::size_t t0 = bi * block, count = std::min(block, total - t0);
      winograd_input_transform(g, tiles, x, t0, count, v);
      for (std::size_t k = 0; k < 16; ++k)
        sgemm(false, false, count, f, c, 1.0f, v + k * count * c, c, u + k * c * f, f, 0.0f, m + k * count * f, f);
      winograd_output_transform(g, tiles, m, t0, count, bias, act, y);
    }
  });
}

}  // namespace siamese::cpu::detail
