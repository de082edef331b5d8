#pragma once
// What the model benchmarks share: the median-rate timer and the side-by-side report against a PyTorch
// script run as a subprocess.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
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

/// The Python of the peers' environment (PyTorch 2.x from PyPI, installed by scripts/peers_venv under
/// $SIAMESE_CACHE or ~/.cache/siamese), or Debian's /usr/bin/python3 (python3-torch) when it is absent.
inline std::string peers_python() {
  const char* cache = std::getenv("SIAMESE_CACHE");
  const char* home = std::getenv("HOME");
  const std::string py = std::string(cache && *cache ? cache : (std::string(home ? home : "/root") + "/.cache/siamese")) +
                         "/peers-venv/bin/python";
  return std::filesystem::exists(py) ? py : "/usr/bin/python3";
}

/// PyTorch's rate per workload, read from the "<name> <rate>" lines of `script` (in benchmarks/), run
/// through `python` (Debian's /usr/bin/python3 by default) with OPENBLAS_NUM_THREADS=1 and without
/// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; empty when it cannot run.
inline std::map<std::string, double> pytorch_rates(const std::string& script, int threads, int rounds,
                                                   const std::string& python = "/usr/bin/python3",
                                                   const std::string& workloads = "") {
  const std::string cmd = "cd " + std::string(BENCH_DIR) + " && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
                          "OPENBLAS_NUM_THREADS=1 " + python + " " + std::string(BENCH_DIR) + "/" + script + " " +
                          std::to_string(threads) + " " + std::to_string(rounds) + " " + workloads + " 2>/dev/null";
  std::map<std::string, double> out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return out;
  char name[64];
  double v;
  while (std::fscanf(p.get(), "%63s %lf", name, &v) == 2) out[name] = v;
  return out;
}

/// The mean of two measurements of PyTorch's rates, one taken before and one after ours: a machine
/// whose speed drifts then biases neither side (a workload missing from either run is left out).
inline std::map<std::string, double> mean_rates(const std::map<std::string, double>& before,
                                                const std::map<std::string, double>& after) {
  std::map<std::string, double> out;
  for (const auto& [name, v] : before)
    if (const auto it = after.find(name); it != after.end()) out[name] = 0.5 * (v + it->second);
  return out;
}

/// One line per workload: "<name>: siamese <x> <unit>/s, pytorch <y> <unit>/s, speedup <x/y>x".
inline void report(const std::vector<std::pair<std::string, std::string>>& lines,
                   const std::map<std::string, double>& ours, const std::map<std::string, double>& torch) {
  for (const auto& [name, unit] : lines) {
    const double x = ours.at(name);
    const auto it = torch.find(name);
    if (it != torch.end() && it->second > 0)
      std::printf("%s: siamese %.1f %s/s, pytorch %.1f %s/s, speedup %.2fx\n", name.c_str(), x, unit.c_str(),
                  it->second, unit.c_str(), x / it->second);
    else
      std::printf("%s: siamese %.1f %s/s, pytorch unavailable (scripts/peers_venv or python3-torch)\n", name.c_str(),
                  x, unit.c_str());
  }
}

}  // namespace bench
