// NcclCommunicator (train/nccl.cuh), run under mpirun with one GPU per rank: sums and uneven gathers of device buffers
// over NCCL on backend::Cuda's stream, and with two or more ranks a data-parallel fit of a backend::Cuda model that
// equals one process's training on the global batches (BCE, and MultipleNegativesRanking gathered over the ranks).
// Exits 77 (a skip for Meson) without a GPU, unless SIAMESE_REQUIRE_GPU=1, or with more ranks than GPUs.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <siamese/backend/cuda/cuda.cuh>
#include <siamese/layers/activation.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/loss/multiple_negatives.hpp>
#include <siamese/model/head.hpp>
#include <siamese/model/sequential.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/optim/optimizers.hpp>
#include <siamese/train/fit.hpp>
#include <siamese/train/nccl.cuh>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace siamese;
using B = backend::Cuda;

namespace {
MpiCommunicator& mpi() {
  static MpiCommunicator c(60.0);
  return c;
}
NcclCommunicator& nccl() {
  static NcclCommunicator c(mpi());
  return c;
}

constexpr std::size_t F = 10;
using Enc = Sequential<Input<F>, Dense<12, Tanh>, Dense<6>>;
using GpuModel = Siamese<Enc, Head<SqDiff, Cosine, Classifier<Dense<8, ReLU>, Dense<1>>>, B>;

struct Pairs {
  std::size_t steps = 3, n = 10;
  std::size_t size() const { return steps; }
  void batch(std::size_t e, std::size_t i, PairBatch& b) const {
    detail::Rng r(1000 * e + i + 1);
    b.a = Tensor({n, F});
    b.b = Tensor({n, F});
    b.labels.resize(n);
    for (std::size_t s = 0; s < n; ++s) {
      const int ca = int(r.below(4)), cb = s % 2 ? ca : int((ca + 1 + r.below(3)) % 4);
      for (std::size_t k = 0; k < F; ++k) {
        b.a.data()[s * F + k] = std::sin(float(ca * 7 + int(k))) + 0.3f * (r.uniform() - 0.5f);
        b.b.data()[s * F + k] = std::sin(float(cb * 7 + int(k))) + 0.3f * (r.uniform() - 0.5f);
      }
      b.labels[s] = ca == cb;
    }
  }
};

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}

template <class Loss>
void check_equivalence(const Loss& loss) {
  GpuModel single(7), dist(7);
  SGD s1, s2;
  s1.learning_rate = s2.learning_rate = 0.1f;
  s1.momentum = s2.momentum = 0.9f;
  FitOptions o;
  o.epochs = 2;
  o.progress = false;
  fit(single, loss, s1, Pairs{}, o);
  o.communicator = &nccl();
  o.bucket_bytes = 64;  // several buckets, started during backward
  fit(dist, loss, s2, Pairs{}, o);
  const double err = max_diff(dist.parameters().to_host(), single.parameters().to_host());
  INFO("rank " << nccl().rank() << ": distributed vs one process " << err);
  CHECK(err < 1e-5);
}
}  // namespace

TEST_CASE("NcclCommunicator sums a device buffer over the ranks, bucket by bucket") {
  const std::size_t n = 1000, w = std::size_t(nccl().size());
  std::vector<float> host(n);
  for (std::size_t i = 0; i < n; ++i) host[i] = float(nccl().rank() + 1) * float(i % 17);
  B::Buffer d;
  d.resize(n);
  B::to_device(d.data(), host.data(), n);
  nccl().start_sum(d.data(), 600, "the first bucket");
  nccl().start_sum(d.data() + 600, n - 600, "the second bucket");
  nccl().wait_sums("the test's buckets");
  B::to_host(host.data(), d.data(), n);
  for (std::size_t i = 0; i < n; ++i) REQUIRE(host[i] == float(w * (w + 1) / 2) * float(i % 17));
}

TEST_CASE("NcclCommunicator gathers uneven device parts in rank order") {
  const std::size_t w = std::size_t(nccl().size()), me = std::size_t(nccl().rank());
  std::vector<std::size_t> counts(w), first(w);
  std::size_t total = 0;
  for (std::size_t r = 0; r < w; ++r) first[r] = total, total += counts[r] = r + 2;
  std::vector<float> mine(counts[me], float(me) + 0.5f), all(total);
  B::Buffer dm, da;
  dm.resize(mine.size());
  da.resize(total);
  B::to_device(dm.data(), mine.data(), mine.size());
  auto bytes = counts;
  for (auto& b : bytes) b *= sizeof(float);
  nccl().allgather_data(dm.data(), da.data(), bytes, "the test's parts");
  B::to_host(all.data(), da.data(), total);
  for (std::size_t r = 0; r < w; ++r)
    for (std::size_t k = 0; k < counts[r]; ++k) CHECK(all[first[r] + k] == float(r) + 0.5f);
}

TEST_CASE("a model on a host backend cannot train over NcclCommunicator") {
  Siamese<Enc, Head<SqDiff, Classifier<Dense<1>>>> host_model(1);
  SGD sgd;
  FitOptions o;
  o.progress = false;
  o.communicator = &nccl();
  CHECK_THROWS_WITH_AS(fit(host_model, BinaryCrossEntropy{}, sgd, Pairs{}, o),
                       doctest::Contains("keeps its buffers on the host"), std::invalid_argument);
}

TEST_CASE("a backend::Cuda model trained over NCCL equals one process on the global batches") {
  if (nccl().size() < 2) {
    MESSAGE("one rank: fit trains alone (run with mpirun -np 2 or more on as many GPUs to compare)");
    return;
  }
  check_equivalence(BinaryCrossEntropy{});
  check_equivalence(MultipleNegativesRanking{});  // the embeddings gathered over NCCL
}

int main(int argc, char** argv) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  const char* require = std::getenv("SIAMESE_REQUIRE_GPU");
  const bool must = require && require[0] == '1';
  if (e != cudaSuccess || count == 0) {
    std::printf("no CUDA device visible (%s): %s\n", e == cudaSuccess ? "0 devices" : cudaGetErrorString(e),
                must ? "FAILED (SIAMESE_REQUIRE_GPU=1)" : "skipped");
    return must ? 1 : 77;
  }
  if (mpi().size() > count) {  // NCCL refuses two ranks on one GPU; every rank sees the same count and skips
    std::printf("%d ranks for %d GPU(s): skipped (NCCL needs a GPU per rank)\n", mpi().size(), count);
    return 77;
  }
  if (mpi().rank() == 0) std::printf("NCCL %d ranks, %d GPU(s)\n", mpi().size(), count);
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  mpi().barrier_idle();  // the ranks finish together before MPI_Finalize
  return rc;
}
