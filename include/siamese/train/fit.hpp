#pragma once
// fit(): trains a model from a batch generator: progress bar, validation each epoch, learning-rate
// schedule, early stopping, an atomic checkpoint each epoch and exact resume from it.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

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

/// What fit() reports, per epoch: training loss, validation loss (when there is validation data),
/// learning rate; where early stopping stopped, and whether training resumed from a checkpoint.
struct History {
  std::vector<double> loss, val_loss, lr;
  std::size_t best_epoch = 0;       // 0-based epoch of the lowest validation loss
  bool stopped_early = false;
  std::size_t resumed_at = 0;       // epochs already done when fit() started (from a checkpoint)
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
  /// Data-parallel training over the communicator's ranks (MpiCommunicator, train/mpi.hpp): each rank trains on its
  /// shard of every batch and the gradients are averaged (train/distributed.hpp says what else changes). Null: one
  /// process, exactly as without it.
  Communicator* communicator = nullptr;
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

template <class Model, class Loss, class Opt, class Gen, class Val>
History fit_checked(Model& model, const Loss& loss, Opt& optimizer, const Gen& train, const Val& validation,
                    const FitOptions& o) {
  if (train.size() == 0)
    throw std::invalid_argument("fit: the training generator has no batches (size() is 0); check that the data "
                                "loaded and that the batch size is not larger than the data");
  TrainingState s;
  s.learning_rate = optimizer.learning_rate;
  s.best_val = std::numeric_limits<double>::infinity();
  History h;
  Distribution<Model> dist(model, o.communicator);  // several ranks: rank 0 reads the checkpoint and sends its model
  const bool talk = o.progress && dist.primary();
  dist.template start<Opt>(s, train.size(), validation.size(), o.epochs, [&] {
    if (!o.checkpoint.empty() && o.resume && std::filesystem::exists(o.checkpoint)) {
      s = load_checkpoint(model, o.checkpoint);
      if (talk) std::fprintf(o.out, "resuming from '%s' after epoch %zu\n", o.checkpoint.c_str(), s.epochs_done);
    }
  });
  h.resumed_at = s.epochs_done;
  const float base_lr = s.learning_rate;
  Progress bar(o.out, talk);
  typename Model::batch_type batch;
  const std::size_t steps = train.size();
  const bool early = o.patience > 0 && validation.size() > 0;
  for (std::size_t e = s.epochs_done; e < o.epochs; ++e) {
    optimizer.learning_rate = o.schedule ? o.schedule(e, base_lr) : base_lr;
    bar.start_epoch(e, o.epochs, steps);
    double sum = 0;
    for (std::size_t i = 0; i < steps; ++i) {
      dist.batch(train, e, i, batch);  // several ranks: this rank's shard of the batch
      const float epoch_lr = optimizer.learning_rate;
      if (o.step_schedule) optimizer.learning_rate = o.step_schedule(model.step(), epoch_lr);
      sum += dist.train_step(batch, loss, optimizer);
      optimizer.learning_rate = epoch_lr;
      bar.update(i + 1, sum / double(i + 1));
    }
    s.loss.push_back(float(dist.epoch_loss(sum, steps)));
    s.lr.push_back(optimizer.learning_rate);
    std::string extra;
    if (validation.size() > 0) {
      double vs = 0;
      for (std::size_t i = 0; i < validation.size(); ++i) {
        dist.batch(validation, 0, i, batch, "validation batch");
        vs += dist.evaluate(batch, loss);
      }
      const double v = float(dist.total(vs, "the validation loss") / double(validation.size()));
      s.val_loss.push_back(v);
      char buf[64];
      std::snprintf(buf, sizeof buf, ", val_loss %.4f", v);
      extra = buf;
      if (v < s.best_val) {
        s.best_val = v;
        s.best_epoch = e;
        s.bad_epochs = 0;
        if (early && o.restore_best) {
          s.best_params = model.parameters().to_host();
          s.best_states = model.states().to_host();
        }
      } else {
        ++s.bad_epochs;
      }
    }
    s.epochs_done = e + 1;
    s.learning_rate = base_lr;
    bar.end_epoch(s.loss.back(), extra);
    dist.end_epoch(e, [&] {  // several ranks: rank 0 writes
      if (!o.checkpoint.empty()) save_checkpoint(model, s, o.checkpoint);
    });
    if (early && s.bad_epochs >= o.patience) {
      h.stopped_early = true;
      if (talk) std::fprintf(o.out, "early stop: no better val_loss for %zu epochs (best: epoch %zu)\n",
                                   o.patience, s.best_epoch + 1);
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
