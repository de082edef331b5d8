// Inference throughput of VGG16 (VGGFace's topology: 13 convolutions, fc6, fc7, fc8 with 2622
// classes) on backend::Cuda, batches of 64 RGB images of 224x224. Counterpart: torch_cuda.py.
#include <siamese/model/triplet.hpp>
#include <siamese/model/zoo/vggface.hpp>

#include "timing.cuh"

using namespace siamese;

int main(int argc, char** argv) {
  return bench::guarded("vgg16_infer", [&] {
    constexpr std::size_t batch = 64;
    const int rounds = bench::rounds_arg(argc, argv, 5);
    Embedder<VGGFaceTop, backend::Cuda> model(1);
    const Tensor x = bench::random_tensor({batch, 224, 224, 3}, 3, -128.0f, 128.0f);
    Tensor out;
    const double rate = bench::median_rate([&] { out = model.embed(x); }, batch, rounds, 3);
    std::fprintf(stderr, "vgg16_infer: output (%zu, %zu), first logit %.4f\n", out.dim(0), out.dim(1), out[0]);
    bench::report("vgg16_infer", rate, "images/s");
  });
}
