// backend::Cuda's kernels on the GPU against backend::Reference (exit 77 without a GPU).
#include <siamese/backend/cuda/cuda.cuh>

#include <cstdlib>

using B = siamese::backend::Cuda;

#include "kernel_cases.cuh"
#include "sequence_cases.cuh"
#include "bert_cases.cuh"
#include "attention_cases.cuh"

TEST_CASE("errors name the CUDA call and the error string") {
  bool thrown = false;
  try {
    siamese::backend::detail_cuda::DeviceExec::allocate(std::size_t{1} << 62);  // 4 EiB: more than any device holds
  } catch (const siamese::CudaError& e) {
    thrown = true;
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("cudaMalloc") != std::string::npos);
    CHECK(what.find("memory") != std::string::npos);
  }
  CHECK(thrown);
  // the context is still usable after the failure
  Dev<B> x(std::vector<float>{1.0f, 2.0f});
  B::scale(x.p(), 2.0f, 2);
  CHECK(x.host() == std::vector<float>{2.0f, 4.0f});
}

TEST_CASE("cuDNN is built in where scripts/gpu_check asks for it (SIAMESE_REQUIRE_CUDNN=1)") {
  const char* require = std::getenv("SIAMESE_REQUIRE_CUDNN");
  if (require && require[0] == '1') CHECK_MESSAGE(B::cudnn_available, "built without -DSIAMESE_CUDNN=1");
}

TEST_CASE("TF32 is off by default and can be switched on") {
  CHECK_FALSE(B::tf32());
  B::set_tf32(true);
  CHECK(B::tf32());
  B::set_tf32(false);
  CHECK_FALSE(B::tf32());
}
