#pragma once
// What the model benchmarks share: the median-rate timer, the peers (PyTorch 2.x from PyPI and Keras 3 on
// TensorFlow, each run as a subprocess in its own virtual environment), the machine's FMA peak, and the
// side-by-side report line:
//   <workload>: siamese X unit/s, pytorch Y unit/s, keras Z unit/s, speedup S x vs <faster peer>; G GFLOP/s, P% of peak
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

/// Items per second: the median over `rounds` rounds of `reps` calls, after 3 warm-up calls.
inline double median_rate(const std::function<void()>& call, std::size_t items, int rounds, int reps) {
  for (int i = 0; i < 3; ++i) call();
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) call();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(double(items) * reps / s);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

/// The folder of the peers' virtual environments ($SIAMESE_CACHE, else ~/.cache/siamese).
inline std::filesystem::path cache_dir() {
  const char* cache = std::getenv("SIAMESE_CACHE");
  const char* home = std::getenv("HOME");
  return cache && *cache ? std::filesystem::path(cache)
                         : std::filesystem::path(home ? home : "/root") / ".cache" / "siamese";
}

/// The Python of the PyTorch environment (PyTorch 2.x from PyPI, installed by scripts/peers_venv), or an
/// empty string when it is absent.
inline std::string peers_python() {
  const auto py = cache_dir() / "peers-venv" / "bin" / "python";
  return std::filesystem::exists(py) ? py.string() : std::string();
}

/// The peer frameworks a user would pick instead.
enum class Peer { pytorch, keras };
inline const char* peer_name(Peer p) { return p == Peer::pytorch ? "pytorch" : "keras"; }

/// One peer's rates per workload, or why it could not run.
struct PeerRates {
  std::map<std::string, double> rates;
  std::string unavailable;  // empty when it ran
};

/// Runs `script` (in benchmarks/) with "<threads> <rounds> <workloads>" in the peer's environment and reads its
/// "<name> <items per second>" lines. PyTorch: scripts/peers_venv's Python; Keras: scripts/keras_venv's, with
/// KERAS_BACKEND=tensorflow. Its stderr goes to <cache>/<script>.log, named on the line when it fails.
inline PeerRates peer_rates(Peer peer, const std::string& script, int threads, int rounds,
                            const std::string& workloads = "") {
  PeerRates out;
  const auto venv = cache_dir() / (peer == Peer::pytorch ? "peers-venv" : "keras-tf-venv");
  const auto python = venv / "bin" / "python";
  if (!std::filesystem::exists(python)) {
    out.unavailable = std::string("unavailable: no ") + venv.string() + " (scripts/" +
                      (peer == Peer::pytorch ? "peers_venv" : "keras_venv") + " installs it)";
    return out;
  }
  const auto log = cache_dir() / (script + ".log");
  const std::string cmd = "cd " + std::string(BENCH_DIR) + " && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " +
                          "KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 " + python.string() + " " +
                          std::string(BENCH_DIR) + "/" + script + " " + std::to_string(threads) + " " +
                          std::to_string(rounds) + " " + workloads + " 2>" + log.string();
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) {
    out.unavailable = "unavailable: could not start " + python.string();
    return out;
  }
  char name[64];
  double v;
  while (std::fscanf(p.get(), "%63s %lf", name, &v) == 2) out.rates[name] = v;
  if (out.rates.empty()) out.unavailable = "unavailable: " + script + " failed (see " + log.string() + ")";
  return out;
}

/// The mean of two measurements of a peer, one taken before and one after ours: a machine whose speed drifts then
/// biases neither side (a workload missing from either run is left out).
inline PeerRates mean_rates(const PeerRates& before, const PeerRates& after) {
  PeerRates out;
  out.unavailable = !before.unavailable.empty() ? before.unavailable : after.unavailable;
  for (const auto& [name, v] : before.rates)
    if (const auto it = after.rates.find(name); it != after.rates.end()) out.rates[name] = 0.5 * (v + it->second);
  return out;
}

/// The same for rates read by a benchmark's own peer runner.
inline std::map<std::string, double> mean_rates(const std::map<std::string, double>& before,
                                                const std::map<std::string, double>& after) {
  return mean_rates(PeerRates{before, {}}, PeerRates{after, {}}).rates;
}

/// Both peers measured before and after ours: `before()` once, then `after()` once `ours` ran.
struct Peers {
  std::string torch_script, keras_script, workloads;
  int threads, rounds;
  PeerRates torch_before, keras_before;
  Peers(std::string torch, std::string keras, std::string names, int t, int r)
      : torch_script(std::move(torch)), keras_script(std::move(keras)), workloads(std::move(names)), threads(t),
        rounds(r) {
    torch_before = peer_rates(Peer::pytorch, torch_script, threads, rounds, workloads);
    keras_before = peer_rates(Peer::keras, keras_script, threads, rounds, workloads);
  }
  std::pair<PeerRates, PeerRates> after() const {
    return {mean_rates(torch_before, peer_rates(Peer::pytorch, torch_script, threads, rounds, workloads)),
            mean_rates(keras_before, peer_rates(Peer::keras, keras_script, threads, rounds, workloads))};
  }
};

/// The machine's single-precision FMA peak in GFLOP/s on `threads` threads: independent chains of fused
/// multiply-adds on the widest SIMD registers the build targets (enough chains to cover the FMA latency on
/// two pipes). $SIAMESE_BENCH_PEAK_GFLOPS, set by scripts/bench from one measurement per run, wins.
inline double fma_peak_gflops(int threads) {
  if (const char* env = std::getenv("SIAMESE_BENCH_PEAK_GFLOPS"); env && std::atof(env) > 0) return std::atof(env);
  using B = xsimd::batch<float>;
  constexpr int chains = 12;
  constexpr long iters = 20'000'000;
  std::vector<double> sink(std::size_t(threads), 0.0);
  const auto work = [&](int t) {
    B acc[chains];
    for (int c = 0; c < chains; ++c) acc[c] = B(1.0f + 1e-3f * float(c));
    const B m(0.999999f), a(1e-7f);
    for (long i = 0; i < iters; ++i)
      for (int c = 0; c < chains; ++c) acc[c] = xsimd::fma(acc[c], m, a);
    float s = 0;
    for (int c = 0; c < chains; ++c) s += xsimd::hadd(acc[c]);
    sink[std::size_t(t)] = s;
  };
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * B::size * chains * double(iters) * threads / s / 1e9);
  }
  if (sink[0] == 12345.0f) std::printf("%g\n", sink[0]);  // keeps the chains alive
  return best;
}

/// A workload's line: its name, its unit, and the floating-point operations one item costs (multiply-adds
/// counted as 2; a training step as 3x the forward pass: forward, gradient of the inputs, gradient of the weights).
struct Line {
  std::string name, unit;
  double flops_per_item = 0;
};

/// Forward FLOPs of common layers, per sample.
inline double conv_flops(double out_h, double out_w, double out_c, double k, double in_c) {
  return 2 * out_h * out_w * out_c * k * k * in_c;
}
inline double dense_flops(double in, double out) { return 2 * in * out; }
inline double lstm_flops(double steps, double in, double units) { return steps * 2 * (in + units) * 4 * units; }

/// One line per workload, "<name>: siamese X unit/s, pytorch Y unit/s, keras Z unit/s, speedup S x vs <peer>; G
/// GFLOP/s, P% of peak", where S is against the faster peer that ran. A peer that did not run says why on the line.
inline void report(const std::vector<Line>& lines, const std::map<std::string, double>& ours,
                   const PeerRates& torch, const PeerRates& keras, int threads) {
  static const double peak = fma_peak_gflops(threads);
  for (const auto& l : lines) {
    const double x = ours.at(l.name);
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s: siamese %.1f %s/s", l.name.c_str(), x, l.unit.c_str());
    std::string text = buf;
    double best = 0;
    const char* best_name = nullptr;
    for (const auto& [peer, rates] : {std::pair{Peer::pytorch, &torch}, std::pair{Peer::keras, &keras}}) {
      const auto it = rates->rates.find(l.name);
      if (it != rates->rates.end() && it->second > 0) {
        std::snprintf(buf, sizeof buf, ", %s %.1f %s/s", peer_name(peer), it->second, l.unit.c_str());
        if (it->second > best) best = it->second, best_name = peer_name(peer);
      } else {
        std::snprintf(buf, sizeof buf, ", %s %s", peer_name(peer),
                      rates->unavailable.empty() ? "did not report this workload" : rates->unavailable.c_str());
      }
      text += buf;
    }
    if (best_name)
      std::snprintf(buf, sizeof buf, ", speedup %.2fx vs %s", x / best, best_name);
    else
      std::snprintf(buf, sizeof buf, ", speedup unknown (no peer ran)");
    text += buf;
    if (l.flops_per_item > 0) {
      const double g = x * l.flops_per_item / 1e9;
      std::snprintf(buf, sizeof buf, "; %.1f GFLOP/s, %.0f%% of the %.0f GFLOP/s FMA peak", g, 100 * g / peak, peak);
      text += buf;
    }
    std::printf("%s\n", text.c_str());
  }
  std::fflush(stdout);
}

}  // namespace bench
