// A distributed fit in which the last rank dies (`kill`: SIGKILL) or stops answering (`hang`) at its third step;
// the other ranks must stop within the communicator's timeout with a DistributedError that says what happened.
// Run by test_mpi_faults.sh under mpirun.
#include <siamese/data/samplers.hpp>
#include <siamese/layers/activation.hpp>
#include <siamese/layers/dense.hpp>
#include <siamese/loss/online.hpp>
#include <siamese/model/head.hpp>
#include <siamese/model/sequential.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/optim/optimizers.hpp>
#include <siamese/train/fit.hpp>
#include <siamese/train/mpi.hpp>

#include <tbb/global_control.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

using namespace siamese;

namespace {
using Model = Siamese<Sequential<Input<8>, Dense<8, Tanh>, Dense<4>>, Head<SqDiff, Classifier<Dense<1>>>>;

struct Data {
  const MpiCommunicator* comm;
  std::string mode;
  std::size_t size() const { return 20; }
  void batch(std::size_t, std::size_t i, PairBatch& b) const {
    if (i == 2 && comm->rank() == comm->size() - 1) {
      std::fprintf(stderr, "rank %d: %s at step 3\n", comm->rank(), mode == "kill" ? "killed" : "hanging");
      std::fflush(stderr);
      if (mode == "kill") std::raise(SIGKILL);
      ::sleep(120);
    }
    b.a = Tensor({6, 8});
    b.b = Tensor({6, 8});
    b.labels.assign(6, 1.0f);
    for (std::size_t k = 0; k < b.a.size(); ++k) b.a.data()[k] = b.b.data()[k] = float(k % 7) * 0.1f;
  }
};
}  // namespace

int main(int argc, char** argv) {
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  const std::string mode = argc > 1 ? argv[1] : "kill";
  MpiCommunicator comm(argc > 2 ? std::atof(argv[2]) : 5.0);
  try {
    Model m(1);
    SGD sgd;
    FitOptions o;
    o.progress = false;
    o.communicator = &comm;
    fit(m, BinaryCrossEntropy{}, sgd, Data{&comm, mode}, o);
    std::printf("rank %d: finished\n", comm.rank());
    return 0;
  } catch (const DistributedError& e) {
    std::fprintf(stderr, "rank %d: DistributedError: %s\n", comm.rank(), e.what());
    return 3;
  }
}
