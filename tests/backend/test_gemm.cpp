// Parity of siamese::cpu::sgemm with a naive double-precision triple loop,
// its fused epilogue, its argument checks, and its promise not to allocate
// on a repeated call.
#include <siamese/backend/cpu/gemm.hpp>

#include <doctest/doctest.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <stdexcept>
#include <vector>

// ---- counting replacements of the global allocation functions -------------
namespace {
std::atomic<long> g_news{0};

void* counted_alloc(std::size_t size, std::size_t align) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(size)
                                               : std::aligned_alloc(align, (size + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, std::size_t(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted_alloc(n, 0); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted_alloc(n, 0); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using siamese::cpu::GemmAct;
using siamese::cpu::GemmEpilogue;
using siamese::cpu::sgemm;
using siamese::cpu::sgemm_bias_act;

struct Case {
  bool ta, tb;
  std::size_t m, n, k;
  float alpha, beta;
  std::size_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra row stride beyond the minimum
};

struct Operands {
  std::vector<float> a, b, c0;
  std::size_t lda, ldb, ldc;
};

Operands make_operands(const Case& t, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Operands o;
  const std::size_t a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
  const std::size_t b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
  o.lda = a_cols + t.pad_a;
  o.ldb = b_cols + t.pad_b;
  o.ldc = t.n + t.pad_c;
  o.a.resize(a_rows * o.lda);
  o.b.resize(b_rows * o.ldb);
  o.c0.resize(t.m * o.ldc);
  for (auto& x : o.a) x = u(rng);
  for (auto& x : o.b) x = u(rng);
  for (auto& x : o.c0) x = u(rng);
  if (t.beta == 0.f)  // beta == 0 must not read C
    for (auto& x : o.c0) x = std::numeric_limits<float>::quiet_NaN();
  return o;
}

// Checks c against alpha*op(A)*op(B) + beta*c0 (+ epilogue) computed in double,
// with the rounding bound of a k-term float dot product; the padding of C
// between rows must be untouched.
void check_against_naive(const Case& t, const Operands& o, const std::vector<float>& c,
                         const GemmEpilogue& ep = {}) {
  const double eps = std::numeric_limits<float>::epsilon();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < t.m; ++i) {
    for (std::size_t j = 0; j < t.n; ++j) {
      double s = 0, mag = 0;
      for (std::size_t p = 0; p < t.k; ++p) {
        const double av = t.ta ? o.a[p * o.lda + i] : o.a[i * o.lda + p];
        const double bv = t.tb ? o.b[j * o.ldb + p] : o.b[p * o.ldb + j];
        s += av * bv;
        mag += std::abs(av * bv);
      }
      double ref = double(t.alpha) * s;
      mag = std::abs(double(t.alpha)) * mag;
      if (t.beta != 0.f) {
        ref += double(t.beta) * o.c0[i * o.ldc + j];
        mag += std::abs(double(t.beta) * o.c0[i * o.ldc + j]);
      }
      if (ep.col_bias != nullptr) ref += ep.col_bias[j], mag += std::abs(ep.col_bias[j]);
      if (ep.row_bias != nullptr) ref += ep.row_bias[i], mag += std::abs(ep.row_bias[i]);
      if (ep.act == GemmAct::relu) ref = std::max(ref, 0.0);
      const double tol = double(t.k + 4) * eps * mag + 1e-30;
      const double got = c[i * o.ldc + j];
      if (!(std::abs(got - ref) <= tol)) {
        if (bad++ < 3)
          FAIL_CHECK("m=" << t.m << " n=" << t.n << " k=" << t.k << " ta=" << t.ta
                          << " tb=" << t.tb << " beta=" << t.beta << " at (" << i << ", " << j
                          << "): got " << got << ", expected " << ref << " +- " << tol);
      }
    }
    for (std::size_t j = t.n; j < o.ldc; ++j)
      if (std::memcmp(&c[i * o.ldc + j], &o.c0[i * o.ldc + j], sizeof(float)) != 0) {
        if (bad++ < 3) FAIL_CHECK("padding of C row " << i << " column " << j << " was written");
      }
  }
  CHECK(bad == 0);
}

void run_case(const Case& t, std::uint32_t seed) {
  const Operands o = make_operands(t, seed);
  std::vector<float> c = o.c0;
  sgemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
        c.data(), o.ldc);
  check_against_naive(t, o, c);
}

}  // namespace

TEST_CASE("sgemm matches a naive product on awkward sizes, all transpositions") {
  const std::size_t sizes[] = {1, 7, 33, 127, 200, 513};
  const float betas[] = {0.f, 1.f, 0.5f};
  std::uint32_t seed = 1;
  for (std::size_t m : sizes)
    for (std::size_t n : sizes)
      for (std::size_t k : sizes) {
        if (m * n * k > 30'000'000) continue;  // keeps the double reference affordable
        for (int tr = 0; tr < 4; ++tr) {
          const float beta = betas[(seed + tr) % 3];
          run_case({tr / 2 == 1, tr % 2 == 1, m, n, k, -1.5f, beta}, seed++);
        }
      }
}

TEST_CASE("sgemm: every beta with every transposition and padded strides") {
  std::uint32_t seed = 1000;
  for (float beta : {0.f, 1.f, 0.5f})
    for (int tr = 0; tr < 4; ++tr) {
      const bool ta = tr / 2 == 1, tb = tr % 2 == 1;
      run_case({ta, tb, 127, 200, 300, 0.75f, beta, 3, 5, 7}, seed++);
      run_case({ta, tb, 33, 45, 7, 2.f, beta, 1, 17, 2}, seed++);
      run_case({ta, tb, 513, 33, 1, 1.f, beta, 16, 0, 32}, seed++);
    }
}

TEST_CASE("sgemm: shapes that exercise each blocking path") {
  std::uint32_t seed = 2000;
  // few rows, many columns: the columns are split between threads
  run_case({false, false, 7, 700, 2000, 1.f, 0.f}, seed++);
  run_case({true, true, 3, 513, 3000, 0.5f, 1.f}, seed++);
  // so many columns that B panels are packed one at a time (panel-outer order)
  run_case({false, false, 30, 2600, 384, 1.f, 0.5f}, seed++);
  run_case({true, true, 45, 2500, 500, 1.f, 0.f}, seed++);
  // deep products: many passes over k accumulate into C
  run_case({false, false, 5, 300, 20000, 1.f, 0.5f}, seed++);
  run_case({false, true, 3, 40, 140000, 1.f, 0.f}, seed++);
  // tall and skinny like an early convolution, and wide like a late one
  run_case({false, false, 3000, 64, 27, 1.f, 0.f}, seed++);
  run_case({false, false, 196, 512, 1000, 1.f, 0.f}, seed++);
  run_case({true, false, 1000, 64, 200, 1.f, 1.f}, seed++);
}

TEST_CASE("sgemm: k == 0 and alpha == 0 scale C by beta without reading A or B") {
  for (float alpha : {0.f, 1.f}) {
    const std::size_t k = alpha == 0.f ? 5 : 0;
    Case t{false, false, 9, 11, k, alpha, 0.5f};
    const Operands o = make_operands(t, 7);
    std::vector<float> c = o.c0;
    sgemm(false, false, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
          c.data(), o.ldc);
    for (std::size_t i = 0; i < c.size(); ++i) CHECK(c[i] == 0.5f * o.c0[i]);
    std::vector<float> nan(c.size(), std::numeric_limits<float>::quiet_NaN());
    sgemm(false, false, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, 0.f,
          nan.data(), o.ldc);
    for (float x : nan) CHECK(x == 0.f);
  }
}

TEST_CASE("sgemm_bias_act adds column or row biases and applies relu") {
  std::uint32_t seed = 3000;
  for (auto [m, n, k] : {std::array<std::size_t, 3>{50, 70, 300}, {200, 64, 27}, {5, 40, 600}}) {
    for (int variant = 0; variant < 4; ++variant) {
      Case t{variant == 3, false, m, n, k, 1.f, variant == 2 ? 1.f : 0.f};
      const Operands o = make_operands(t, seed++);
      std::mt19937 rng(seed);
      std::uniform_real_distribution<float> u(-2.f, 2.f);
      std::vector<float> col(n), row(m);
      for (auto& x : col) x = u(rng);
      for (auto& x : row) x = u(rng);
      GemmEpilogue ep;
      if (variant != 1) ep.col_bias = col.data();
      if (variant >= 1) ep.row_bias = row.data();
      ep.act = variant % 2 == 0 ? GemmAct::relu : GemmAct::identity;
      std::vector<float> c = o.c0;
      sgemm_bias_act(t.ta, t.tb, m, n, k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
                     c.data(), o.ldc, ep);
      check_against_naive(t, o, c, ep);
      if (ep.act == GemmAct::relu) {
        std::size_t negative = 0;
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t j = 0; j < n; ++j) negative += c[i * o.ldc + j] < 0.f;
        CHECK(negative == 0);
      }
    }
  }
}

TEST_CASE("sgemm rejects strides shorter than the stored rows") {
  std::vector<float> a(100, 1.f), b(100, 1.f), c(100, 0.f);
  CHECK_THROWS_AS(sgemm(false, false, 4, 5, 6, 1.f, a.data(), 5, b.data(), 5, 0.f, c.data(), 5),
                  std::invalid_argument);
  CHECK_THROWS_AS(sgemm(true, false, 4, 5, 6, 1.f, a.data(), 3, b.data(), 5, 0.f, c.data(), 5),
                  std::invalid_argument);
  CHECK_THROWS_AS(sgemm(false, false, 4, 5, 6, 1.f, a.data(), 6, b.data(), 4, 0.f, c.data(), 5),
                  std::invalid_argument);
  CHECK_THROWS_AS(sgemm(false, true, 4, 5, 6, 1.f, a.data(), 6, b.data(), 5, 0.f, c.data(), 5),
                  std::invalid_argument);
  CHECK_THROWS_AS(sgemm(false, false, 4, 5, 6, 1.f, a.data(), 6, b.data(), 5, 0.f, c.data(), 4),
                  std::invalid_argument);
  CHECK_THROWS_AS(sgemm(false, false, 4, 5, 6, 1.f, nullptr, 6, b.data(), 5, 0.f, c.data(), 5),
                  std::invalid_argument);
  CHECK_NOTHROW(sgemm(false, false, 4, 5, 6, 1.f, a.data(), 6, b.data(), 5, 0.f, c.data(), 5));
}

TEST_CASE("sgemm gives the same result on one thread and from concurrent callers") {
  const Case t{false, true, 300, 200, 400, 1.f, 0.f};
  const Operands o = make_operands(t, 4000);
  std::vector<float> serial = o.c0;
  {
    tbb::task_arena one(1);
    one.execute([&] {
      sgemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
            serial.data(), o.ldc);
    });
  }
  check_against_naive(t, o, serial);
  // Each outer task calls sgemm, whose own parallel loop nests inside.
  std::vector<std::vector<float>> outs(6, o.c0);
  tbb::parallel_for(std::size_t{0}, outs.size(), [&](std::size_t r) {
    sgemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
          outs[r].data(), o.ldc);
  });
  // The blocking does not depend on the thread count, so the sums agree bit for bit.
  for (const auto& out : outs) CHECK(out == serial);
}

TEST_CASE("a repeated sgemm call does not allocate") {
  for (int tr = 0; tr < 4; ++tr) {
    const Case t{tr / 2 == 1, tr % 2 == 1, 301, 130, 700, 1.f, 0.f};
    const Operands o = make_operands(t, 5000 + tr);
    std::vector<float> c = o.c0;
    auto call = [&] {
      sgemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, o.a.data(), o.lda, o.b.data(), o.ldb, t.beta,
            c.data(), o.ldc);
    };
    call();  // grows the workspace
    const long before = g_news.load();
    call();
    call();
    const long after = g_news.load();
    CHECK_MESSAGE(after == before, "operator new called " << (after - before) << " times");
    check_against_naive(t, o, c);
  }
}
