// backend::Cpu's sequence kernels against backend::Reference: embedding lookups and their gradient,
// step masks, row scaling, time shifts and masked time pooling, on awkward widths (SIMD tails), with
// padded (all-zero) steps, and on sizes that take the threaded path.
#include <algorithm>

#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

namespace {
/// n * steps ids in [0, vocab), with id 0 (padding) at the end of every third sample and repeats.
std::vector<float> token_ids(std::size_t n, std::size_t steps, std::size_t vocab, std::uint64_t seed) {
  auto u = random_vector(n * steps, seed, 0.0f, float(vocab));
  std::vector<float> ids(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) ids[i] = std::min(float(vocab - 1), std::floor(u[i]));
  for (std::size_t b = 0; b < n; b += 3) ids[b * steps + steps - 1] = 0.0f;
  if (ids.size() > 4) ids[3] = ids[1];  // a repeated id: its gradient rows add up
  return ids;
}
/// x (n, steps, c) with the last two steps of every third sample all zero (masked).
std::vector<float> padded_rows(std::size_t n, std::size_t steps, std::size_t c, std::uint64_t seed) {
  auto x = random_vector(n * steps * c, seed);
  for (std::size_t b = 0; b < n; b += 3)
    for (std::size_t t = steps >= 2 ? steps - 2 : 0; t < steps; ++t)
      std::fill_n(x.begin() + long((b * steps + t) * c), c, 0.0f);
  return x;
}
}  // namespace

TEST_CASE("embedding forward and backward, with and without mask_zero") {
  for (std::size_t dim : {1, 7, 16, 100})
    for (std::size_t n : {1, 5, 300})
      for (bool mask_zero : {false, true}) {
        CAPTURE(dim);
        CAPTURE(n);
        CAPTURE(mask_zero);
        const std::size_t steps = 9, vocab = 50, count = n * steps;
        const auto ids = token_ids(n, steps, vocab, 1);
        const auto table = random_vector(vocab * dim, 2);
        std::vector<float> y(count * dim, 5.0f), yr(count * dim, 6.0f);
        Cpu::embedding_forward({ids.data(), table.data(), y.data(), count, steps, vocab, dim, mask_zero});
        Ref::embedding_forward({ids.data(), table.data(), yr.data(), count, steps, vocab, dim, mask_zero});
        expect_equal("embedding y", y, yr);
        const auto dy = random_vector(count * dim, 3);
        std::vector<float> dt(vocab * dim, 5.0f), dtr(vocab * dim, 6.0f);
        Cpu::embedding_backward({ids.data(), dy.data(), dt.data(), count, vocab, dim, mask_zero});
        Ref::embedding_backward({ids.data(), dy.data(), dtr.data(), count, vocab, dim, mask_zero});
        expect_equal("embedding dtable", dt, dtr);  // the same additions in the same order
      }
}

TEST_CASE("embedding forward: a bad id raises Reference's ShapeError on Cpu too") {
  std::vector<float> ids{1, 2, 3, 7.5f}, table(10 * 2), y(8);
  CHECK_THROWS_WITH_AS(Cpu::embedding_forward({ids.data(), table.data(), y.data(), 4, 2, 10, 2, true}),
                       doctest::Contains("at sample 1, position 1"), ShapeError);
  ids[3] = 10;
  CHECK_THROWS_AS(Cpu::embedding_forward({ids.data(), table.data(), y.data(), 4, 2, 10, 2, true}), ShapeError);
}

TEST_CASE("row_mask, scale_rows and shift_time") {
  for (std::size_t w : {1, 7, 16, 67})
    for (std::size_t n : {1, 4, 400}) {
      CAPTURE(w);
      CAPTURE(n);
      const std::size_t steps = 6, rows = n * steps;
      auto x = padded_rows(n, steps, w, 4);
      if (w > 1) x[3 * w + w - 1] = 0.0f;  // a row with its last value zero is still unmasked
      std::vector<float> m(rows, 3.0f), mr(rows, 4.0f);
      Cpu::row_mask({x.data(), m.data(), rows, w});
      Ref::row_mask({x.data(), mr.data(), rows, w});
      expect_equal("row_mask", m, mr);
      auto y = x, yr = x;
      Cpu::scale_rows({y.data(), mr.data(), rows, w});
      Ref::scale_rows({yr.data(), mr.data(), rows, w});
      expect_equal("scale_rows", y, yr);
      for (bool reverse : {false, true}) {
        CAPTURE(reverse);
        std::vector<float> d(rows * w, 9.0f), dr(rows * w, 8.0f);
        Cpu::shift_time({d.data(), x.data(), n, steps, w, reverse});
        Ref::shift_time({dr.data(), x.data(), n, steps, w, reverse});
        expect_equal("shift_time", d, dr);
      }
    }
}

TEST_CASE("masked time pooling, max and mean, forward and backward") {
  for (std::size_t c : {1, 7, 16, 67})
    for (std::size_t n : {1, 4, 300})
      for (bool is_max : {true, false}) {
        CAPTURE(c);
        CAPTURE(n);
        CAPTURE(is_max);
        const std::size_t steps = 9;
        auto x = padded_rows(n, steps, c, 5);
        if (n >= 2) std::fill_n(x.begin() + long(steps * c), steps * c, 0.0f);  // sample 1: every step masked
        if (n >= 3 && steps >= 3)
          std::copy_n(x.begin() + long(2 * steps * c), c, x.begin() + long((2 * steps + 1) * c));
        std::vector<float> y(n * c, 3.0f), yr(n * c, 4.0f);
        Cpu::masked_time_pool_forward({is_max, x.data(), y.data(), n, steps, c});
        Ref::masked_time_pool_forward({is_max, x.data(), yr.data(), n, steps, c});
        if (is_max) expect_equal("max y", y, yr);
        else expect_close("mean y", y, yr, 1e-5, 1e-6);
        const auto dy = random_vector(n * c, 6);
        std::vector<float> dx(x.size(), 3.0f), dxr(x.size(), 4.0f);
        Cpu::masked_time_pool_backward({is_max, x.data(), yr.data(), dy.data(), dx.data(), n, steps, c});
        Ref::masked_time_pool_backward({is_max, x.data(), yr.data(), dy.data(), dxr.data(), n, steps, c});
        expect_equal(is_max ? "max dx (first maximum)" : "mean dx", dx, dxr);
      }
}

#ifndef SIAMESE_NO_CONSTEXPR_FUNCTION_ADDRESSES  // the sanitized build cannot tell inherited kernels
TEST_CASE("Cpu takes from Reference only what reference_fallbacks lists") {
  // honours_contract<Cpu> (cpu.hpp) fails to compile otherwise; this names the list for a reader.
  constexpr auto inherited = backend::detail::inherited_kernels<Cpu>();
  CHECK(std::vector<std::string_view>(inherited.begin(), inherited.end()) ==
        std::vector<std::string_view>(Cpu::reference_fallbacks.begin(), Cpu::reference_fallbacks.end()));
}
#endif
