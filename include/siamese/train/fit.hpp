#pragma once
// fit(): trains a model from a batch generator for a number of epochs, with a progress bar.
#include <concepts>
#include <cstdio>
#include <vector>

#include "progress.hpp"

namespace siamese {

/// A source of training batches: `size()` batches per epoch, and `batch(epoch, index, out)` filling
/// batch number `index` of `epoch`. Being a function of (epoch, index) makes a run reproducible.
template <class G, class Batch>
concept BatchGenerator = requires(G g, Batch& b, std::size_t i) {
  { g.size() } -> std::convertible_to<std::size_t>;
  g.batch(i, i, b);
};

/// What fit() reports: the mean training loss of each epoch.
struct History {
  std::vector<double> loss;
};

/// Settings of fit() beyond the loss, optimizer and data.
struct FitOptions {
  std::size_t epochs = 1;
  bool progress = true;        // progress bar / per-epoch lines on `out`
  std::FILE* out = stderr;
};

/// Trains `model` with `loss` and `optimizer` on the batches of `data` for `options.epochs` epochs.
template <class Model, class Loss, class Opt, class Gen>
  requires BatchGenerator<Gen, typename Model::batch_type>
History fit(Model& model, const Loss& loss, Opt& optimizer, Gen& data, FitOptions options = {}) {
  History h;
  Progress bar(options.out, options.progress);
  typename Model::batch_type batch;
  const std::size_t steps = data.size();
  for (std::size_t e = 0; e < options.epochs; ++e) {
    bar.start_epoch(e, options.epochs, steps);
    double sum = 0;
    for (std::size_t i = 0; i < steps; ++i) {
      data.batch(e, i, batch);
      sum += model.train_step(batch, loss, optimizer);
      bar.update(i + 1, sum / double(i + 1));
    }
    h.loss.push_back(steps ? sum / double(steps) : 0.0);
    bar.end_epoch(h.loss.back());
  }
  return h;
}

/// fit() with the number of epochs as an argument, as Keras' model.fit(data, epochs=...).
template <class Model, class Loss, class Opt, class Gen>
  requires BatchGenerator<Gen, typename Model::batch_type>
History fit(Model& model, const Loss& loss, Opt& optimizer, Gen& data, std::size_t epochs) {
  FitOptions o;
  o.epochs = epochs;
  return fit(model, loss, optimizer, data, o);
}

}  // namespace siamese
