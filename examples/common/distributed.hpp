#pragma once
// The examples under mpirun: when an MPI launcher started the process (and the examples were built with MPI), an
// MpiCommunicator for fit(), the cores shared out among the ranks of the machine, and only rank 0 printing.
#include <siamese/train/distributed.hpp>
#ifdef SIAMESE_EXAMPLE_MPI
#include <siamese/train/mpi.hpp>
#endif

#include <tbb/global_control.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

namespace example {

struct Distributed {
#ifdef SIAMESE_EXAMPLE_MPI
  std::optional<siamese::MpiCommunicator> mpi;
#endif
  std::optional<tbb::global_control> threads;
  siamese::Communicator* comm = nullptr;  // null: one process

  Distributed() {
#ifdef SIAMESE_EXAMPLE_MPI
    if (!siamese::MpiCommunicator::launched()) return;
    mpi.emplace();
    comm = &*mpi;
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const unsigned ranks_here = local ? unsigned(std::max(1, std::atoi(local))) : 1u;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    threads.emplace(tbb::global_control::max_allowed_parallelism, std::max(1u, cores / ranks_here));
    if (comm->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) std::perror("stdout");
    std::printf("distributed: %d ranks (MPI), %u thread(s) each; each batch is split over the ranks\n", comm->size(),
                std::max(1u, cores / ranks_here));
#endif
  }
  bool primary() const { return !comm || comm->rank() == 0; }
  /// Every rank meets here: the others wait (idle) while rank 0 evaluates and writes the results.
  void finish() {
#ifdef SIAMESE_EXAMPLE_MPI
    if (mpi) mpi->barrier_idle();
#endif
  }
};

}  // namespace example
