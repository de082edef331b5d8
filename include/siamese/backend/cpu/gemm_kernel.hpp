#pragma once
// Building blocks of siamese::cpu::sgemm: register tile sizes, the xsimd
// micro-kernel, the packing routines and the per-thread packing workspace.

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace siamese::cpu {

/// Elementwise function applied after the bias in sgemm_bias_act.
enum class GemmAct { identity, relu };

/// Fused epilogue of sgemm_bias_act: C = act(alpha*op(A)*op(B) + beta*C + bias).
/// Represents optional biases (col_bias has n entries and is added to every
/// row, row_bias has m entries and is added to every column) and an activation.
/// Requires the bias arrays, when not null, to stay valid during the call.
struct GemmEpilogue {
  const float* col_bias = nullptr;
  const float* row_bias = nullptr;
  GemmAct act = GemmAct::identity;
};

}  // namespace siamese::cpu

namespace siamese::cpu::detail {

using FBatch = xsimd::batch<float>;
/// Floats per SIMD register of the compiled instruction set (16 on AVX-512, 8 on AVX2).
inline constexpr std::size_t simd_w = FBatch::size;
/// Register tile: MR rows x NR columns of C held in 2*MR accumulators; 14x32 leaves
/// 4 of AVX-512's 32 registers for B and the broadcast, 6x16 fits AVX2's 16.
inline constexpr std::size_t gemm_nr = 2 * simd_w;
inline constexpr std::size_t gemm_mr = simd_w >= 16 ? 14 : 6;
/// Depth of a pass when a packed 256x32 B panel must stay in the 48 KiB L1 (32 KiB of it).
inline constexpr std::size_t gemm_kc = 256;
inline constexpr std::size_t gemm_align = 64;

template <std::size_t... I, class F>
[[gnu::always_inline]] inline void unroll(std::index_sequence<I...>, F&& f) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

/// How the micro-kernel finishes one tile: c = act(alpha*acc + beta*c + bias).
struct TileOut {
  float alpha;
  float beta;
  bool read_c;                     // false: beta == 0, C is never read
  bool finish;                     // last K chunk: add biases, apply act
  const float* col_bias;           // already offset to the tile's first column
  const float* row_bias;           // already offset to the tile's first row
  GemmAct act;
};

/// Asks for `rows` rows of `len` floats, `ld` apart, to be brought into L2.
inline void prefetch_l2(const float* p, std::size_t ld, std::size_t rows, std::size_t len) {
  constexpr std::size_t line = gemm_align / sizeof(float);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t k = 0; k < len; k += line) {
      const float* q = p + r * ld + k;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
      // g++ 12 deletes __builtin_prefetch in loops that have no other effect.
      asm volatile("prefetcht1 %0" : : "m"(*q));
#else
      __builtin_prefetch(q, 0, 2);
#endif
    }
  }
}

/// Computes an MR x NR tile over kc steps.
/// DirectA: a points at row-major A (a[i*lda + k]); otherwise at a packed panel a[k*MR + i].
/// b points at a packed panel b[k*NR + j] aligned to gemm_align.
/// pf: pf_rows rows of kc floats, lda apart, that a later call reads in place;
/// requested before this call computes.
// flatten: g++ -O3 otherwise may keep the unroll lambdas out of line, and the
// accumulators then live in memory (measured: half the speed).
template <bool DirectA>
[[gnu::flatten]] inline void micro_kernel(std::size_t kc, const float* a, std::size_t lda, const float* b,
                         float* c, std::size_t ldc, const TileOut& out,
                         const float* pf = nullptr, std::size_t pf_rows = 0) {
  constexpr std::size_t MR = gemm_mr, NR = gemm_nr, W = simd_w;
  using Rows = std::make_index_sequence<MR>;
  FBatch acc[MR][2];
  prefetch_l2(pf, lda, pf_rows, kc);
  {  // the first step sets the accumulators (kc >= 1): no zeroing pass
    const FBatch b0 = FBatch::load_aligned(b);
    const FBatch b1 = FBatch::load_aligned(b + W);
    unroll(Rows{}, [&](auto i) {
      const FBatch ai(DirectA ? a[i * lda] : a[i]);
      acc[i][0] = ai * b0;
      acc[i][1] = ai * b1;
    });
  }
  for (std::size_t k = 1; k < kc; ++k) {
    const FBatch b0 = FBatch::load_aligned(b + k * NR);
    const FBatch b1 = FBatch::load_aligned(b + k * NR + W);
    unroll(Rows{}, [&](auto i) {
      const FBatch ai(DirectA ? a[i * lda + k] : a[k * MR + i]);
      acc[i][0] = xsimd::fma(ai, b0, acc[i][0]);
      acc[i][1] = xsimd::fma(ai, b1, acc[i][1]);
    });
  }
  const FBatch va(out.alpha), vb(out.beta), zero(0.f);
  const bool col = out.finish && out.col_bias != nullptr;
  const bool row = out.finish && out.row_bias != nullptr;
  const bool relu = out.finish && out.act == GemmAct::relu;
  const bool scale = out.alpha != 1.f;
  // With a short k the finish is a good part of the call: the two common cases
  // (store, accumulate) get straight-line code, the rest tests per row.
  if (!scale && !col && !row && !relu && (!out.read_c || out.beta == 1.f)) {
    if (out.read_c) {
      unroll(Rows{}, [&](auto i) {
        float* ci = c + i * ldc;
        (acc[i][0] + FBatch::load_unaligned(ci)).store_unaligned(ci);
        (acc[i][1] + FBatch::load_unaligned(ci + W)).store_unaligned(ci + W);
      });
    } else {
      unroll(Rows{}, [&](auto i) {
        acc[i][0].store_unaligned(c + i * ldc);
        acc[i][1].store_unaligned(c + i * ldc + W);
      });
    }
    return;
  }
  FBatch cb0 = zero, cb1 = zero;
  if (col) {
    cb0 = FBatch::load_unaligned(out.col_bias);
    cb1 = FBatch::load_unaligned(out.col_bias + W);
  }
  unroll(Rows{}, [&](auto i) {
    float* ci = c + i * ldc;
    FBatch v0 = acc[i][0], v1 = acc[i][1];
    if (scale) {
      v0 *= va;
      v1 *= va;
    }
    if (out.read_c) {
      v0 = xsimd::fma(vb, FBatch::load_unaligned(ci), v0);
      v1 = xsimd::fma(vb, FBatch::load_unaligned(ci + W), v1);
    }
    if (col) {
      v0 += cb0;
      v1 += cb1;
    }
    if (row) {
      const FBatch r(out.row_bias[i]);
      v0 += r;
      v1 += r;
    }
    if (relu) {
      v0 = xsimd::max(v0, zero);
      v1 = xsimd::max(v1, zero);
    }
    v0.store_unaligned(ci);
    v1.store_unaligned(ci + W);
  });
}

/// Merges a full MR x NR tile computed into `tile` (alpha applied, C untouched)
/// into the mr x nr valid corner of C: used on the ragged edges of C.
inline void merge_edge_tile(const float* tile, std::size_t mr, std::size_t nr, float* c,
                            std::size_t ldc, const TileOut& out) {
  for (std::size_t i = 0; i < mr; ++i) {
    for (std::size_t j = 0; j < nr; ++j) {
      float v = tile[i * gemm_nr + j];
      if (out.read_c) v += out.beta * c[i * ldc + j];
      if (out.finish) {
        if (out.col_bias != nullptr) v += out.col_bias[j];
        if (out.row_bias != nullptr) v += out.row_bias[i];
        if (out.act == GemmAct::relu) v = std::max(v, 0.f);
      }
      c[i * ldc + j] = v;
    }
  }
}

/// Packs the kc x nr block of op(B) starting at (p, j) into a zero-padded
/// panel dst[k*NR + jj]. op(B)(k, j) is b[k*ldb + j], or b[j*ldb + k] when trans.
inline void pack_b_panel(bool trans, const float* b, std::size_t ldb, std::size_t p,
                         std::size_t j, std::size_t kc, std::size_t nr, float* dst) {
  constexpr std::size_t NR = gemm_nr, W = simd_w;
  if (!trans) {
    if (nr == NR) {
      for (std::size_t k = 0; k < kc; ++k) {
        const float* src = b + (p + k) * ldb + j;
        FBatch::load_unaligned(src).store_aligned(dst + k * NR);
        FBatch::load_unaligned(src + W).store_aligned(dst + k * NR + W);
      }
      return;
    }
    for (std::size_t k = 0; k < kc; ++k) {
      const float* src = b + (p + k) * ldb + j;
      float* d = dst + k * NR;
      std::size_t jj = 0;
      for (; jj < nr; ++jj) d[jj] = src[jj];
      for (; jj < NR; ++jj) d[jj] = 0.f;
    }
    return;
  }
  // Transposed: each of the nr source rows is contiguous in k; walk it in
  // short chunks so the nr rows stay in L1 while the panel is written.
  constexpr std::size_t chunk = 64;
  for (std::size_t k0 = 0; k0 < kc; k0 += chunk) {
    const std::size_t k1 = std::min(kc, k0 + chunk);
    for (std::size_t jj = 0; jj < nr; ++jj) {
      const float* src = b + (j + jj) * ldb + p;
      for (std::size_t k = k0; k < k1; ++k) dst[k * NR + jj] = src[k];
    }
    for (std::size_t jj = nr; jj < NR; ++jj)
      for (std::size_t k = k0; k < k1; ++k) dst[k * NR + jj] = 0.f;
  }
}

/// Packs the mr x kc block of op(A) starting at (i, p) into a zero-padded
/// panel dst[k*MR + ii]. op(A)(i, k) is a[i*lda + k], or a[k*lda + i] when trans.
inline void pack_a_panel(bool trans, const float* a, std::size_t lda, std::size_t i,
                         std::size_t p, std::size_t mr, std::size_t kc, float* dst) {
  constexpr std::size_t MR = gemm_mr;
  if (trans) {
    for (std::size_t k = 0; k < kc; ++k) {
      const float* src = a + (p + k) * lda + i;
      float* d = dst + k * MR;
      if (mr == MR) {  // a fixed-size copy becomes a few vector moves
        std::memcpy(d, src, MR * sizeof(float));
        continue;
      }
      std::size_t ii = 0;
      for (; ii < mr; ++ii) d[ii] = src[ii];
      for (; ii < MR; ++ii) d[ii] = 0.f;
    }
    return;
  }
  for (std::size_t ii = 0; ii < mr; ++ii) {
    const float* src = a + (i + ii) * lda + p;
    for (std::size_t k = 0; k < kc; ++k) dst[k * MR + ii] = src[k];
  }
  for (std::size_t ii = mr; ii < MR; ++ii)
    for (std::size_t k = 0; k < kc; ++k) dst[k * MR + ii] = 0.f;
}

/// Growable aligned float buffer; it never shrinks, so repeated calls at one
/// size allocate only the first time. Large buffers are made of whole 2 MiB
/// pages, which Linux is asked to back with huge pages: a packed block is then
/// physically contiguous and spreads evenly over the L2 sets instead of
/// depending on where the kernel placed each 4 KiB page.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  float* reserve(std::size_t floats) {
    if (floats > capacity_) {
      release();
      constexpr std::size_t huge = std::size_t{1} << 21;
      std::size_t bytes = floats * sizeof(float);
      align_ = bytes >= huge / 8 ? huge : gemm_align;
      bytes = (bytes + align_ - 1) / align_ * align_;
      data_ = static_cast<float*>(::operator new(bytes, std::align_val_t{align_}));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (align_ == huge) ::madvise(data_, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
      capacity_ = bytes / sizeof(float);
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t{align_});
    data_ = nullptr;
    capacity_ = 0;
  }
  float* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t align_ = gemm_align;
};

/// The calling thread's packing workspace. It is owned by the thread that
/// calls sgemm and handed to the tasks of that call only (the call runs in
/// an isolated region, so no other sgemm can start on this thread meanwhile).
inline AlignedBuffer& gemm_workspace() {
  static thread_local AlignedBuffer buffer;
  return buffer;
}

}  // namespace siamese::cpu::detail
