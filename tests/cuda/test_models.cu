// Layers and whole models on backend::Cuda against backend::Reference and backend::Cpu (exit 77
// without a GPU).
#include <siamese/backend/cuda/cuda.cuh>

using B = siamese::backend::Cuda;

#include "layer_cases.cuh"
#include "model_cases.cuh"

TEST_CASE("each model queues its work on a stream of its own; the streams meet in program order") {
  using siamese::backend::detail_cuda::Context;
  const cudaStream_t s0 = Context::get().stream();
  B::Queue q1, q2;
  cudaStream_t s1{}, s2{};
  {
    const auto a = q1.enter();
    s1 = Context::get().stream();
    {
      const auto b = q2.enter();
      s2 = Context::get().stream();
    }
    CHECK(Context::get().stream() == s1);
  }
  CHECK(Context::get().stream() == s0);
  CHECK(s1 != s0);
  CHECK(s2 != s0);
  CHECK(s1 != s2);

  // two models trained in turns, each on its stream, read back on the process-wide one
  Siamese<SmallCnn, PairHead, B> m1(31), m2(32);
  Siamese<SmallCnn, PairHead, backend::Cpu> c1(31), c2(32);
  SGD opt;
  opt.learning_rate = 0.05f;
  for (std::uint64_t s = 0; s < 3; ++s) {
    const auto batch = pair_batch<decltype(c1)>(8, 80 + s);
    expect_close("model 1, step " + std::to_string(s), m1.train_step(batch, BinaryCrossEntropy{}, opt),
                 c1.train_step(batch, BinaryCrossEntropy{}, opt), 2e-3, 1e-4);
    expect_close("model 2, step " + std::to_string(s), m2.train_step(batch, BinaryCrossEntropy{}, opt),
                 c2.train_step(batch, BinaryCrossEntropy{}, opt), 2e-3, 1e-4);
  }
  expect_close("model 1 parameters", params_of(m1), params_of(c1), 5e-3, 5e-4);
  expect_close("model 2 parameters", params_of(m2), params_of(c2), 5e-3, 5e-4);
}
