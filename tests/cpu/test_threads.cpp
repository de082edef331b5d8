// Threading properties of backend::Cpu: reductions give the same bits for any number of threads, and
// kernels may run inside the caller's own parallel tasks (two models trained in parallel tasks end
// exactly where the same models trained one after the other do).
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <memory>

#include "models.hpp"
#include "parity.hpp"

using namespace siamese;
using namespace siamese::test;

namespace {
/// Runs f with at most `threads` threads.
template <class F>
void with_threads(std::size_t threads, F&& f) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  f();
}
}  // namespace

TEST_CASE("reductions do not depend on the number of threads") {
  const std::size_t rows = 70001, cols = 33;
  const auto a = random_vector(rows * cols, 1), b = random_vector(rows * cols, 2);
  std::vector<float> db1(cols), db2(cols);
  double ss1 = 0, ss2 = 0;
  with_threads(1, [&] {
    Cpu::bias_grad({a.data(), db1.data(), rows, cols});
    ss1 = Cpu::sum_squares(a.data(), a.size());
  });
  with_threads(4, [&] {
    Cpu::bias_grad({a.data(), db2.data(), rows, cols});
    ss2 = Cpu::sum_squares(a.data(), a.size());
  });
  expect_equal("bias_grad", db1, db2);
  CHECK(ss1 == ss2);

  std::vector<float> g(cols, 1.0f), be(cols, 0.0f), mm(cols), mv(cols, 1.0f), y(rows * cols), xh(rows * cols),
      is1(cols), is2(cols), dx1(rows * cols), dx2(rows * cols), dg1(cols), dg2(cols);
  with_threads(1, [&] {
    Cpu::batchnorm_forward({a.data(), y.data(), g.data(), be.data(), mm.data(), mv.data(), xh.data(), is1.data(), rows,
                           cols, 0.9f, 1e-3f, true});
    Cpu::batchnorm_backward({b.data(), g.data(), xh.data(), is1.data(), dx1.data(), dg1.data(), nullptr, rows, cols});
  });
  with_threads(4, [&] {
    Cpu::batchnorm_forward({a.data(), y.data(), g.data(), be.data(), mm.data(), mv.data(), xh.data(), is2.data(), rows,
                           cols, 0.9f, 1e-3f, true});
    Cpu::batchnorm_backward({b.data(), g.data(), xh.data(), is2.data(), dx2.data(), dg2.data(), nullptr, rows, cols});
  });
  expect_equal("batchnorm inv_std", is1, is2);
  expect_equal("batchnorm dx", dx1, dx2);
  expect_equal("batchnorm dgamma", dg1, dg2);

  // The direct convolution's weight gradient (a small first layer) sums over fixed blocks of samples.
  const auto geo = conv_geom(28, 28, 1, 3, 3, 1, 1, Padding::Valid, 32);
  const std::size_t n = 50;
  const auto x = random_vector(n * 784, 3), dy = random_vector(n * 676 * 32, 4), y1 = random_vector(n * 676 * 32, 5);
  std::vector<float> dw1(288), dw2(288), dbias1(32), dbias2(32);
  with_threads(1, [&] {
    Cpu::conv2d_backward_act({geo, Act::ReLU, x.data(), y1.data(), nullptr, dy.data(), nullptr, dw1.data(),
                             dbias1.data(), n});
  });
  with_threads(4, [&] {
    Cpu::conv2d_backward_act({geo, Act::ReLU, x.data(), y1.data(), nullptr, dy.data(), nullptr, dw2.data(),
                             dbias2.data(), n});
  });
  expect_equal("direct conv dw", dw1, dw2);
  expect_equal("direct conv db", dbias1, dbias2);
}

TEST_CASE("kernels run inside the caller's parallel tasks: models trained side by side") {
  // More models than threads: a thread waiting inside a kernel's parallel loop must not pick up another
  // model's step, which would reuse the kernel's thread-local workspace under it.
  using Model = Siamese<CnnEncoder, CnnHead, backend::Cpu>;
  constexpr int count = 16;
  const auto batch = pair_batch<Model>(16, 7);
  auto train = [&](Model& m) {
    Adam opt;
    for (int s = 0; s < 3; ++s) m.train_step(batch, BinaryCrossEntropy{}, opt);
  };
  auto params = [](const Model& m) {
    return std::vector<float>(m.parameters().data(), m.parameters().data() + m.parameters().size());
  };
  std::vector<std::unique_ptr<Model>> alone, side;
  for (int i = 0; i < count; ++i) {
    alone.push_back(std::make_unique<Model>(i + 1));
    side.push_back(std::make_unique<Model>(i + 1));
    train(*alone.back());
  }
  tbb::parallel_for(tbb::blocked_range<int>(0, count, 1), [&](const tbb::blocked_range<int>& r) {
    for (int i = r.begin(); i < r.end(); ++i) train(*side[i]);
  }, tbb::simple_partitioner{});
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    expect_equal("parameters", params(*side[i]), params(*alone[i]));
  }
}
