// Data-parallel training on this machine: 2 MPI ranks x 1 thread against 1 process x 2 threads, on the model of
// examples/fashion_mnist_siamese (batches of 128 pairs, Adam), and the cost of an all-reduce over Open MPI on TCP
// loopback, fitted to alpha + n / beta (from the fastest of repeated calls). Prints:
//   distributed_siamese_cnn_train: 2 ranks x 1 thread <x> pairs/s, 1 rank x 2 threads <y> pairs/s, ratio <x/y>x
//   distributed_buckets: step time, the final wait and the time of the bucket calls during backward, with one sum
//                        after backward, 256 KB buckets and 25 MB buckets (2 ranks x 1 thread; shared memory, then
//                        TCP loopback)
//   distributed_overlap: the wait after a simulated backward (sleeping layers) for a 16 MB gradient, in one sum or in
//                        8 buckets started layer by layer (shared memory, then TCP loopback)
//   distributed_step_compute: siamese_cnn <ms> ms (128 pairs), triplet_cnn <ms> ms (160 samples, SemiHard) on 2 threads
//   distributed_allreduce_loopback: alpha <us> us, beta <GB/s> GB/s (2 ranks, TCP on 127.0.0.1; <sizes>)
//   distributed_mining: SemiHard over 2560 x 64 embeddings <ms> ms (one thread)
//   distributed_model_sizes: the two models' parameter counts
// docs/distributed.md turns these into predictions for 8 and 64 nodes. Started without mpirun it measures the
// single-process side, then runs itself under `mpirun -np 2` for the rest.
#include <siamese/layers/conv2d.hpp>
#include <siamese/layers/pooling.hpp>
#include <siamese/layers/reshape.hpp>
#include <siamese/loss/online.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/triplet.hpp>
#include <siamese/optim/optimizers.hpp>
#include <siamese/train/fit.hpp>
#include <siamese/train/mpi.hpp>

#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>
#include <string>
#include <thread>
#include <vector>

using namespace siamese;

namespace {
using Encoder = Sequential<Input<28, 28, 1>, Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                           Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Conv2D<128, 3, 1, Padding::Valid, ReLU>,
                           Flatten, Dense<128>>;
using PairModel = Siamese<Encoder, Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>>;
using TripletEncoder = Sequential<Input<28, 28, 1>, Conv2D<32, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>,
                                  Conv2D<64, 3, 1, Padding::Valid, ReLU>, MaxPool2D<2>, Flatten, Dense<128, ReLU>,
                                  Dense<64>>;
using TripletModel = Embedder<TripletEncoder>;
constexpr std::size_t batch = 128, steps = 24;

struct RandomPairs {
  std::size_t n = steps;
  std::size_t size() const { return n; }
  void batch(std::size_t e, std::size_t i, PairBatch& b) const {
    detail::Rng r(e * 1000 + i);
    b.a = Tensor({::batch, 28, 28, 1});
    b.b = Tensor({::batch, 28, 28, 1});
    for (auto& v : b.a) v = r.uniform();
    for (auto& v : b.b) v = r.uniform();
    b.labels.resize(::batch);
    for (std::size_t k = 0; k < ::batch; ++k) b.labels[k] = float(k % 2);
  }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Pairs per second of fit() over `steps` batches, after a warm-up epoch of 3 batches.
double train_rate(Communicator* comm, std::size_t bucket_bytes = default_bucket_bytes) {
  PairModel m(1);
  Adam adam;
  FitOptions o;
  o.progress = false;
  o.communicator = comm;
  o.bucket_bytes = bucket_bytes;
  fit(m, BinaryCrossEntropy{}, adam, RandomPairs{3}, o);
  const auto t0 = std::chrono::steady_clock::now();
  fit(m, BinaryCrossEntropy{}, adam, RandomPairs{}, o);
  return double(steps * batch) / seconds_since(t0);
}

// A communicator that times the gradient sums: starting the buckets and the progress calls between layers (`calls`),
// and the wait before the optimizer step (`waited`: the communication backward did not hide, plus the time the other
// rank took to reach the same point).
struct Timed final : CommunicatorWrapper {
  double waited = 0, calls = 0;
  using CommunicatorWrapper::CommunicatorWrapper;
  template <class F>
  void timed(double& into, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    into += seconds_since(t0);
  }
  void start_sum(float* d, std::size_t n, const char* w) override {
    timed(calls, [&] { inner.start_sum(d, n, w); });
  }
  void progress() override {
    timed(calls, [&] { inner.progress(); });
  }
  void wait_sums(const char* w) override {
    timed(waited, [&] { inner.wait_sums(w); });
  }
};

// Step time, and per step the final wait and the bucket calls during backward, for one bucket size: the fastest of
// three runs (on a loaded machine the slowest measure the scheduler).
std::string bucket_step_ms(MpiCommunicator& comm, std::size_t bytes) {
  double best = 1e30, wait = 0, calls = 0;
  for (int rep = 0; rep < 3; ++rep) {
    Timed t(comm);
    const double rate = train_rate(&t, bytes);
    const double ms = 1e3 * double(batch) / rate;
    if (ms < best) best = ms, wait = 1e3 * t.waited / double(steps + 3), calls = 1e3 * t.calls / double(steps + 3);
  }
  char buf[80];
  std::snprintf(buf, sizeof buf, "%.1f ms/step (wait %.2f ms, calls %.2f ms)", best, wait, calls);
  return buf;
}

// The shortest time of one all-reduce of n floats: on a machine whose cores other work shares, the median measures
// when the scheduler runs the two ranks, the minimum the library and Open MPI.
double allreduce_seconds(MpiCommunicator& c, std::size_t n) {
  std::vector<float> v(n, 1.0f);
  const int reps = n < 4096 ? 300 : n < (1 << 20) ? 30 : 8;
  std::vector<double> t;
  for (int r = 0; r < reps + 2; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    c.allreduce_sum(v.data(), n, "the benchmark's buffer");
    if (r >= 2) t.push_back(seconds_since(t0));
  }
  return *std::min_element(t.begin(), t.end());
}

// The overlap itself, without the load's noise: a backward of 8 layers of `layer_ms` each, simulated by sleeping (the
// ranks then compete for no core), over a 16 MB gradient in 8 buckets of 2 MB. Bucketed, each bucket's sum starts
// after its layer and MPI_Testall runs between layers, as in fit(); blocking, the whole sum starts after the last
// layer. Returns "<blocking wait> <bucketed wait>" in ms: the time from the end of backward until the sums are done
// (fastest of 5 steps).
std::string overlap_ms(MpiCommunicator& comm, double layer_ms) {
  constexpr std::size_t layers = 8, bucket = std::size_t{1} << 19;
  std::vector<float> g(layers * bucket, 1.0f);
  double best[2] = {1e30, 1e30};
  for (int rep = 0; rep < 5; ++rep)
    for (int bucketed = 0; bucketed < 2; ++bucketed) {
      float one = 1;
      comm.allreduce_sum(&one, 1, "the start of a step");  // the ranks start together
      for (std::size_t l = 0; l < layers; ++l) {
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(layer_ms));
        if (bucketed) comm.start_sum(g.data() + (layers - 1 - l) * bucket, bucket, "a bucket");
        comm.progress();
      }
      const auto t0 = std::chrono::steady_clock::now();
      if (!bucketed) comm.start_sum(g.data(), g.size(), "the gradient");
      comm.wait_sums("the gradient");
      best[bucketed] = std::min(best[bucketed], 1e3 * seconds_since(t0));
    }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f", best[0], best[1]);
  return buf;
}

int worker(const char* out, const std::string& what) {
  tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
  MpiCommunicator comm(600.0);
  std::string result;
  if (what == "train") {
    result = std::to_string(train_rate(&comm));
  } else if (what == "overlap") {
    result = overlap_ms(comm, 2.0) + " " + overlap_ms(comm, 10.0);
  } else if (what == "buckets") {  // one sum after backward, 256 KB buckets, the default 25 MB
    result = "one sum after backward " + bucket_step_ms(comm, 0) + ", " +
             std::to_string(plan_buckets(PairModel(1).parameter_info(), 256 << 10).size()) +
             " buckets of 256 KB " + bucket_step_ms(comm, 256 << 10) + ", 25 MB buckets (one) " +
             bucket_step_ms(comm, default_bucket_bytes);
  } else {  // all-reduce of 4 B .. 16 MB: alpha from the smallest, beta from the slope between the two largest
    std::vector<std::pair<double, double>> t;  // (bytes, seconds)
    for (std::size_t n = 1; n <= (std::size_t{1} << 22); n *= 4)
      t.push_back({double(n * sizeof(float)), allreduce_seconds(comm, n)});
    const auto [x0, y0] = t.front();
    const auto [x1, y1] = t[t.size() - 2];
    const auto [x2, y2] = t.back();
    // Two ranks: a ring all-reduce costs 2(P-1) alpha + 2(P-1)/P * n / beta = 2 alpha + n / beta.
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.3f %.3f %.1f %.1f", (y0 - x0 * (y2 - y1) / (x2 - x1)) / 2 * 1e6,
                  (x2 - x1) / (y2 - y1) / 1e9, y0 * 1e6, y2 * 1e3);
    result = buf;
  }
  if (comm.rank() == 0) std::ofstream(out) << result << "\n";
  return 0;
}

std::string run_ranks(const char* self, const std::string& what, const std::string& mca) {
  const std::string file = "/tmp/bench_distributed_" + std::to_string(::getpid()) + "_" + what;
  const std::string cmd = "mpirun --allow-run-as-root --oversubscribe --bind-to none " + mca + " -np 2 " +
                          std::string(self) + " --worker " + file + " " + what + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) return {};
  std::string line;
  std::getline(std::ifstream(file), line);
  std::remove(file.c_str());
  return line;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc > 3 && std::string(argv[1]) == "--worker") return worker(argv[2], argv[3]);
  double single, pair_ms, triplet_ms;
  {
    tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
    single = train_rate(nullptr);
    pair_ms = 1e3 * double(batch) / single;
    TripletModel m(1);
    Adam adam;
    LabeledBatch b{Tensor({160, 28, 28, 1}), std::vector<float>(160)};
    detail::Rng r(3);
    for (auto& v : b.x) v = r.uniform();
    for (std::size_t i = 0; i < 160; ++i) b.labels[i] = float(i / 16);
    for (int i = 0; i < 3; ++i) m.train_step(b, SemiHard{0.5f}, adam);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < steps; ++i) m.train_step(b, SemiHard{0.5f}, adam);
    triplet_ms = 1e3 * seconds_since(t0) / double(steps);
  }
  // The in-batch miner runs on every rank over the gathered batch: its cost grows with the square of the global batch.
  double mining_ms;
  {
    const std::size_t n = 2560, d = 64;
    std::vector<float> e(n * d), g(n * d);
    std::vector<int> labels(n);
    detail::Rng r(5);
    for (auto& v : e) v = r.uniform();
    for (std::size_t i = 0; i < n; ++i) labels[i] = int(i / 16);
    const auto t0 = std::chrono::steady_clock::now();
    semi_hard_triplet_loss<float>(e.data(), labels.data(), n, d, 0.5, Distance::SquaredEuclidean, g.data(), nullptr);
    mining_ms = 1e3 * seconds_since(t0);
  }
  const std::string ranks = run_ranks(argv[0], "train", "");
  if (ranks.empty()) {
    std::fprintf(stderr, "bench_distributed: mpirun -np 2 %s failed\n", argv[0]);
    return 1;
  }
  const double two = std::atof(ranks.c_str());
  std::printf("distributed_siamese_cnn_train: 2 ranks x 1 thread %.1f pairs/s, 1 rank x 2 threads %.1f pairs/s, "
              "ratio %.2fx\n", two, single, two / single);
  std::printf("distributed_step_compute: siamese_cnn %.1f ms (%zu pairs), triplet_cnn %.1f ms (160 samples, SemiHard) "
              "on 2 threads\n", pair_ms, batch, triplet_ms);
  for (const char* btl : {"shared memory", "TCP on 127.0.0.1"}) {
    const std::string ov = run_ranks(argv[0], "overlap", btl[0] == 's' ? "" : "--mca btl tcp,self");
    double b2 = 0, o2 = 0, b10 = 0, o10 = 0;
    if (ov.empty() || std::sscanf(ov.c_str(), "%lf %lf %lf %lf", &b2, &o2, &b10, &o10) != 4) {
      std::fprintf(stderr, "bench_distributed: the overlap measurement under mpirun failed\n");
      return 1;
    }
    std::printf("distributed_overlap: 2 ranks, 16 MB in 8 buckets after 8 sleeping layers, %s: wait after backward "
                "%.2f ms blocking, %.2f ms bucketed (2 ms layers); %.2f ms, %.2f ms (10 ms layers)\n",
                btl, b2, o2, b10, o10);
    const std::string bk = run_ranks(argv[0], "buckets", btl[0] == 's' ? "" : "--mca btl tcp,self");
    if (bk.empty()) {
      std::fprintf(stderr, "bench_distributed: the bucket measurement under mpirun failed\n");
      return 1;
    }
    std::printf("distributed_buckets: 2 ranks x 1 thread, %zu pairs per step, %s: %s\n", batch, btl, bk.c_str());
  }
  const std::string ab = run_ranks(argv[0], "allreduce", "--mca btl tcp,self");
  double alpha = 0, beta = 0, small = 0, large = 0;
  if (ab.empty() || std::sscanf(ab.c_str(), "%lf %lf %lf %lf", &alpha, &beta, &small, &large) != 4) {
    std::fprintf(stderr, "bench_distributed: the all-reduce measurement under mpirun failed\n");
    return 1;
  }
  std::printf("distributed_allreduce_loopback: alpha %.1f us, beta %.2f GB/s (2 ranks, TCP on 127.0.0.1; 4 B in "
              "%.1f us, 16 MB in %.1f ms)\n", alpha, beta, small, large);
  std::printf("distributed_mining: SemiHard over 2560 x 64 embeddings %.1f ms (one thread)\n", mining_ms);
  std::printf("distributed_model_sizes: siamese_cnn %zu floats, triplet_cnn %zu floats\n", PairModel::param_count,
              TripletModel::param_count);
  return 0;
}
