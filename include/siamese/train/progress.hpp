#pragma once
// A progress bar with rate, ETA and loss on a terminal; plain lines when the output is not a terminal.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace siamese {

/// Reports training progress to a FILE (stderr by default). On a terminal the bar redraws in place
/// at most 10 times a second; otherwise a line with the rate and the ETA every `plain_every` seconds
/// (30 by default) and one line per epoch.
class Progress {
 public:
  explicit Progress(std::FILE* out = stderr, bool enabled = true)
      : out_(out), enabled_(enabled), tty_(out && ::isatty(::fileno(out))) {}

  void start_epoch(std::size_t epoch, std::size_t epochs, std::size_t steps) {
    epoch_ = epoch;
    epochs_ = epochs;
    steps_ = steps;
    start_ = last_ = clock::now();
  }
  void update(std::size_t done, double mean_loss) {
    if (!enabled_) return;
    const auto now = clock::now();
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? double(done) / secs : 0.0;
    const double eta = rate > 0 ? double(steps_ - done) / rate : 0.0;
    if (!tty_) {
      if (done >= steps_ || now - last_ < std::chrono::duration<double>(plain_every)) return;
      last_ = now;
      std::fprintf(out_, "epoch %zu/%zu: %zu/%zu batches, %.2f batch/s, ETA %.0fs, loss %.4f\n", epoch_ + 1, epochs_,
                   done, steps_, rate, eta, mean_loss);
      std::fflush(out_);
      return;
    }
    if (done < steps_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const int width = 24, fill = steps_ ? int(width * done / steps_) : width;
    std::string bar(std::size_t(fill), '=');
    if (fill < width) bar += '>' + std::string(std::size_t(width - fill - 1), ' ');
    std::fprintf(out_, "\repoch %zu/%zu [%s] %zu/%zu  %.1f batch/s  ETA %.0fs  loss %.4f ", epoch_ + 1, epochs_,
                 bar.c_str(), done, steps_, rate, eta, mean_loss);
    std::fflush(out_);
  }
  /// The epoch's line: its loss, `extra` (validation), then time and rate, then `timing` (where the time went).
  void end_epoch(double mean_loss, const std::string& extra = {}, const std::string& timing = {}) {
    if (!enabled_) return;
    const double secs = std::chrono::duration<double>(clock::now() - start_).count();
    if (tty_) std::fprintf(out_, "\r\033[K");
    std::fprintf(out_, "epoch %zu/%zu: loss %.4f%s (%.1fs, %.1f batch/s%s)\n", epoch_ + 1, epochs_, mean_loss,
                 extra.c_str(), secs, secs > 0 ? double(steps_) / secs : 0.0, timing.c_str());
    std::fflush(out_);
  }

 private:
  using clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool enabled_, tty_;
  std::size_t epoch_ = 0, epochs_ = 0, steps_ = 0;

 public:
  double plain_every = 30.0;  // seconds between the plain lines when the output is not a terminal

 private:
  clock::time_point start_, last_;
};

}  // namespace siamese
