// Atomic checkpoint writes under SIGKILL: a child saves checkpoints of a ~1M-parameter model in a loop and is
// killed at random moments; every time, the checkpoint on disk still loads, whole, as one of the versions written
// (never a mix), whatever partial temporary file the kill left beside it.
#include <siamese/layers/dense.hpp>
#include <siamese/layers/reshape.hpp>
#include <siamese/model/sequential.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/train/checkpoint.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "support.hpp"

using namespace siamese;

namespace {
using Model = Triplet<Sequential<Input<512>, Dense<1024>, Dense<512>>, backend::Reference>;

// Version k of the parameters and optimizer slots: exact small integers, so that a mix of versions shows.
float value(std::size_t k, std::size_t j) { return float((k * 7919 + j) % 1000003); }

[[noreturn]] void writer(const std::filesystem::path& path, int ready) {
  Model m(1);
  auto& st = m.store();
  st.slots.resize(2 * Model::param_count);
  st.slots_per_param = 2;
  for (std::size_t k = 1;; ++k) {
    for (std::size_t j = 0; j < Model::param_count; ++j) st.params.data()[j] = value(k, j);
    for (std::size_t j = 0; j < st.slots.size(); ++j) st.slots.data()[j] = value(k + 1, j);
    st.step = k;
    TrainingState s;
    s.epochs_done = k;
    save_checkpoint(m, s, path);
    if (k == 1 && ::write(ready, "1", 1) != 1) ::_exit(3);  // the first checkpoint is complete
  }
}
}  // namespace

TEST_CASE("a checkpoint survives its writer being killed at any moment") {
  const auto dir = hardening::temp("atomic");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = dir / "model.ckpt";
  std::mt19937 rng(12345);
  std::size_t last = 0, strays = 0;
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      writer(path, fds[1]);
    }
    ::close(fds[1]);
    char c = 0;
    REQUIRE(::read(fds[0], &c, 1) == 1);  // wait for a first complete checkpoint of this round
    ::close(fds[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));

    Model back(2);
    TrainingState s;
    REQUIRE_NOTHROW(s = load_checkpoint(back, path));
    INFO("round ", round, ": the checkpoint of version ", s.epochs_done);
    CHECK(s.epochs_done >= 1);
    CHECK(back.store().step == s.epochs_done);
    bool whole = true;
    for (std::size_t j = 0; j < Model::param_count; ++j) whole = whole && back.store().params[j] == value(s.epochs_done, j);
    for (std::size_t j = 0; j < back.store().slots.size(); ++j)
      whole = whole && back.store().slots[j] == value(s.epochs_done + 1, j);
    CHECK(whole);
    last = s.epochs_done;
  }
  for (const auto& e : std::filesystem::directory_iterator(dir))
    strays += e.path().filename().string().rfind("model.ckpt.tmp", 0) == 0;
  MESSAGE("last version read: ", last, "; partial temporary files left by the kills: ", strays);
  CHECK(strays <= 1);  // one fixed temporary name: the next save replaces a stale one
  std::filesystem::remove_all(dir);
}
