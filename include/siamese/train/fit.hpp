#pragma once
// fit(): trains a model from a batch generator: progress bar, validation each epoch, learning-rate
// schedule, early stopping, an atomic checkpoint each epoch and exact resume from it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/batches.hpp"
#include "../eval/metrics.hpp"
#include "../eval/retrieval.hpp"
#include "checkpoint.hpp"
#include "distributed.hpp"
#include "progress.hpp"

namespace siamese {

/// A source of batches: `size()` batches per epoch, and `batch(epoch, index, out)` filling batch
/// `index` of `epoch`. Being a pure function of (epoch, index) makes runs reproducible and resumable.
template <class G, class Batch>
concept BatchGenerator = requires(const G g, Batch& b, std::size_t i) {
  { g.size() } -> std::convertible_to<std::size_t>;
  g.batch(i, i, b);
};

/// What fit() reports, per epoch: training loss, validation loss (when there is validation data), validation
/// metrics, learning rate, and where the time went; where early stopping stopped, and whether training resumed from
/// a checkpoint. `history` holds every per-epoch series under its Keras name, as Keras' History.history does:
/// "loss", "val_loss", "val_auc", "val_accuracy", "val_precision_at_1", "val_map_at_r", "lr".
struct History {
  std::vector<double> loss, val_loss, lr;
  std::vector<std::pair<std::string, std::vector<double>>> history;
  std::vector<double> data_seconds, compute_seconds;  // per epoch: waiting for batches, training steps (this run)
  std::string monitor = "val_loss";
  std::size_t best_epoch = 0;       // 0-based epoch of the best monitored value
  double best = 0;                  // that value
  bool stopped_early = false;
  bool stopped_by_callback = false;
  std::size_t resumed_at = 0;       // epochs already done when fit() started (from a checkpoint)
  /// The series called `name` ("val_auc", ...); throws std::invalid_argument listing those there are.
  const std::vector<double>& operator[](std::string_view name) const {
    std::string known;
    for (const auto& [k, v] : history) {
      if (k == name) return v;
      known += (known.empty() ? "" : ", ") + k;
    }
    throw std::invalid_argument("History: no series '" + std::string(name) + "' (there are: " + known + ")");
  }
};

/// Named values a callback receives: at the end of a batch "loss" (the batch's) and "mean_loss" (the epoch's so
/// far); at the end of an epoch "loss", "lr", "data_seconds", "compute_seconds" and, with validation data,
/// "val_loss" and the validation metrics.
struct Logs {
  std::vector<std::pair<std::string, double>> values;
  bool has(std::string_view name) const {
    for (const auto& [k, v] : values)
      if (k == name) return true;
    return false;
  }
  double operator[](std::string_view name) const {
    for (const auto& [k, v] : values)
      if (k == name) return v;
    throw std::invalid_argument("Logs: no value '" + std::string(name) + "'");
  }
};

/// What a callback may do to the training run: stop it (after the current batch or epoch, as setting Keras'
/// model.stop_training does) or save the model's weights now.
class FitControl {
 public:
  explicit FitControl(std::function<void(const std::filesystem::path&)> save) : save_(std::move(save)) {}
  void stop_training() { stop_ = true; }
  bool stopping() const { return stop_; }
  /// save_weights(model, path) on the model being trained.
  void save_weights(const std::filesystem::path& path) const { save_(path); }

 private:
  std::function<void(const std::filesystem::path&)> save_;
  bool stop_ = false;
};

/// A callback, as Keras' keras.callbacks.Callback: override what you need. `epoch` and `batch` are 0-based.
/// A stop asked at the end of a batch ends training there: that epoch is neither validated nor checkpointed, so a
/// resumed run repeats it from its start.
struct Callback {
  virtual ~Callback() = default;
  virtual void on_epoch_end(std::size_t /*epoch*/, const Logs& /*logs*/, FitControl& /*fit*/) {}
  virtual void on_batch_end(std::size_t /*batch*/, const Logs& /*logs*/, FitControl& /*fit*/) {}
};
/// A callback made of functions, as Keras' LambdaCallback.
struct LambdaCallback : Callback {
  std::function<void(std::size_t, const Logs&, FitControl&)> epoch_end, batch_end;
  void on_epoch_end(std::size_t e, const Logs& l, FitControl& f) override {
    if (epoch_end) epoch_end(e, l, f);
  }
  void on_batch_end(std::size_t b, const Logs& l, FitControl& f) override {
    if (batch_end) batch_end(b, l, f);
  }
};

/// Learning rate of epoch e: lr * factor^(e / every).
struct StepDecay {
  float factor = 0.5f;
  std::size_t every = 10;
  float operator()(std::size_t epoch, float lr) const { return lr * std::pow(factor, float(epoch / every)); }
};
/// Cosine decay from lr to lr * floor over `epochs` epochs.
struct CosineDecay {
  std::size_t epochs = 10;
  float floor = 0.0f;
  float operator()(std::size_t epoch, float lr) const {
    const double t = std::min(1.0, double(epoch) / double(std::max<std::size_t>(epochs, 1)));
    return float(lr * (floor + (1 - floor) * 0.5 * (1 + std::cos(3.14159265358979 * t))));
  }
};

/// Settings of fit() beyond the loss, optimizer and data.
struct FitOptions {
  std::size_t epochs = 1;
  bool progress = true;                    // progress bar on a terminal, a line per epoch otherwise
  std::FILE* out = stderr;
  std::filesystem::path checkpoint;        // written after every epoch when not empty
  bool resume = true;                      // continue from `checkpoint` when it exists
  std::size_t patience = 0;                // early stopping: epochs without a better validation loss (0: off)
  bool restore_best = true;                // with early stopping: end with the best epoch's weights
  std::function<float(std::size_t, float)> schedule;  // (epoch, base lr) -> lr of that epoch
  /// (step, lr) -> lr of that optimizer step, after `schedule`: warm-up and decay by step, as transformers are
  /// fine-tuned (LinearWarmupDecay). `step` counts the model's optimizer steps, so a resumed run continues it.
  std::function<float(std::size_t, float)> step_schedule;
  /// Validation metrics computed after every epoch on the whole validation set, printed on the epoch line and kept
  /// in History as "val_<name>":
  ///   "auc"             ROC AUC of the pair scores (Siamese: the match probability; Triplet: anchor-positive
  ///                     against anchor-negative similarity under `distance`)
  ///   "accuracy"        accuracy of those scores at the threshold calibrated on the same pairs (calibrate_threshold)
  ///   "precision_at_1", "map_at_r"  (Embedder) each validation sample queries the others (leave-one-out)
  std::vector<std::string> metrics;
  Distance distance = Distance::SquaredEuclidean;  // how Triplet and Embedder metrics compare embeddings
  /// What early stopping, restore_best and best_weights follow: "loss", "val_loss" or "val_<metric>".
  std::string monitor = "val_loss";
  enum class Mode { Auto, Min, Max } mode = Mode::Auto;  // Auto: min for losses, max for the metrics
  double min_delta = 0;                    // an improvement smaller than this does not count (Keras' min_delta)
  std::filesystem::path best_weights;      // save_weights of the best epoch so far when not empty (save_best_only)
  std::vector<Callback*> callbacks;        // not owned; called in order (on every rank: decide alike on each)
  /// Data-parallel training over the communicator's ranks (MpiCommunicator, train/mpi.hpp): each rank trains on its
  /// shard of every batch and the gradients are averaged (train/distributed.hpp says what else changes). Null: one
  /// process, exactly as without it.
  Communicator* communicator = nullptr;
  /// With a communicator: the gradients are summed in buckets of about this many bytes (whole tensors), each started
  /// as soon as backward has finished its layers, so that communication overlaps the rest of backward. 0: one sum of
  /// the whole gradient after backward.
  std::size_t bucket_bytes = default_bucket_bytes;
};

/// A learning rate that rises linearly from 0 over `warmup` steps, then falls linearly to 0 at step `total`
/// (Hugging Face's get_linear_schedule_with_warmup, which sentence-transformers uses by default).
struct LinearWarmupDecay {
  std::size_t warmup = 0, total = 1;
  float operator()(std::size_t step, float lr) const {
    if (step < warmup) return lr * float(step + 1) / float(warmup);
    if (step >= total) return 0.0f;
    return lr * float(total - step) / float(total - std::min(warmup, total - 1));
  }
};

namespace detail {
struct NoValidation {
  std::size_t size() const { return 0; }
  template <class Batch>
  void batch(std::size_t, std::size_t, Batch&) const {}
};

inline bool pair_metric(std::string_view m) { return m == "auc" || m == "accuracy"; }
inline bool retrieval_metric(std::string_view m) { return m == "precision_at_1" || m == "map_at_r"; }

/// Checks the metric names and the monitor before anything trains; errors name what is wrong and what is possible.
template <class Batch>
void check_fit_options(const FitOptions& o, bool has_validation) {
  constexpr bool labeled = std::is_same_v<Batch, LabeledBatch>;
  const char* known = labeled ? "precision_at_1, map_at_r (an Embedder's metrics)"
                              : "auc, accuracy (pair metrics, for Siamese and Triplet models)";
  for (const auto& m : o.metrics)
    if (labeled ? !retrieval_metric(m) : !pair_metric(m))
      throw std::invalid_argument("fit: FitOptions::metrics: '" + m + "' is not a metric of this model; it takes " +
                                  known);
  if (!o.metrics.empty() && !has_validation)
    throw std::invalid_argument("fit: FitOptions::metrics are computed on validation data, and fit() was given none");
  // "val_loss" without validation data follows nothing, as before monitors existed (fit() on training data alone).
  bool ok = o.monitor == "loss" || o.monitor == "val_loss";
  for (const auto& m : o.metrics) ok = ok || o.monitor == "val_" + m;
  if (!ok) {
    std::string can = "loss, val_loss";
    for (const auto& m : o.metrics) can += ", val_" + m;
    throw std::invalid_argument("fit: FitOptions::monitor is '" + o.monitor + "', which this run does not compute (" +
                                (has_validation ? "" : "no validation data; ") + "it can monitor: " + can +
                                "; a metric must also be listed in FitOptions::metrics)");
  }
}

/// Similarity of two embeddings under a distance: larger is more alike (AUC needs only the order).
inline double similarity(const float* a, const float* b, std::size_t d, Distance dist) {
  double ab = 0, aa = 0, bb = 0, sq = 0;
  for (std::size_t k = 0; k < d; ++k) {
    ab += double(a[k]) * b[k], aa += double(a[k]) * a[k], bb += double(b[k]) * b[k];
    sq += (double(a[k]) - b[k]) * (double(a[k]) - b[k]);
  }
  if (dist == Distance::Cosine) return ab / std::sqrt(std::max(aa * bb, 1e-30));
  return dist == Distance::Euclidean ? -std::sqrt(sq) : -sq;
}

/// The validation metrics of `model` over the whole of `validation`, in inference mode.
template <class Model, class Val>
std::vector<std::pair<std::string, double>> validation_metrics(Model& model, const Val& validation,
                                                               const FitOptions& o) {
  using Batch = typename Model::batch_type;
  std::vector<std::pair<std::string, double>> out;
  if (o.metrics.empty() || validation.size() == 0) return out;
  Batch b;
  if constexpr (std::is_same_v<Batch, LabeledBatch>) {
    constexpr std::size_t D = Model::embedding_width;
    std::vector<float> emb;
    std::vector<int> labels;
    for (std::size_t i = 0; i < validation.size(); ++i) {
      validation.batch(0, i, b);
      const Tensor e = model.embed(b.x);
      emb.insert(emb.end(), e.begin(), e.end());
      for (float l : b.labels) labels.push_back(int(l));
    }
    EmbeddingIndex index(D, o.distance);
    index.add(emb, labels);
    RetrievalOptions ro;
    ro.ks = {1};
    ro.queries_in_database = true;
    const RetrievalMetrics r = retrieval_metrics(index, emb, labels, ro);
    for (const auto& m : o.metrics) out.emplace_back("val_" + m, m == "precision_at_1" ? r.precision_at_1 : r.map_at_r);
  } else {
    std::vector<float> scores, labels;
    for (std::size_t i = 0; i < validation.size(); ++i) {
      validation.batch(0, i, b);
      if constexpr (std::is_same_v<Batch, PairBatch>) {
        const Tensor p = model.predict(b.a, b.b);
        scores.insert(scores.end(), p.begin(), p.end());
        labels.insert(labels.end(), b.labels.begin(), b.labels.end());
      } else {
        constexpr std::size_t D = Model::embedding_width;
        const Tensor ea = model.embed(b.anchor), ep = model.embed(b.positive), en = model.embed(b.negative);
        for (std::size_t r = 0; r < ea.dim(0); ++r) {
          scores.push_back(float(similarity(ea.data() + r * D, ep.data() + r * D, D, o.distance)));
          labels.push_back(1.0f);
          scores.push_back(float(similarity(ea.data() + r * D, en.data() + r * D, D, o.distance)));
          labels.push_back(0.0f);
        }
      }
    }
    for (const auto& m : o.metrics)
      out.emplace_back("val_" + m, m == "auc" ? roc_auc(scores, labels) : calibrate_threshold(scores, labels).accuracy);
  }
  return out;
}

inline std::vector<double>& series(std::vector<std::pair<std::string, std::vector<double>>>& all,
                                   const std::string& name) {
  for (auto& [k, v] : all)
    if (k == name) return v;
  return all.emplace_back(name, std::vector<double>{}).second;
}

template <class Model, class Loss, class Opt, class Gen, class Val>
History fit_checked(Model& model, const Loss& loss, Opt& optimizer, const Gen& train, const Val& validation,
                    const FitOptions& o) {
  using clock = std::chrono::steady_clock;
  if (train.size() == 0)
    throw std::invalid_argument("fit: the training generator has no batches (size() is 0); check that the data "
                                "loaded and that the batch size is not larger than the data");
  const bool has_val = validation.size() > 0;
  check_fit_options<typename Model::batch_type>(o, has_val);
  const bool maximise =
      o.mode == FitOptions::Mode::Max ||
      (o.mode == FitOptions::Mode::Auto && !(o.monitor.size() >= 4 && o.monitor.substr(o.monitor.size() - 4) == "loss"));
  TrainingState s;
  s.learning_rate = optimizer.learning_rate;
  s.best_val = maximise ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  s.monitor = o.monitor;
  History h;
  // Several ranks: rank 0 reads the checkpoint and sends its model; the gradients are summed in buckets.
  Distribution<Model> dist(model, o.communicator, in_batch_loss<Loss>, o.bucket_bytes);
  const bool talk = o.progress && dist.primary();
  dist.template start<Opt>(s, train.size(), validation.size(), o.epochs, [&] {
    if (!o.checkpoint.empty() && o.resume && std::filesystem::exists(o.checkpoint)) {
      s = load_checkpoint(model, o.checkpoint);
      if (s.monitor != o.monitor)
        throw std::invalid_argument("fit: the checkpoint '" + o.checkpoint.string() + "' follows '" + s.monitor +
                                    "' and fit() was asked to monitor '" + o.monitor +
                                    "'; monitor the same, or start over without the checkpoint");
      if (talk) std::fprintf(o.out, "resuming from '%s' after epoch %zu\n", o.checkpoint.c_str(), s.epochs_done);
    }
  });
  h.resumed_at = s.epochs_done;
  const float base_lr = s.learning_rate;
  Progress bar(o.out, talk);
  typename Model::batch_type batch;
  const std::size_t steps = train.size();
  const bool early = o.patience > 0 && (has_val || o.monitor == "loss");
  const bool track = has_val || o.monitor == "loss";
  FitControl control([&](const std::filesystem::path& p) { save_weights(model, p); });
  Logs logs;
  for (std::size_t e = s.epochs_done; e < o.epochs; ++e) {
    optimizer.learning_rate = o.schedule ? o.schedule(e, base_lr) : base_lr;
    bar.start_epoch(e, o.epochs, steps);
    double sum = 0, data_secs = 0, compute_secs = 0;
    for (std::size_t i = 0; i < steps; ++i) {
      const auto t0 = clock::now();
      dist.batch(train, e, i, batch);  // several ranks: this rank's shard of the batch
      const auto t1 = clock::now();
      const float epoch_lr = optimizer.learning_rate;
      if (o.step_schedule) optimizer.learning_rate = o.step_schedule(model.step(), epoch_lr);
      const float l = dist.train_step(batch, loss, optimizer);
      sum += l;
      optimizer.learning_rate = epoch_lr;
      data_secs += std::chrono::duration<double>(t1 - t0).count();
      compute_secs += std::chrono::duration<double>(clock::now() - t1).count();
      bar.update(i + 1, sum / double(i + 1));
      if (!o.callbacks.empty()) {
        logs.values = {{"loss", double(l)}, {"mean_loss", sum / double(i + 1)}};
        for (Callback* c : o.callbacks) c->on_batch_end(i, logs, control);
        if (control.stopping()) break;
      }
    }
    if (control.stopping()) {
      h.stopped_by_callback = true;
      if (talk) std::fprintf(o.out, "stopped by a callback in epoch %zu\n", e + 1);
      break;
    }
    h.data_seconds.push_back(data_secs);
    h.compute_seconds.push_back(compute_secs);
    s.loss.push_back(float(dist.epoch_loss(sum, steps)));
    s.lr.push_back(optimizer.learning_rate);
    logs.values = {{"loss", s.loss.back()}};
    std::string extra;
    char buf[96];
    if (has_val) {
      double vs = 0;
      for (std::size_t i = 0; i < validation.size(); ++i) {
        dist.batch(validation, 0, i, batch, false);
        vs += dist.evaluate(batch, loss);
      }
      const double v = float(dist.total(vs, "the validation loss") / double(validation.size()));
      s.val_loss.push_back(v);
      logs.values.emplace_back("val_loss", v);
      std::snprintf(buf, sizeof buf, ", val_loss %.4f", v);
      extra = buf;
      for (const auto& [name, value] : validation_metrics(model, validation, o)) {
        series(s.metrics, name).push_back(value);
        logs.values.emplace_back(name, value);
        std::snprintf(buf, sizeof buf, ", %s %.4f", name.c_str(), value);
        extra += buf;
      }
    }
    logs.values.emplace_back("lr", optimizer.learning_rate);
    logs.values.emplace_back("data_seconds", data_secs);
    logs.values.emplace_back("compute_seconds", compute_secs);
    if (track) {
      const double v = logs[o.monitor];
      if (maximise ? v > s.best_val + o.min_delta : v < s.best_val - o.min_delta) {
        s.best_val = v;
        s.best_epoch = e;
        s.bad_epochs = 0;
        if (early && o.restore_best) {
          s.best_params = model.parameters().to_host();
          s.best_states = model.states().to_host();
        }
        if (!o.best_weights.empty() && dist.primary()) save_weights(model, o.best_weights);  // rank 0 writes
      } else {
        ++s.bad_epochs;
      }
    }
    s.epochs_done = e + 1;
    s.learning_rate = base_lr;
    std::snprintf(buf, sizeof buf, "; data %.1fs, compute %.1fs", data_secs, compute_secs);
    bar.end_epoch(s.loss.back(), extra, buf);
    dist.end_epoch(e, [&] {  // several ranks: rank 0 writes
      if (!o.checkpoint.empty()) save_checkpoint(model, s, o.checkpoint);
    });
    for (Callback* c : o.callbacks) c->on_epoch_end(e, logs, control);
    if (control.stopping()) {
      h.stopped_by_callback = true;
      if (talk) std::fprintf(o.out, "stopped by a callback after epoch %zu\n", e + 1);
      break;
    }
    if (early && s.bad_epochs >= o.patience) {
      h.stopped_early = true;
      if (talk) std::fprintf(o.out, "early stop: no better %s for %zu epochs (best: epoch %zu, %.4f)\n",
                             o.monitor.c_str(), o.patience, s.best_epoch + 1, s.best_val);
      break;
    }
  }
  if (early && o.restore_best && !s.best_params.empty()) {
    model.parameters().from_host(s.best_params);
    if (!s.best_states.empty()) model.states().from_host(s.best_states);
  }
  optimizer.learning_rate = base_lr;
  h.loss = s.loss;
  h.val_loss = s.val_loss;
  h.lr = s.lr;
  h.best_epoch = s.best_epoch;
  h.best = s.best_val;
  h.monitor = o.monitor;
  h.history.emplace_back("loss", s.loss);
  if (!s.val_loss.empty()) h.history.emplace_back("val_loss", s.val_loss);
  for (const auto& m : s.metrics) h.history.push_back(m);
  h.history.emplace_back("lr", s.lr);
  return h;
}
}  // namespace detail

/// Trains `model` on `train`, evaluating `validation` after each epoch (its mean loss in inference
/// mode). See FitOptions for checkpoints, resume, schedule and early stopping.
template <class Model, class Loss, class Opt, class Gen, class Val>
History fit(Model& model, const Loss& loss, Opt& optimizer, const Gen& train, const Val& validation,
            const FitOptions& o) {
  static_assert(BatchGenerator<Gen, typename Model::batch_type>,
                "fit: the training data is not a batch generator of the model's batch type: it needs size() "
                "(batches per epoch) and batch(epoch, index, batch&) filling a PairBatch, TripletBatch or LabeledBatch");
  static_assert(BatchGenerator<Val, typename Model::batch_type>,
                "fit: the validation data is not a batch generator of the model's batch type: it needs size() and "
                "batch(epoch, index, batch&)");
  if constexpr (BatchGenerator<Gen, typename Model::batch_type> && BatchGenerator<Val, typename Model::batch_type>)
    return detail::fit_checked(model, loss, optimizer, train, validation, o);
  else
    return {};
}

/// fit() without validation data.
template <class Model, class Loss, class Opt, class Gen>
History fit(Model& model, const Loss& loss, Opt& optimizer, const Gen& train, const FitOptions& o = {}) {
  return fit(model, loss, optimizer, train, detail::NoValidation{}, o);
}

/// fit() with the number of epochs as an argument, as Keras' model.fit(data, epochs=...).
template <class Model, class Loss, class Opt, class Gen>
History fit(Model& model, const Loss& loss, Opt& optimizer, const Gen& train, std::size_t epochs) {
  FitOptions o;
  o.epochs = epochs;
  return fit(model, loss, optimizer, train, detail::NoValidation{}, o);
}

}  // namespace siamese
