#pragma once
// NcclCommunicator: data-parallel training of a model on backend::Cuda, one GPU per rank. The gradient buckets and an
// in-batch loss's embeddings travel between the GPUs with NCCL, queued on backend::Cuda's stream (in program order
// with the model's kernels, so no copy to the host); the small messages of fit (the ranks' reports, the model
// broadcast at the start, the checkpoint) go over the MpiCommunicator it is built on, which also carries NCCL's unique
// id from rank 0 to the others. Needs nvcc, <nccl.h> and libnccl (Meson builds its test only where both are found).
//
//   siamese::MpiCommunicator mpi;
//   siamese::NcclCommunicator nccl(mpi);          // before the model: it picks this rank's GPU
//   Siamese<Encoder, Head<...>, backend::Cuda> model;
//   o.communicator = &nccl;                       // mpirun -np <GPUs> ./program
//
// NCCL itself never gives up on a rank that died: wait_sums() and the gathers poll the stream and NCCL's error state,
// and after the MPI communicator's timeout abort the NCCL communicator and throw DistributedError.
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../backend/cuda/runtime.cuh"
#include "mpi.hpp"

namespace siamese {

/// The ranks of an MpiCommunicator, with their model data (gradients, embeddings) on the GPUs over NCCL. Each rank
/// uses one GPU: `device`, or by default its rank on the node modulo the GPUs it sees; two ranks on one GPU are not
/// supported by NCCL.
class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(MpiCommunicator& mpi, int device = -1) : mpi_(mpi) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0)
      throw DistributedError("NcclCommunicator: no CUDA device is visible to rank " + std::to_string(mpi.rank()));
    if (device < 0) device = local_rank() % count;
    backend::detail_cuda::check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
    ncclUniqueId id{};
    if (mpi.rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId", "creating the communicator");
    mpi.broadcast(&id, sizeof id, 0, "the NCCL unique id");
    nccl_check(ncclCommInitRank(&comm_, mpi.size(), id, mpi.rank()), "ncclCommInitRank", "creating the communicator");
  }
  ~NcclCommunicator() override {
    if (comm_ && !broken_) ncclCommDestroy(comm_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }

  // Host data (reports, the model and history sent from rank 0) over MPI.
  void allreduce_sum(float* data, std::size_t n, const char* what) override { mpi_.allreduce_sum(data, n, what); }
  void broadcast(void* data, std::size_t bytes, int root, const char* what) override {
    mpi_.broadcast(data, bytes, root, what);
  }
  void allgather(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) override {
    mpi_.allgather(mine, all, counts, what);
  }

  // Model data in device memory over NCCL, on backend::Cuda's stream.
  bool data_on_device() const override { return true; }
  void start_sum(float* data, std::size_t n, const char* what) override {
    usable(what);
    nccl_check(ncclAllReduce(data, data, n, ncclFloat, ncclSum, comm_, stream()), "ncclAllReduce", what);
  }
  void wait_sums(const char* what) override { wait(what); }
  /// An all-gather of uneven parts: one broadcast from each rank, grouped into one NCCL operation.
  void allgather_data(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) override {
    usable(what);
    if (counts.size() != std::size_t(size()))
      throw std::invalid_argument("NcclCommunicator::allgather_data: " + std::to_string(counts.size()) +
                                  " counts for " + std::to_string(size()) + " ranks");
    nccl_check(ncclGroupStart(), "ncclGroupStart", what);
    std::size_t at = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      nccl_check(ncclBroadcast(mine, static_cast<char*>(all) + at, counts[r], ncclUint8, int(r), comm_, stream()),
                 "ncclBroadcast", what);
      at += counts[r];
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd", what);
    wait(what);
  }

 private:
  static cudaStream_t stream() { return backend::detail_cuda::Context::get().stream(); }
  static int local_rank() {
    for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
      if (const char* s = std::getenv(v)) return std::atoi(s);
    return 0;
  }
  void usable(const char* what) const {
    if (broken_)
      throw DistributedError("NcclCommunicator (rank " + std::to_string(rank()) + "): " + what +
                             " after an earlier failure of the communicator");
  }
  void nccl_check(ncclResult_t r, const char* call, const char* what) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    fail(std::string(call) + " for " + what + " failed: " + ncclGetErrorString(r));
  }
  [[noreturn]] void fail(const std::string& why) {
    if (comm_ && !broken_) ncclCommAbort(comm_);
    broken_ = true;
    throw DistributedError("NcclCommunicator (rank " + std::to_string(rank()) + " of " + std::to_string(size()) +
                           "): " + why);
  }
  // Waits for the stream (the NCCL operations and the kernels queued before them), polling NCCL's own error state,
  // with the MPI communicator's deadline; yields the core between polls.
  void wait(const char* what) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream());
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) backend::detail_cuda::check(e, std::string("the stream, waiting for ") + what);
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress)
        fail(std::string("waiting for ") + what + ": " + ncclGetErrorString(async));
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > mpi_.timeout())
        fail(std::string("waiting for ") + what + ": no answer from every rank within " +
             std::to_string(int(mpi_.timeout())) + " s: a rank died, hangs or left training early");
      std::this_thread::yield();
    }
  }

  MpiCommunicator& mpi_;
  ncclComm_t comm_ = nullptr;
  bool broken_ = false;
};

}  // namespace siamese
