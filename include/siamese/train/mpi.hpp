#pragma once
// MpiCommunicator: data-parallel training over MPI (Open MPI: Debian's openmpi-bin and libopenmpi-dev). Needs
// <mpi.h> and the MPI library (Meson: dependency('mpi', language: 'cpp')); the rest of the library does without.
//
//   siamese::MpiCommunicator comm;                // MPI_Init when nobody has, MPI_Finalize at exit
//   FitOptions o;
//   o.communicator = &comm;                       // every rank runs the same fit(); rank 0 prints and writes files
//   fit(model, loss, opt, train, validation, o);  // run with: mpirun -np 2 ./program
//
// Every collective is non-blocking and waited for with a deadline: a rank that dies or stops answering makes the
// others throw DistributedError (naming the operation) after `timeout` seconds instead of waiting forever. After such
// a failure the communicator refuses further calls and MPI is not finalized (the process exits with its error).
// The C++ bindings (deprecated since MPI-2.2) are not used: skip their header and its warnings.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../core/errors.hpp"
#include "distributed.hpp"

namespace siamese {

namespace detail {
/// MPI for the whole process: initialised by the first MpiCommunicator when nobody has, finalised at exit unless a
/// collective failed (finalising then could wait for a dead rank).
struct MpiRuntime {
  bool owns = false, broken = false;
  MpiRuntime() {
    int up = 0;
    MPI_Initialized(&up);
    if (!up) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw DistributedError("MpiCommunicator: MPI_Init_thread failed");
      owns = true;
    }
  }
  ~MpiRuntime() {
    int down = 0;
    MPI_Finalized(&down);
    if (owns && !broken && !down) MPI_Finalize();
  }
  static MpiRuntime& get() {
    static MpiRuntime r;
    return r;
  }
};
}  // namespace detail

/// The ranks of an MPI communicator (MPI_COMM_WORLD by default, duplicated so the library's messages never meet the
/// program's own), for FitOptions::communicator.
class MpiCommunicator final : public Communicator {
 public:
  /// `timeout`: seconds a collective may wait for the slowest rank before DistributedError. Rank 0 writes the
  /// checkpoint while the others wait at the end of an epoch, so it must exceed that.
  explicit MpiCommunicator(double timeout = 300.0, MPI_Comm base = MPI_COMM_WORLD)
      : runtime_(detail::MpiRuntime::get()), timeout_(timeout) {
    check(MPI_Comm_dup(base, &comm_), "MPI_Comm_dup", "creating the communicator");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    if (!runtime_.broken) MPI_Comm_free(&comm_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  /// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun with PMI).
  static bool launched() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
      if (std::getenv(v)) return true;
    return false;
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  double timeout() const { return timeout_; }
  void set_timeout(double seconds) { timeout_ = seconds; }

  void allreduce_sum(float* data, std::size_t n, const char* what) override {
    for (std::size_t at = 0; at < n; at += chunk) {
      const int m = int(std::min(chunk, n - at));
      MPI_Request q;
      check(MPI_Iallreduce(MPI_IN_PLACE, data + at, m, MPI_FLOAT, MPI_SUM, comm_, &q), "MPI_Iallreduce", what);
      wait(q, "all-reduce", what);
    }
  }
  /// A bucket's MPI_Iallreduce, left running: backward goes on while it travels.
  void start_sum(float* data, std::size_t n, const char* what) override {
    if (runtime_.broken)
      throw DistributedError("MpiCommunicator (rank " + std::to_string(rank_) + "): all-reduce of " + what +
                             " after an earlier failure of the communicator");
    for (std::size_t at = 0; at < n; at += chunk) {
      pending_.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, data + at, int(std::min(chunk, n - at)), MPI_FLOAT, MPI_SUM, comm_,
                           &pending_.back()),
            "MPI_Iallreduce", what);
    }
  }
  /// Open MPI moves non-blocking collectives only inside MPI calls: one MPI_Testall between layers.
  void progress() override {
    if (pending_.empty()) return;
    int done = 0;
    check(MPI_Testall(int(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall",
          "the gradient buckets");
    if (done) pending_.clear();
  }
  void wait_sums(const char* what) override {
    for (auto& q : pending_)
      if (q != MPI_REQUEST_NULL) wait(q, "all-reduce", what);
    pending_.clear();
  }

  void broadcast(void* data, std::size_t bytes, int root, const char* what) override {
    for (std::size_t at = 0; at < bytes; at += chunk) {
      const int m = int(std::min(chunk, bytes - at));
      MPI_Request q;
      check(MPI_Ibcast(static_cast<char*>(data) + at, m, MPI_BYTE, root, comm_, &q), "MPI_Ibcast", what);
      wait(q, "broadcast", what);
    }
  }
  void allgather(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) override {
    if (counts.size() != std::size_t(size_))
      throw std::invalid_argument("MpiCommunicator::allgather: " + std::to_string(counts.size()) + " counts for " +
                                  std::to_string(size_) + " ranks");
    std::vector<int> c(counts.size()), d(counts.size());
    std::size_t total = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      if (counts[r] > std::size_t(INT_MAX) || total > std::size_t(INT_MAX))
        throw DistributedError(std::string("MpiCommunicator: all-gather of ") + what + ": more than 2^31 bytes");
      c[r] = int(counts[r]);
      d[r] = int(total);
      total += counts[r];
    }
    MPI_Request q;
    check(MPI_Iallgatherv(mine, c[std::size_t(rank_)], MPI_BYTE, all, c.data(), d.data(), MPI_BYTE, comm_, &q),
          "MPI_Iallgatherv", what);
    wait(q, "all-gather", what);
  }

  /// Waits until every rank has called it, without a deadline and without spinning (a rank that is done waits
  /// here while rank 0 evaluates and writes its files).
  void barrier_idle(const char* what = "the end of the program") {
    MPI_Request q;
    check(MPI_Ibarrier(comm_, &q), "MPI_Ibarrier", what);
    for (;;) {
      int done = 0;
      check(MPI_Test(&q, &done, MPI_STATUS_IGNORE), "MPI_Test", what);
      if (done) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  static constexpr std::size_t chunk = std::size_t{1} << 30;

  void check(int rc, const char* call, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    runtime_.broken = true;
    throw DistributedError("MpiCommunicator (rank " + std::to_string(rank_) + " of " + std::to_string(size_) + "): " +
                           call + " for " + what + " failed: " + std::string(text, std::size_t(len)));
  }
  // Waits for a collective with a deadline; yields the core between polls, so ranks sharing cores with computing
  // ones do not starve them.
  void wait(MPI_Request& q, const char* op, const char* what) {
    if (runtime_.broken)
      throw DistributedError("MpiCommunicator (rank " + std::to_string(rank_) + "): " + op + " of " + what +
                             " after an earlier failure of the communicator");
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t spin = 0;; ++spin) {
      int done = 0;
      check(MPI_Test(&q, &done, MPI_STATUS_IGNORE), "MPI_Test", what);
      if (done) return;
      if (spin > 64) std::this_thread::yield();
      if (spin % 256 == 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_) {
        runtime_.broken = true;
        throw DistributedError("MpiCommunicator (rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
                               "): the " + op + " of " + what + " got no answer from every rank within " +
                               std::to_string(int(timeout_)) + " s: a rank died, hangs or left training early");
      }
    }
  }

  detail::MpiRuntime& runtime_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::vector<MPI_Request> pending_;  // the started bucket sums
  int rank_ = 0, size_ = 1;
  double timeout_;
};

}  // namespace siamese
