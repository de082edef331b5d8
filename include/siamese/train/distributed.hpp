#pragma once
// Data-parallel training: the Communicator interface fit() trains through, the single-process communicator, and
// what fit() does with one (train/mpi.hpp provides MpiCommunicator over MPI).
//
// With a communicator of N > 1 ranks (FitOptions::communicator), every rank runs the same fit() call:
//   - at the start the ranks check that they train the same model (its architecture signature), the same number of
//     batches and the same optimizer; rank 0 alone reads the checkpoint, then broadcasts parameters, states,
//     optimizer slots, step and the training history, so every rank starts from rank 0's model;
//   - each global batch of the generator is split into N contiguous shards in rank order (shard_rows); rank r trains
//     on shard r, and the gradients are averaged over the ranks, weighted by shard size, so N ranks x b samples take
//     the same step as one process on the N*b samples. The average runs in buckets of whole tensors
//     (FitOptions::bucket_bytes, plan_buckets), each started as soon as backward has finished its layers and all
//     waited for before the optimizer step, so communication overlaps the rest of backward; the buckets are a
//     function of the model alone, so every step sums the same ranges the same way (resume stays bit-exact);
//   - in-batch losses (BatchHard, SemiHard, BatchAll, MultipleNegativesRanking: in_batch_loss) see every rank's
//     embeddings, gathered in rank order; each rank's gradient is that of the global loss on its own rows;
//   - BatchNorm's moving statistics are rank 0's, sent to the others after each step; training and validation losses are reduced over
//     the ranks; rank 0 alone prints progress and writes the checkpoint, and the ranks check once per epoch that
//     their parameters are still equal.
// A step that fails on one rank (a NaN loss or gradient, a bad batch) fails on every rank, with no update applied (the
// failing rank still joins the buckets the others sum, then reports); a rank that dies or stops answering makes the
// others throw DistributedError after the communicator's timeout. NcclCommunicator (train/nccl.cuh) keeps the
// gradients and gathered embeddings of a backend::Cuda model on the GPUs.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/batches.hpp"
#include "../core/errors.hpp"
#include "../io/crc32.hpp"
#include "../loss/multiple_negatives.hpp"
#include "../model/model_api.hpp"
#include "checkpoint.hpp"

namespace siamese {

/// How the ranks of a data-parallel run talk: fit() needs the four operations below, and uses the gradient-bucket and
/// device-data ones after them (their defaults fall back on the four). Every call is collective: all ranks make the
/// same calls in the same order. A failure (another rank died, a timeout) throws DistributedError.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Element-wise sum over the ranks of n floats, in place; every rank receives the same values.
  virtual void allreduce_sum(float* data, std::size_t n, const char* what) = 0;
  /// `bytes` bytes of rank `root`'s `data` to every rank.
  virtual void broadcast(void* data, std::size_t bytes, int root, const char* what) = 0;
  /// counts[r] bytes from each rank r, concatenated in rank order into `all`; this rank sends counts[rank()] bytes.
  virtual void allgather(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) = 0;

  // The gradient buckets: fit() starts the sum of each bucket as soon as backward has finished its layers, calls
  // progress() between layers and wait_sums() before the optimizer step. Every rank starts the same buckets in the
  // same order. The defaults sum at once, without overlap.
  /// Starts the element-wise sum over the ranks of n floats in place; `data` must stay untouched until wait_sums().
  virtual void start_sum(float* data, std::size_t n, const char* what) { allreduce_sum(data, n, what); }
  /// Lets the started sums advance (an MPI library without a progress thread moves only inside its calls).
  virtual void progress() {}
  /// Waits until every started sum is complete.
  virtual void wait_sums(const char* /*what*/) {}

  /// True when start_sum and allgather_data take the model backend's device memory (NcclCommunicator); false when
  /// fit() copies the model's data to the host first (every host communicator).
  virtual bool data_on_device() const { return false; }
  /// The all-gather of the model's data (an in-batch loss's embeddings): `mine` and `all` are in the memory that
  /// data_on_device() says. The default is allgather().
  virtual void allgather_data(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) {
    allgather(mine, all, counts, what);
  }
};

/// A communicator that forwards every call to another one: derive from it and override what you want to observe
/// (timing the gradient sums, logging the calls), forwarding to `inner` as the defaults do.
class CommunicatorWrapper : public Communicator {
 public:
  explicit CommunicatorWrapper(Communicator& wrapped) : inner(wrapped) {}
  int rank() const override { return inner.rank(); }
  int size() const override { return inner.size(); }
  void allreduce_sum(float* data, std::size_t n, const char* what) override { inner.allreduce_sum(data, n, what); }
  void broadcast(void* data, std::size_t bytes, int root, const char* what) override {
    inner.broadcast(data, bytes, root, what);
  }
  void allgather(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) override {
    inner.allgather(mine, all, counts, what);
  }
  void start_sum(float* data, std::size_t n, const char* what) override { inner.start_sum(data, n, what); }
  void progress() override { inner.progress(); }
  void wait_sums(const char* what) override { inner.wait_sums(what); }
  bool data_on_device() const override { return inner.data_on_device(); }
  void allgather_data(const void* mine, void* all, const std::vector<std::size_t>& counts, const char* what) override {
    inner.allgather_data(mine, all, counts, what);
  }

 protected:
  Communicator& inner;
};

/// The default size of a gradient bucket, PyTorch DistributedDataParallel's bucket_cap_mb (FitOptions::bucket_bytes).
inline constexpr std::size_t default_bucket_bytes = std::size_t{25} << 20;

/// One process: rank 0 of 1. fit() without a communicator, or with this one, runs exactly as before (no copies,
/// no calls); it exists for code written against Communicator.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(float*, std::size_t, const char*) override {}
  void broadcast(void*, std::size_t, int, const char*) override {}
  void allgather(const void* mine, void* all, const std::vector<std::size_t>& counts, const char*) override {
    if (!counts.empty() && counts[0]) std::memcpy(all, mine, counts[0]);
  }
};

/// Rows [first, first + count) of a global batch of n rows that rank `rank` of `world` trains on: contiguous, in rank
/// order, sizes differing by at most one. A pure function of (n, rank, world): with a batch generator that is a pure
/// function of (epoch, index), each rank's shard is one of (epoch, index, rank, world).
struct Shard {
  std::size_t first = 0, count = 0;
};
inline Shard shard_rows(std::size_t n, std::size_t rank, std::size_t world) {
  const std::size_t lo = n * rank / world, hi = n * (rank + 1) / world;
  return {lo, hi - lo};
}

/// A loss that mines or ranks inside the batch: with several ranks it must see every rank's embeddings (fit gathers
/// them). True for arity 1 (BatchHard, SemiHard, BatchAll) and MultipleNegativesRanking; a loss of one's own says so
/// with `static constexpr bool in_batch = true`.
template <class L>
inline constexpr bool in_batch_loss = [] {
  if constexpr (requires { L::in_batch; }) return bool(L::in_batch);
  else if constexpr (requires { L::arity; }) return L::arity == 1;
  else return false;
}();
template <>
inline constexpr bool in_batch_loss<MultipleNegativesRanking> = true;

/// A bucket of the gradient buffer: the floats [lo, hi), summed over the ranks by one operation.
struct Bucket {
  std::size_t lo = 0, hi = 0;
};
/// The gradient buckets data-parallel fit() sums for a model (`m.parameter_info()`) at FitOptions::bucket_bytes.
/// The buckets of a model's trainable span: consecutive whole tensors of at most `bytes` together (a larger tensor is
/// a bucket of its own), from the top of the buffer down, the order in which backward finishes them. A pure function
/// of the model and `bytes` (0: the whole span in one bucket), so every step and every rank sums the same ranges by
/// the same operations, whenever each starts: the result does not depend on the timing.
inline std::vector<Bucket> plan_buckets(const std::vector<ParamInfo>& params, std::size_t bytes) {
  std::size_t lo = SIZE_MAX, hi = 0;
  for (const auto& t : params)
    if (t.trainable && t.size) lo = std::min(lo, t.offset), hi = std::max(hi, t.offset + t.size);
  if (hi == 0) return {};
  std::vector<std::size_t> starts;  // where tensors start inside the span, from the top down, ending with lo
  if (bytes)
    for (const auto& t : params)
      if (t.offset > lo && t.offset < hi) starts.push_back(t.offset);
  std::sort(starts.begin(), starts.end(), std::greater<>());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  starts.push_back(lo);
  std::vector<Bucket> out;
  std::size_t top = hi, bottom = hi;  // the open bucket [bottom, top)
  for (std::size_t at : starts) {
    if (bottom < top && (top - at) * sizeof(float) > bytes) {
      out.push_back({bottom, top});
      top = bottom;
    }
    bottom = at;
  }
  out.push_back({bottom, top});
  return out;
}

namespace detail {

// ---- batches split into shards -------------------------------------------------------------------------------------
inline std::size_t rows_of(const Tensor& t) { return t.shape().empty() ? 0 : t.dim(0); }

inline void slice_rows(const Tensor& t, Shard s, Tensor& out) {
  std::vector<std::size_t> shape = t.shape();
  shape[0] = s.count;
  if (out.shape() != shape) out = Tensor(shape);
  const std::size_t row = t.size() / t.dim(0);
  if (s.count) std::memcpy(out.data(), t.data() + s.first * row, s.count * row * sizeof(float));
}
inline void slice_labels(const std::vector<float>& v, Shard s, std::vector<float>& out) {
  out.assign(v.begin() + long(s.first), v.begin() + long(s.first + s.count));
}
[[noreturn]] inline void uneven_batch(const char* what, std::size_t a, std::size_t b) {
  throw ShapeError(std::string("fit: a global batch holds ") + what + " of " + std::to_string(a) + " and " +
                   std::to_string(b) + " samples; every part must hold the same number to be split over the ranks");
}
inline std::size_t global_rows(const PairBatch& g) {
  const std::size_t n = rows_of(g.a);
  if (rows_of(g.b) != n) uneven_batch("inputs 'a' and 'b'", n, rows_of(g.b));
  if (g.labels.size() != n) uneven_batch("input 'a' and labels", n, g.labels.size());
  return n;
}
inline std::size_t global_rows(const TripletBatch& g) {
  const std::size_t n = rows_of(g.anchor);
  if (rows_of(g.positive) != n) uneven_batch("anchor and positive", n, rows_of(g.positive));
  if (rows_of(g.negative) != n) uneven_batch("anchor and negative", n, rows_of(g.negative));
  return n;
}
inline std::size_t global_rows(const LabeledBatch& g) {
  const std::size_t n = rows_of(g.x);
  if (g.labels.size() != n) uneven_batch("inputs and labels", n, g.labels.size());
  return n;
}
inline void slice(const PairBatch& g, Shard s, PairBatch& out) {
  slice_rows(g.a, s, out.a);
  slice_rows(g.b, s, out.b);
  slice_labels(g.labels, s, out.labels);
}
inline void slice(const TripletBatch& g, Shard s, TripletBatch& out) {
  slice_rows(g.anchor, s, out.anchor);
  slice_rows(g.positive, s, out.positive);
  slice_rows(g.negative, s, out.negative);
}
inline void slice(const LabeledBatch& g, Shard s, LabeledBatch& out) {
  slice_rows(g.x, s, out.x);
  slice_labels(g.labels, s, out.labels);
}

// ---- what the ranks tell each other --------------------------------------------------------------------------------
/// One rank's part of an exchange: every collective of fit that a failing rank could meet is an exchange of these,
/// so a rank whose step failed joins whichever exchange the others wait in, and all of them stop together.
struct Report {
  std::int64_t status = 0;  // 0: fine; -1: this rank failed
  std::int64_t count = 0, aux = 0, opt = 0;
  double v0 = 0, v1 = 0;
  std::uint64_t check = 0;
};

inline std::string rank_list(const std::vector<Report>& all) {
  std::string s;
  for (std::size_t r = 0; r < all.size(); ++r)
    if (all[r].status != 0) s += (s.empty() ? "" : ", ") + std::to_string(r);
  return s;
}

/// Host staging for a backend whose buffers are not host memory.
template <class B>
inline constexpr bool host_memory = std::is_same_v<typename B::Buffer, HostBuffer>;

/// The step hook fit() attaches to a model: exchanges, the bucketed gradient sums, the in-batch gather.
template <class B>
class DistributedSync final : public StepHook {
 public:
  explicit DistributedSync(Communicator& c) : comm_(c) {}
  Communicator& comm() const { return comm_; }
  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }

  /// The model's parameters (for the buckets and for naming a non-finite gradient), the bucket size, and whether
  /// training steps gather an in-batch loss's embeddings before backward.
  void configure(const std::vector<ParamInfo>& info, float* grads, std::size_t bucket_bytes, bool gathers) {
    info_ = &info;
    grads_ = grads;
    buckets_ = plan_buckets(info, bucket_bytes);
    gathers_ = gathers;
    if (!staged() && !buckets_.empty()) host_.resize(buckets_.front().hi - buckets_.back().lo);
  }
  /// Where the gradient buffer is (it could move between calls of fit).
  void set_gradients(float* grads) { grads_ = grads; }
  const std::vector<Bucket>& buckets() const { return buckets_; }

  /// Every rank's report, in rank order.
  std::vector<Report> exchange(const Report& mine, const char* what) {
    std::vector<Report> all(static_cast<std::size_t>(size()));
    guarded([&] { comm_.allgather(&mine, all.data(), std::vector<std::size_t>(all.size(), sizeof(Report)), what); });
    return all;
  }
  /// An exchange that throws DistributedError when any rank reported a failure (this rank's own failure is rethrown
  /// by its caller, so this names the others).
  std::vector<Report> checkpoint(const Report& mine, const char* what) {
    auto all = exchange(mine, what);
    for (const auto& r : all)
      if (r.status != 0) {
        done_ = true;
        throw DistributedError("distributed training, " + where_ + ": rank(s) " + rank_list(all) + " of " +
                               std::to_string(size()) + " failed (their own error says why); no rank applied the step");
      }
    return all;
  }
  /// A sum over the ranks of one value per rank (the same result on every rank: summed in rank order).
  double sum(double mine, const char* what) {
    const auto all = checkpoint(Report{.v0 = mine}, what);
    double s = 0;
    for (const auto& r : all) s += r.v0;
    return s;
  }

  /// Starts a step (or a validation batch) of `rows` of a global batch of `total`; `training`: a training step,
  /// whose gradients the ranks sum.
  void begin_step(std::size_t rows, std::size_t total, std::string where, bool training = false) {
    done_ = gathered_ = summed_ = false;
    next_ = 0;
    training_ = training;
    grad_share_ = loss_share_ = double(rows) / double(total);
    where_ = std::move(where);
  }
  /// What this rank's loss contributes to the global mean loss.
  double loss_share() const { return loss_share_; }

  /// Backward has finished the gradients from `dw` up: start the buckets that lie there, and let the started ones
  /// advance.
  void gradients_final_from(const float* dw) override {
    if (!training_ || summed_ || !grads_) return;
    const std::size_t at = std::size_t(dw - grads_);
    while (next_ < buckets_.size() && buckets_[next_].lo >= at) launch(true);
    if (next_) guarded([&] { comm_.progress(); });
  }

  void after_backward(float*, std::size_t, float* states, std::size_t ns, std::size_t) override {
    while (next_ < buckets_.size()) launch(true);
    guarded([&] { comm_.wait_sums("the gradients"); });
    summed_ = true;
    done_ = true;
    checkpoint(Report{}, "the ranks' status after backward");
    if (staged())  // the summed host copy back to the device
      B::to_device(grads_ + buckets_.back().lo, host_.data(), host_.size());
    // Rank 0's moving statistics (as DistributedDataParallel's broadcast_buffers): an average would round frozen ones.
    if (ns) broadcast(states, ns, "the states (BatchNorm's moving statistics)");
  }
  void step_failed() noexcept override {
    if (done_) return;
    done_ = true;
    try {
      // The other ranks sum every bucket of a training step that got past the gather (if any): join those sums (on
      // whatever the buffer holds; nothing is applied), then report the failure in the exchange that follows.
      if (training_ && !summed_ && (!gathers_ || gathered_)) {
        summed_ = true;
        while (next_ < buckets_.size()) launch(false);
        guarded([&] { comm_.wait_sums("the gradients of a failed step"); });
      }
      exchange(Report{.status = -1}, "a failed step");
    } catch (...) {  // the communicator is broken: the caller's own error is the one to report
    }
  }

  /// Runs a communicator call; its DistributedError gains the place in training (batch and epoch).
  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (const DistributedError& e) {
      throw DistributedError("distributed training, " + where_ + ": " + e.what());
    }
  }
  /// Broadcasts n floats in backend memory from rank 0.
  void broadcast(float* p, std::size_t n, const char* what) {
    if (!n) return;
    if constexpr (host_memory<B>) {
      guarded([&] { comm_.broadcast(p, n * sizeof(float), 0, what); });
    } else {
      bcast_.resize(n);
      if (rank() == 0) B::to_host(bcast_.data(), p, n);
      guarded([&] { comm_.broadcast(bcast_.data(), n * sizeof(float), 0, what); });
      B::to_device(p, bcast_.data(), n);
    }
  }

  /// The in-batch loss `inner` on every rank's embeddings (k = arity blocks of n rows here), gathered in rank order;
  /// writes to demb the global loss's gradient on this rank's rows. Every rank returns the global loss.
  template <class L>
  float gathered(const L& inner, const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) {
    constexpr std::size_t k = L::arity;
    const auto all = checkpoint(Report{.count = std::int64_t(n)}, "before the in-batch gather");
    const std::size_t w = std::size_t(size()), me = std::size_t(rank()), row = k * d + 1;
    std::vector<std::size_t> rows(w), first(w), bytes(w);
    std::size_t total = 0;
    for (std::size_t r = 0; r < w; ++r) {
      rows[r] = std::size_t(all[r].count);
      first[r] = total;
      total += rows[r];
      bytes[r] = rows[r] * row * sizeof(float);
    }
    // This rank's k blocks of rows and labels, then every rank's; global layout: block j holds the j-th members of
    // all ranks' rows in rank order, then the labels.
    gemb_.resize(total * row);
    if (comm_.data_on_device()) {
      dsend_.resize(n * row);
      B::copy(dsend_.data(), emb, k * n * d);
      if (labels) B::copy(dsend_.data() + k * n * d, labels, n);
      else B::fill(dsend_.data() + k * n * d, 0.0f, n);
      drecv_.resize(total * row);
      guarded([&] { comm_.allgather_data(dsend_.data(), drecv_.data(), bytes, "the embeddings of an in-batch loss"); });
      for (std::size_t r = 0; r < w; ++r) {
        const float* src = drecv_.data() + first[r] * row;
        for (std::size_t j = 0; j < k; ++j)
          B::copy(gemb_.data() + (j * total + first[r]) * d, src + j * rows[r] * d, rows[r] * d);
        B::copy(gemb_.data() + k * total * d + first[r], src + k * rows[r] * d, rows[r]);
      }
    } else {
      send_.resize(n * row);
      B::to_host(send_.data(), emb, k * n * d);
      if (labels) B::to_host(send_.data() + k * n * d, labels, n);
      else std::fill(send_.begin() + long(k * n * d), send_.end(), 0.0f);
      recv_.resize(total * row);
      guarded([&] { comm_.allgather(send_.data(), recv_.data(), bytes, "the embeddings of an in-batch loss"); });
      glob_.resize(total * row);
      for (std::size_t r = 0; r < w; ++r) {
        const float* src = recv_.data() + first[r] * row;
        for (std::size_t j = 0; j < k; ++j)
          std::copy_n(src + j * rows[r] * d, rows[r] * d, glob_.data() + (j * total + first[r]) * d);
        std::copy_n(src + k * rows[r] * d, rows[r], glob_.data() + k * total * d + first[r]);
      }
      B::to_device(gemb_.data(), glob_.data(), total * row);
    }
    gathered_ = true;  // from here on every rank sums the step's buckets, whatever fails
    if (demb) gdemb_.resize(k * total * d);
    const float l = inner.template operator()<B>(gemb_.data(), gemb_.data() + k * total * d,
                                                 demb ? gdemb_.data() : nullptr, total, d);
    if (demb)
      for (std::size_t j = 0; j < k; ++j) B::copy(demb + j * n * d, gdemb_.data() + (j * total + first[me]) * d, n * d);
    grad_share_ = 1.0;  // each rank holds the global loss's gradient on its rows: the ranks' sum is the whole
    loss_share_ = 1.0 / double(w);
    return l;
  }

 private:
  /// True when the sums run on a host copy of the gradients (a device backend, a host communicator).
  bool staged() const { return !host_memory<B> && !comm_.data_on_device(); }

  /// Starts the sum of the next bucket: `checked`, its gradients must be finite, then they are scaled by this rank's
  /// share. A bucket that fails its check stays the next one: the failed step still sums it with the others.
  void launch(bool checked) {
    const Bucket& k = buckets_[next_];
    float* p = grads_ + k.lo;
    const std::size_t n = k.hi - k.lo;
    if (checked) {
      if (!B::all_finite(p, n)) not_finite(k);
      if (grad_share_ != 1.0) B::scale(p, float(grad_share_), n);
    }
    if (staged()) {
      float* h = host_.data() + (k.lo - buckets_.back().lo);
      B::to_host(h, p, n);
      p = h;
    }
    ++next_;
    guarded([&] { comm_.start_sum(p, n, "the gradients"); });
  }
  [[noreturn]] void not_finite(const Bucket& k) const {
    std::string name = "?";
    for (const auto& t : *info_)
      if (t.trainable && t.size && t.offset >= k.lo && t.offset + t.size <= k.hi &&
          !B::all_finite(grads_ + t.offset, t.size)) {
        name = t.name;
        break;
      }
    throw NumericError("distributed training, " + where_ + ": the gradient of '" + name + "' is not finite on rank " +
                       std::to_string(rank()));
  }

  Communicator& comm_;
  const std::vector<ParamInfo>* info_ = nullptr;
  float* grads_ = nullptr;
  std::vector<Bucket> buckets_;  // from the top of the gradient buffer down
  std::size_t next_ = 0;         // buckets started this step
  bool gathers_ = false;         // training steps gather an in-batch loss's embeddings first
  bool training_ = false, gathered_ = false, summed_ = false;
  bool done_ = false;  // this step's final exchange has been joined (or a failure was exchanged)
  double grad_share_ = 1.0, loss_share_ = 1.0;
  std::string where_;
  std::vector<float> host_, bcast_, send_, recv_, glob_;
  typename B::Buffer gemb_, gdemb_, dsend_, drecv_;
};

/// An in-batch loss whose batch is every rank's: what fit() trains with in place of `L` on several ranks.
template <class L, class B>
struct GatheredLoss {
  const L* inner;
  DistributedSync<B>* sync;
  static constexpr std::size_t arity = L::arity;
  template <class B2>
  float operator()(const float* emb, const float* labels, float* demb, std::size_t n, std::size_t d) const {
    static_assert(std::is_same_v<B, B2>);
    return sync->gathered(*inner, emb, labels, demb, n, d);
  }
};

// ---- the training state sent from rank 0 ---------------------------------------------------------------------------
struct Bytes {
  std::vector<char> data;
  std::size_t at = 0;
  template <class T>
  void put(const T& v) {
    const char* p = reinterpret_cast<const char*>(&v);
    data.insert(data.end(), p, p + sizeof(T));
  }
  template <class T>
  void put(const std::vector<T>& v) {
    put(std::uint64_t(v.size()));
    const char* p = reinterpret_cast<const char*>(v.data());
    data.insert(data.end(), p, p + v.size() * sizeof(T));
  }
  template <class T>
  void get(T& v) {
    std::memcpy(&v, data.data() + at, sizeof(T));
    at += sizeof(T);
  }
  template <class T>
  void get(std::vector<T>& v) {
    std::uint64_t n = 0;
    get(n);
    v.resize(n);
    if (n) std::memcpy(v.data(), data.data() + at, n * sizeof(T));
    at += n * sizeof(T);
  }
};
inline void serialize(Bytes& b, TrainingState& s, bool out) {
  auto io = [&](auto& v) {
    if (out) b.put(v);
    else b.get(v);
  };
  io(s.epochs_done);
  io(s.learning_rate);
  io(s.loss);
  io(s.val_loss);
  io(s.lr);
  io(s.best_val);
  io(s.best_epoch);
  io(s.bad_epochs);
  io(s.best_params);
  io(s.best_states);
}

inline std::uint64_t text_hash(const std::string& s) { return crc32_of(s.data(), s.size()) | (std::uint64_t(s.size()) << 32); }

/// What fit() does differently on several ranks; with no communicator (or one of size 1) every member does what
/// fit() did alone, and nothing is attached to the model.
template <class Model>
class Distribution {
  using B = typename Model::backend_type;

 public:
  /// `in_batch`: the loss gathers every rank's embeddings (in_batch_loss); `bucket_bytes`: FitOptions::bucket_bytes.
  Distribution(Model& m, Communicator* c, bool in_batch = false, std::size_t bucket_bytes = default_bucket_bytes)
      : model_(m) {
    if (c && c->data_on_device() && host_memory<B>)
      throw std::invalid_argument(
          "fit: FitOptions::communicator sums device memory (NcclCommunicator) and the model keeps its buffers on the "
          "host; train a model on backend::Cuda with it, or use MpiCommunicator");
    if (c && c->size() > 1) {
      sync_.emplace(*c);
      sync_->configure(m.parameter_info(), m.gradients().data(), bucket_bytes, in_batch);
      m.attach_step_hook(&*sync_, std::uint64_t(c->rank()));
    }
  }
  ~Distribution() {
    if (sync_) model_.attach_step_hook(nullptr, 0);
  }
  Distribution(const Distribution&) = delete;
  Distribution& operator=(const Distribution&) = delete;

  bool active() const { return sync_.has_value(); }
  /// Rank 0, or the only process: the one that prints and writes files.
  bool primary() const { return !sync_ || sync_->rank() == 0; }

  /// Checks that the ranks agree on what they train, runs `load` (reading a checkpoint) on rank 0 alone, and sends
  /// rank 0's model, optimizer slots and training state to every rank.
  template <class Opt, class Load>
  void start(TrainingState& s, std::size_t train_batches, std::size_t validation_batches, std::size_t epochs,
             Load&& load) {
    if (!sync_) return load();
    auto& sy = *sync_;
    const std::string sig = Model::signature();
    sy.begin_step(1, 1, "at the start of fit");
    const auto all = sy.checkpoint(Report{.count = std::int64_t(train_batches),
                                          .aux = std::int64_t(sig.size()),
                                          .opt = std::int64_t(Opt::slots),
                                          .v0 = double(validation_batches),
                                          .v1 = double(epochs),
                                          .check = text_hash(sig)},
                                   "the model and data check");
    check_agreement(all, sig);
    std::optional<std::exception_ptr> failure;
    if (sy.rank() == 0) try {
        load();
      } catch (...) {
        failure = std::current_exception();
      }
    const auto loaded = sy.exchange(Report{.status = failure ? -1 : 0}, "reading the checkpoint on rank 0");
    if (failure) std::rethrow_exception(*failure);
    if (loaded[0].status != 0)
      throw DistributedError("distributed training: rank 0 could not read the checkpoint (its own error says why)");
    // Rank 0's model, optimizer and history to every rank.
    sy.broadcast(model_.parameters().data(), model_.parameters().size(), "the parameters");
    sy.broadcast(model_.states().data(), model_.states().size(), "the states");
    std::uint64_t counters[3] = {model_.step(), model_.seed(), model_.optimizer_slots_per_parameter()};
    sy.comm().broadcast(counters, sizeof counters, 0, "the optimizer step and the model's seed");
    std::vector<float> slots(counters[2] * model_.parameters().size());
    if (sy.rank() == 0) slots = model_.optimizer_slots().to_host();
    if (!slots.empty()) sy.comm().broadcast(slots.data(), slots.size() * sizeof(float), 0, "the optimizer slots");
    if (sy.rank() != 0) model_.restore_training(counters[0], counters[1], counters[2], slots);
    Bytes b;
    if (sy.rank() == 0) serialize(b, s, true);
    std::uint64_t size = b.data.size();
    sy.comm().broadcast(&size, sizeof size, 0, "the training history");
    b.data.resize(size);
    sy.comm().broadcast(b.data.data(), size, 0, "the training history");
    if (sy.rank() != 0) serialize(b, s, false);
  }

  /// This rank's shard of batch `index` of `epoch` (of the training data, or with `training` false of the validation
  /// data).
  template <class Gen, class Batch>
  void batch(const Gen& g, std::size_t epoch, std::size_t index, Batch& out, bool training = true) {
    if (!sync_) return g.batch(epoch, index, out);
    auto& sy = *sync_;
    const char* what = training ? "training batch" : "validation batch";
    sy.begin_step(1, 1, std::string(what) + " " + std::to_string(index) + " of epoch " + std::to_string(epoch + 1),
                  training);
    try {
      g.batch(epoch, index, global_);
      const std::size_t n = global_rows(global_), w = std::size_t(sy.size());
      if (n < w)
        throw ShapeError("fit: " + std::string(what) + " " + std::to_string(index) + " of epoch " +
                         std::to_string(epoch + 1) + " holds " + std::to_string(n) + " samples, fewer than the " +
                         std::to_string(w) + " ranks it is split over");
      const Shard sh = shard_rows(n, std::size_t(sy.rank()), w);
      slice(global_, sh, out);
      sy.begin_step(sh.count, n,
                    std::string(what) + " " + std::to_string(index) + " of epoch " + std::to_string(epoch + 1),
                    training);
    } catch (...) {
      sy.step_failed();
      throw;
    }
  }

  /// One training step on this rank's shard; returns its loss (the global loss for an in-batch loss).
  template <class Loss, class Opt>
  float train_step(const typename Model::batch_type& b, const Loss& loss, const Opt& opt) {
    if (!sync_) return model_.train_step(b, loss, opt);
    sync_->set_gradients(model_.gradients().data());
    float l;
    if constexpr (in_batch_loss<Loss>) l = model_.train_step(b, GatheredLoss<Loss, B>{&loss, &*sync_}, opt);
    else l = model_.train_step(b, loss, opt);
    epoch_sum_ += double(l) * sync_->loss_share();
    return l;
  }

  /// The loss of this rank's shard of a validation batch, as its contribution to the sum over batches (reduce it
  /// with total()).
  template <class Loss>
  double evaluate(const typename Model::batch_type& b, const Loss& loss) {
    if (!sync_) return model_.evaluate(b, loss);
    try {
      float l;
      if constexpr (in_batch_loss<Loss>) l = model_.evaluate(b, GatheredLoss<Loss, B>{&loss, &*sync_});
      else l = model_.evaluate(b, loss);
      return double(l) * sync_->loss_share();
    } catch (...) {
      sync_->step_failed();
      throw;
    }
  }
  /// The sum over the ranks of a value each rank holds (the same on every rank).
  double total(double mine, const char* what) {
    if (!sync_) return mine;
    sync_->begin_step(1, 1, what);
    return sync_->sum(mine, what);
  }
  /// The epoch's mean training loss: `local_sum` of the losses over `steps` alone, the ranks' global mean with several.
  double epoch_loss(double local_sum, std::size_t steps) {
    if (!sync_) return steps ? local_sum / double(steps) : 0.0;
    const double s = total(epoch_sum_, "the epoch's training loss");
    epoch_sum_ = 0;
    return steps ? s / double(steps) : 0.0;
  }

  /// The end of an epoch: `write` (the checkpoint) runs on rank 0 alone; then the ranks check that it succeeded and
  /// that their parameters are still equal.
  template <class Write>
  void end_epoch(std::size_t epoch, Write&& write) {
    if (!sync_) return write();
    auto& sy = *sync_;
    std::optional<std::exception_ptr> failure;
    if (sy.rank() == 0) try {
        write();
      } catch (...) {
        failure = std::current_exception();
      }
    const auto params = model_.parameters().to_host();
    const std::uint64_t crc = crc32_of(params.data(), params.size() * sizeof(float));
    sy.begin_step(1, 1, "the end of epoch " + std::to_string(epoch + 1));
    const auto all = sy.exchange(Report{.status = failure ? -1 : 0, .check = crc}, "the end of an epoch");
    if (failure) std::rethrow_exception(*failure);
    if (all[0].status != 0)
      throw DistributedError("distributed training: rank 0 failed at the end of epoch " + std::to_string(epoch + 1) +
                             " (writing the checkpoint; its own error says why)");
    for (std::size_t r = 1; r < all.size(); ++r)
      if (all[r].check != all[0].check)
        throw DistributedError("distributed training: after epoch " + std::to_string(epoch + 1) + " the parameters of rank " +
                               std::to_string(r) + " differ from rank 0's (checksums " + std::to_string(all[r].check) +
                               " and " + std::to_string(all[0].check) + ")");
  }

 private:
  void check_agreement(const std::vector<Report>& all, const std::string& sig) {
    auto& sy = *sync_;
    bool same_model = true;
    for (const auto& r : all) same_model = same_model && r.check == all[0].check;
    if (!same_model) {
      std::vector<std::size_t> counts(all.size());
      std::size_t total = 0;
      for (std::size_t r = 0; r < all.size(); ++r) total += counts[r] = std::size_t(all[r].aux);
      std::string text(total, '\0');
      sy.comm().allgather(sig.data(), text.data(), counts, "the model signatures");
      std::string msg = "distributed training: the ranks train different models:";
      std::size_t at = 0;
      for (std::size_t r = 0; r < all.size(); ++r) {
        msg += "\n  rank " + std::to_string(r) + ": " + text.substr(at, counts[r]);
        at += counts[r];
      }
      throw DistributedError(msg);
    }
    auto differ = [&](const char* what, auto field) {
      for (std::size_t r = 1; r < all.size(); ++r)
        if (field(all[r]) != field(all[0]))
          throw DistributedError("distributed training: the ranks disagree on " + std::string(what) + ": rank 0 has " +
                                 std::to_string(field(all[0])) + ", rank " + std::to_string(r) + " has " +
                                 std::to_string(field(all[r])));
    };
    differ("the number of training batches per epoch", [](const Report& r) { return r.count; });
    differ("the number of validation batches", [](const Report& r) { return std::int64_t(r.v0); });
    differ("the number of epochs", [](const Report& r) { return std::int64_t(r.v1); });
    differ("the optimizer's slots per parameter", [](const Report& r) { return r.opt; });
  }

  Model& model_;
  std::optional<DistributedSync<B>> sync_;
  typename Model::batch_type global_;
  double epoch_sum_ = 0;
};

}  // namespace detail
}  // namespace siamese
