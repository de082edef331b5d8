// backend::Cpu runs the sequence layers (its GEMMs with strided operands, its vectorised and threaded
// step kernels) to the same results as backend::Reference, forward and backward.
#include <siamese/backend/cpu/cpu.hpp>
#include <siamese/layers/embedding.hpp>
#include <siamese/layers/recurrent.hpp>
#include <siamese/layers/time_pooling.hpp>
#include <siamese/model/sequential.hpp>

#include <cmath>
#include <string>

#include "support.hpp"

using namespace siamese;
using test::Bound;

namespace {
struct Result {
  std::vector<float> y, dx, dw;
};

template <class L, class B>
Result run(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& dy, std::size_t n) {
  Result r{std::vector<float>(n * L::out_shape::size), std::vector<float>(x.size()), std::vector<float>(w.size())};
  std::vector<float> scratch(L::scratch(n) + 16);
  std::vector<float> state(detail::state_count_of<L>() + 1);
  L::template forward<B>(Forward{x.data(), r.y.data(), n, w.data(), state.data(), scratch.data(), true, 5});
  L::template backward<B>(
      Backward{x.data(), r.y.data(), dy.data(), r.dx.data(), n, w.data(), r.dw.data(), state.data(), scratch.data()});
  return r;
}

/// Every element within 1e-3 of the reference, relative to itself or, for elements near zero (sums
/// that cancel), to one thousandth of the array's largest magnitude.
void close(const std::string& what, const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 0, worst = 0;
  for (float v : b) scale = std::max(scale, std::fabs(double(v)));
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1e-6 + std::max(1e-3 * scale, std::fabs(double(b[i])))));
  INFO(what << ": worst relative difference " << worst);
  CHECK(worst < 1e-3);
}

template <class Spec, class In>
void parity(const std::string& name, std::size_t n) {
  using L = Bound<Spec, In>;
  std::vector<float> x = test::random_vector(n * In::size, 3);
  for (std::size_t b = 0; b < n; b += 3)  // padding: the last two steps of every third sample
    for (std::size_t i = In::size - 2 * detail::last_dim<In>; i < In::size; ++i) x[b * In::size + i] = 0.0f;
  const auto w = test::random_vector(detail::param_count_of<L>(), 4, -0.5f, 0.5f);
  const auto dy = test::random_vector(n * L::out_shape::size, 5);
  const Result ref = run<L, backend::Reference>(x, w, dy, n), cpu = run<L, backend::Cpu>(x, w, dy, n);
  close(name + " y", cpu.y, ref.y);
  close(name + " dx", cpu.dx, ref.dx);
  close(name + " dw", cpu.dw, ref.dw);
}
}  // namespace

// Embedding's gather/scatter and the masked time pooling kernels are compared one by one in
// tests/cpu/test_parity_sequence.cpp.

TEST_CASE("backend::Cpu matches backend::Reference on the sequence layers") {
  parity<LSTM<21>, Shape<9, 13>>("LSTM", 37);
  parity<LSTM<21, true>, Shape<9, 13>>("LSTM sequences", 37);
  parity<GRU<19, true>, Shape<9, 13>>("GRU sequences", 37);
  parity<Bidirectional<GRU<11>>, Shape<9, 13>>("Bidirectional GRU", 37);
  parity<Sequential<Bidirectional<LSTM<16, true>>, GlobalMaxPool1D>, Shape<9, 13>>("BiLSTM + max over time", 37);
  parity<Sequential<LSTM<16, true>, GlobalAvgPool1D>, Shape<9, 13>>("LSTM + mean over time", 37);
}

TEST_CASE("backend::Cpu's step kernels match on the threaded path, with SIMD bodies and tails") {
  // 300 sequences of 64 (or 67: a tail after the SIMD body) units take the threaded path.
  parity<LSTM<64>, Shape<6, 10>>("LSTM 64 units, 300 sequences", 300);
  parity<LSTM<67, true>, Shape<6, 10>>("LSTM 67 units, sequences", 300);
  parity<GRU<64>, Shape<6, 10>>("GRU 64 units", 300);
  parity<GRU<67, true>, Shape<6, 10>>("GRU 67 units, sequences", 300);
  parity<Bidirectional<LSTM<32>>, Shape<6, 10>>("Bidirectional LSTM 32 units", 300);
}

TEST_CASE("backend::Cpu matches backend::Reference on the LSTM at examples/text_similarity's sizes") {
  // 30 steps of 100 features into 64 units, 128 sequences (a batch of 64 pairs): the GEMMs' blocked paths.
  parity<LSTM<64>, Shape<30, 100>>("LSTM 64 over 30 x 100, 128 sequences", 128);
}

TEST_CASE("backend::Cpu's gate maps saturate like the reference's on large pre-activations") {
  using L = Bound<LSTM<32>, Shape<3, 4>>;
  const std::size_t n = 5;
  std::vector<float> x = test::random_vector(n * 12, 7, -40.0f, 40.0f);
  const auto w = test::random_vector(detail::param_count_of<L>(), 8, -3.0f, 3.0f);
  const auto dy = test::random_vector(n * 32, 9);
  const Result ref = run<L, backend::Reference>(x, w, dy, n), cpu = run<L, backend::Cpu>(x, w, dy, n);
  close("y", cpu.y, ref.y);
  close("dx", cpu.dx, ref.dx);
  close("dw", cpu.dw, ref.dw);
  for (float v : cpu.y) CHECK(std::isfinite(v));
}
