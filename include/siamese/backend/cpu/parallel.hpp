#pragma once
// Shared pieces of the CPU kernels: the SIMD batch, when a loop goes parallel, grow-only workspaces
// and reductions whose result does not depend on the number of threads.
#include <xsimd/xsimd.hpp>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>
#include <memory>
#include <utility>

namespace siamese::cpu::detail {

using Vec = xsimd::batch<float>;
/// Floats per SIMD register (16 with AVX-512, 8 with AVX2).
inline constexpr std::size_t vw = Vec::size;
/// Below this many touched floats a kernel stays on the calling thread: a parallel region costs more.
inline constexpr std::size_t parallel_min = 32768;

/// Runs f(begin, end) over [0, n): on the calling thread when `work` floats are too few to pay for
/// threads, else split over the task arena in ranges of at least `grain` items. The region is
/// isolated: while it waits, the calling thread runs none of its caller's other tasks, which could
/// enter a kernel and take over the thread-local workspace that this call is still using.
template <class F>
void for_ranges(std::size_t n, std::size_t grain, std::size_t work, F&& f) {
  if (n == 0) return;
  if (work < parallel_min || n <= grain) {
    f(std::size_t{0}, n);
    return;
  }
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, std::max<std::size_t>(grain, 1)),
                      [&](const tbb::blocked_range<std::size_t>& r) { f(r.begin(), r.end()); });
  });
}

/// One T per thread of the task arena, prepared by the calling thread before a parallel region, so that
/// a pool thread that first joins a kernel's region in a later step finds its buffers ready and
/// allocates nothing (a thread_local buffer would be allocated on that thread's first visit). Keep one
/// per calling thread (thread_local) and pass it to the region through a reference: a thread_local
/// named inside the region's body would be the running thread's own, not the caller's.
template <class T>
class PerThread {
 public:
  /// Gives every thread of the current arena a slot and calls prepare(slot) on each (grow-only).
  template <class Prepare>
  void prepare(Prepare&& prepare) {
    const auto n = static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
    if (n > count_) {  // T need not be movable: a larger arena gets fresh slots
      slots_ = std::make_unique<T[]>(n);
      count_ = n;
    }
    for (std::size_t i = 0; i < count_; ++i) prepare(slots_[i]);
  }
  /// The slot of the thread running this: its index in the arena.
  T& local() {
    const int i = tbb::this_task_arena::current_thread_index();
    return slots_[i >= 0 && std::size_t(i) < count_ ? std::size_t(i) : 0];
  }

 private:
  std::unique_ptr<T[]> slots_;
  std::size_t count_ = 0;
};

/// True when g[0, width) holds a value other than zero (a NaN counts).
inline bool any_nonzero(const float* g, std::size_t width) {
  std::size_t k = 0;
  for (; k + vw <= width; k += vw)
    if (xsimd::any(Vec::load_unaligned(g + k) != Vec(0.0f))) return true;
  for (; k < width; ++k)
    if (g[k] != 0.0f) return true;
  return false;
}

/// A 64-byte aligned float array that only grows: a kernel that keeps one per call site (thread_local)
/// allocates on its first call at a given size and never again.
class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() { release(); }
  float* reserve(std::size_t floats) {
    if (floats > capacity_) {
      release();
      data_ = static_cast<float*>(::operator new(floats * sizeof(float), std::align_val_t{64}));
      capacity_ = floats;
    }
    return data_;
  }

 private:
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t{64});
    data_ = nullptr;
    capacity_ = 0;
  }
  float* data_ = nullptr;
  std::size_t capacity_ = 0;
};

/// Rows per block of a column reduction: fixed by the row count alone, so the sum is the same for
/// any number of threads; float sums within a block, double across blocks.
inline std::size_t reduce_block_rows(std::size_t rows) { return std::max<std::size_t>(256, (rows + 255) / 256); }

/// out[k] = sum over r < rows of term(a[r*c + k], b[r*bs + k]) for k < c, where term accepts both
/// (Vec, Vec) and (float, float). bs = 0 broadcasts one row of b (a per-column mean, say). When
/// `terms` is not null, each term is also stored at terms[r*c + k] (an activation gradient and its
/// column sums in one pass).
template <class Term>
void column_reduce(const float* a, const float* b, std::size_t bs, std::size_t rows, std::size_t c, float* out,
                   Term term, float* terms = nullptr) {
  const std::size_t br = reduce_block_rows(rows), nb = (rows + br - 1) / br, body = c - c % vw;
  auto add_row = [&](float* acc, std::size_t r) {
    const float *ra = a + r * c, *rb = b + r * bs;
    float* rt = terms ? terms + r * c : nullptr;
    for (std::size_t k = 0; k < body; k += vw) {
      const Vec t = term(Vec::load_unaligned(ra + k), Vec::load_unaligned(rb + k));
      if (rt) t.store_unaligned(rt + k);
      (Vec::load_unaligned(acc + k) + t).store_unaligned(acc + k);
    }
    for (std::size_t k = body; k < c; ++k) {
      const float t = term(ra[k], rb[k]);
      if (rt) rt[k] = t;
      acc[k] += t;
    }
  };
  if (nb <= 1) {
    std::fill(out, out + c, 0.0f);
    for (std::size_t r = 0; r < rows; ++r) add_row(out, r);
    return;
  }
  static thread_local Workspace ws;
  float* part = ws.reserve(nb * c);
  for_ranges(nb, 1, rows * c, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t blk = b0; blk < b1; ++blk) {
      float* p = part + blk * c;
      std::fill(p, p + c, 0.0f);
      const std::size_t r1 = std::min(rows, (blk + 1) * br);
      for (std::size_t r = blk * br; r < r1; ++r) add_row(p, r);
    }
  });
  for (std::size_t k = 0; k < c; ++k) {
    double s = 0;
    for (std::size_t blk = 0; blk < nb; ++blk) s += part[blk * c + k];
    out[k] = static_cast<float>(s);
  }
}

/// sum over i < n of term(a[i], b[i]) in double, from float partial sums over fixed blocks.
template <class Term>
double sum_reduce(const float* a, const float* b, std::size_t n, Term term) {
  constexpr std::size_t block = 4096, max_blocks = 4096;
  const std::size_t bs = std::max(block, (n + max_blocks - 1) / max_blocks), nb = (n + bs - 1) / bs;
  double part[max_blocks];
  auto one = [&](std::size_t blk) {
    const std::size_t i0 = blk * bs, i1 = std::min(n, i0 + bs);
    Vec acc0(0.0f), acc1(0.0f);
    std::size_t i = i0;
    for (const std::size_t body = i + (i1 - i) / (2 * vw) * (2 * vw); i < body; i += 2 * vw) {
      acc0 += term(Vec::load_unaligned(a + i), Vec::load_unaligned(b + i));
      acc1 += term(Vec::load_unaligned(a + i + vw), Vec::load_unaligned(b + i + vw));
    }
    double s = xsimd::hadd(acc0 + acc1);
    for (; i < i1; ++i) s += term(a[i], b[i]);
    part[blk] = s;
  };
  for_ranges(nb, 1, n, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t blk = b0; blk < b1; ++blk) one(blk);
  });
  double s = 0;
  for (std::size_t blk = 0; blk < nb; ++blk) s += part[blk];
  return s;
}

/// y[i] = f(x[i]) (or f(x[i], z[i]) through the two-input form) over Vec and float, in parallel when large.
template <class F>
void map_unary(const float* x, float* y, std::size_t n, F f) {
  for_ranges(n, 8192, n, [&](std::size_t i0, std::size_t i1) {
    std::size_t i = i0;
    for (const std::size_t body = i + (i1 - i) / vw * vw; i < body; i += vw)
      f(Vec::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < i1; ++i) y[i] = f(x[i]);
  });
}
template <class F>
void map_binary(const float* x, const float* z, float* y, std::size_t n, F f) {
  for_ranges(n, 8192, n, [&](std::size_t i0, std::size_t i1) {
    std::size_t i = i0;
    for (const std::size_t body = i + (i1 - i) / vw * vw; i < body; i += vw)
      f(Vec::load_unaligned(x + i), Vec::load_unaligned(z + i)).store_unaligned(y + i);
    for (; i < i1; ++i) y[i] = f(x[i], z[i]);
  });
}

/// Calls f(std::integral_constant<std::size_t, I>{}) for I < N, unrolled: arrays of SIMD registers
/// indexed this way stay in registers, where a loop would leave them in memory.
template <std::size_t... I, class F>
[[gnu::always_inline]] inline void static_for_each(std::index_sequence<I...>, F&& f) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}
template <std::size_t N, class F>
[[gnu::always_inline]] inline void static_for(F&& f) {
  static_for_each(std::make_index_sequence<N>{}, f);
}

/// Sum of the lanes of v: xsimd 8's name for it.
inline float lanes_sum(const Vec& v) { return xsimd::hadd(v); }

}  // namespace siamese::cpu::detail
