#pragma once
// Prefetch<Gen, Batch>: a batch generator that prepares the next batches of another one on a background thread,
// into a bounded queue, while the model trains on the current batch. Decoding and augmentation then overlap the
// training step; fit() reports the time it still waits for data ("data ...s" on the epoch line).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace siamese {

/// Wraps a batch generator `Gen` (size() and batch(epoch, index, out), a pure function of (epoch, index)) and
/// computes its batches ahead, in order: after (e, i) comes (e, i + 1), after the last batch of an epoch (e + 1, 0).
/// A request for any other batch restarts the read-ahead there, so the batches are exactly the wrapped generator's
/// whatever the order of requests (validation, resume): reproducibility and bit-exact resume are kept. At most
/// `depth` batches wait in the queue. An exception thrown by the wrapped generator reaches the caller of batch().
/// The wrapped generator is called from one background thread only; it must outlive the Prefetch.
template <class Gen, class Batch>
class Prefetch {
 public:
  explicit Prefetch(const Gen& gen, std::size_t depth = 2) : s_(std::make_unique<State>(gen, depth)) {
    if (depth == 0) throw std::invalid_argument("Prefetch: the queue depth must be at least 1");
  }
  Prefetch(const Prefetch&) = delete;
  Prefetch& operator=(const Prefetch&) = delete;
  ~Prefetch() {
    {
      std::lock_guard lock(s_->m);
      s_->stop = true;
    }
    s_->cv.notify_all();
    if (s_->worker.joinable()) s_->worker.join();
  }

  std::size_t size() const { return s_->gen->size(); }

  void batch(std::size_t epoch, std::size_t index, Batch& out) const {
    State& s = *s_;
    std::unique_lock lock(s.m);
    const Key want{epoch, index};
    if (!s.worker.joinable() || s.upcoming() != want) {  // not the batch that comes next: start over there
      s.queue.clear();
      s.next = want;
      s.making = false;
      ++s.generation;
      if (!s.worker.joinable()) s.worker = std::thread([&s] { s.run(); });
      s.cv.notify_all();
    }
    const auto t0 = std::chrono::steady_clock::now();
    s.cv.wait(lock, [&] { return !s.queue.empty(); });
    s.waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Item item = std::move(s.queue.front());
    s.queue.pop_front();
    s.cv.notify_all();
    lock.unlock();
    if (item.error) std::rethrow_exception(item.error);
    out = std::move(item.batch);
  }

  /// Seconds the caller of batch() waited for a batch, and seconds the background thread spent making them.
  double wait_seconds() const {
    std::lock_guard lock(s_->m);
    return s_->waited;
  }
  double produce_seconds() const {
    std::lock_guard lock(s_->m);
    return s_->produced;
  }

 private:
  struct Key {
    std::size_t epoch, index;
    bool operator==(const Key&) const = default;
  };
  struct Item {
    Key key;
    Batch batch;
    std::exception_ptr error;
  };
  struct State {
    State(const Gen& g, std::size_t d) : gen(&g), depth(d) {}
    const Gen* gen;
    std::size_t depth;
    std::mutex m;
    std::condition_variable cv;
    std::deque<Item> queue;
    std::thread worker;
    bool stop = false, making = false;
    std::size_t generation = 0;
    Key next{0, 0}, made{0, 0};  // what the worker makes next; what it is making (when `making`)
    double waited = 0, produced = 0;

    /// The batch the queue hands out next, in the current read-ahead.
    Key upcoming() const { return !queue.empty() ? queue.front().key : making ? made : next; }
    Key after(Key k) const { return k.index + 1 < gen->size() ? Key{k.epoch, k.index + 1} : Key{k.epoch + 1, 0}; }
    void run() {
      std::unique_lock lock(m);
      for (;;) {
        cv.wait(lock, [&] { return stop || queue.size() < depth; });
        if (stop) return;
        const std::size_t at = generation;
        Item item{next, Batch{}, nullptr};
        made = next, making = true;
        next = after(next);
        lock.unlock();
        const auto t0 = std::chrono::steady_clock::now();
        try {
          gen->batch(item.key.epoch, item.key.index, item.batch);
        } catch (...) {
          item.error = std::current_exception();
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        lock.lock();
        produced += secs;
        if (generation != at) continue;  // the consumer asked for another batch meanwhile: discard this one
        making = false;
        queue.push_back(std::move(item));
        cv.notify_all();
      }
    }
  };
  std::unique_ptr<State> s_;
};

}  // namespace siamese
