#pragma once
// Checkpoints: everything needed to continue training exactly where it stopped (parameters, states,
// optimizer slots and step, the model's seed, the epoch and the history), written atomically.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../io/weights.hpp"

namespace siamese {

/// What fit() keeps beside the model in a checkpoint.
struct TrainingState {
  std::size_t epochs_done = 0;
  float learning_rate = 0;
  std::vector<double> loss, val_loss, lr;
  double best_val = 0;
  std::size_t best_epoch = 0, bad_epochs = 0;
  std::vector<float> best_params, best_states;  // kept only with early stopping and restore_best
  /// Validation metrics per epoch ("val_auc", ...), and the quantity best_val, best_epoch and bad_epochs follow.
  std::vector<std::pair<std::string, std::vector<double>>> metrics;
  std::string monitor = "val_loss";
};

namespace detail {
inline NamedTensor scalar_tensor(const std::string& name, const std::vector<double>& v) {
  NamedTensor t{name, {std::uint64_t(v.size())}, std::vector<float>(v.size())};
  for (std::size_t i = 0; i < v.size(); ++i) t.data[i] = float(v[i]);
  return t;
}
// Counters are stored as pairs of floats holding 24-bit halves: exact up to 2^48.
inline NamedTensor counter_tensor(const std::string& name, std::uint64_t v) {
  return {name, {2}, {float(v & 0xFFFFFF), float(v >> 24)}};
}
inline std::uint64_t read_counter(const WeightFile& f, const std::string& name, const std::string& file) {
  const NamedTensor* t = f.find(name);
  if (!t || t->data.size() != 2) throw FileError("'" + file + "': checkpoint lacks '" + name + "'");
  for (float h : t->data)  // converting a negative, fractional or non-finite float to an integer is undefined
    if (!(h >= 0.0f && h < 16777216.0f) || h != float(std::uint32_t(h)))
      throw FileError("'" + file + "': checkpoint counter '" + name + "' is damaged");
  return std::uint64_t(t->data[0]) | (std::uint64_t(t->data[1]) << 24);
}
}  // namespace detail

/// Writes model, optimizer slots and training state to `path` atomically (temporary file + rename):
/// an interrupted write leaves the previous checkpoint intact.
template <class Model>
void save_checkpoint(const Model& m, const TrainingState& s, const std::filesystem::path& path) {
  WeightFile f = detail::model_file(m, "checkpoint");
  const auto slots = m.optimizer_slots();
  f.tensors.push_back({"optimizer:slots", {std::uint64_t(slots.size())}, slots.to_host()});
  f.tensors.push_back(detail::counter_tensor("optimizer:step", m.step()));
  f.tensors.push_back(detail::counter_tensor("optimizer:slots_per_param", m.optimizer_slots_per_parameter()));
  f.tensors.push_back(detail::counter_tensor("model:seed_lo", m.seed() & 0xFFFFFFFFFFFFull));
  f.tensors.push_back(detail::counter_tensor("model:seed_hi", m.seed() >> 48));
  f.tensors.push_back(detail::counter_tensor("fit:epochs_done", s.epochs_done));
  f.tensors.push_back(detail::counter_tensor("fit:best_epoch", s.best_epoch));
  f.tensors.push_back(detail::counter_tensor("fit:bad_epochs", s.bad_epochs));
  f.tensors.push_back({"fit:learning_rate", {1}, {s.learning_rate}});
  f.tensors.push_back(detail::scalar_tensor("fit:loss", s.loss));
  f.tensors.push_back(detail::scalar_tensor("fit:val_loss", s.val_loss));
  f.tensors.push_back(detail::scalar_tensor("fit:lr", s.lr));
  f.tensors.push_back(detail::scalar_tensor("fit:best_val", {s.best_val}));
  f.tensors.push_back({"fit:best_params", {std::uint64_t(s.best_params.size())}, s.best_params});
  f.tensors.push_back({"fit:best_states", {std::uint64_t(s.best_states.size())}, s.best_states});
  for (const auto& [name, values] : s.metrics) f.tensors.push_back(detail::scalar_tensor("fit:metric:" + name, values));
  f.tensors.push_back({"fit:monitor:" + s.monitor, {1}, {0.0f}});
  write_weight_file(path, f);
}

/// Restores what save_checkpoint wrote, into a model of the same type. Throws FileError (naming the
/// file and the problem) on a damaged file or one of another model; the model is unchanged then.
template <class Model>
TrainingState load_checkpoint(Model& m, const std::filesystem::path& path) {
  const std::string file = path.string();
  const WeightFile f = read_weight_file(path);
  if (f.kind != "checkpoint") throw FileError("'" + file + "': not a checkpoint (a '" + f.kind + "' file)");
  detail::check_loss_parameters(f, m.parameter_info(), file);  // before the slots' size, which they change
  auto need = [&](const char* name) -> const NamedTensor& {
    const NamedTensor* t = f.find(name);
    if (!t) throw FileError("'" + file + "': checkpoint lacks '" + name + "'");
    return *t;
  };
  auto scalar = [&](const char* name) {
    const NamedTensor& t = need(name);
    if (t.data.size() != 1) throw FileError("'" + file + "': checkpoint entry '" + name + "' is not one value");
    return t.data[0];
  };
  TrainingState s;
  const auto& slots = need("optimizer:slots");
  const std::uint64_t step = detail::read_counter(f, "optimizer:step", file);
  // Checkpoints written before the entry was renamed call it "optimizer:slot_kind".
  const std::uint64_t per_param = detail::read_counter(
      f, f.find("optimizer:slots_per_param") || !f.find("optimizer:slot_kind") ? "optimizer:slots_per_param"
                                                                                 : "optimizer:slot_kind", file);
  const std::uint64_t seed = detail::read_counter(f, "model:seed_lo", file) |
                             (detail::read_counter(f, "model:seed_hi", file) << 48);
  s.epochs_done = detail::read_counter(f, "fit:epochs_done", file);
  s.best_epoch = detail::read_counter(f, "fit:best_epoch", file);
  s.bad_epochs = detail::read_counter(f, "fit:bad_epochs", file);
  s.learning_rate = scalar("fit:learning_rate");
  for (const auto& [name, dst] : {std::pair{"fit:loss", &s.loss}, {"fit:val_loss", &s.val_loss}, {"fit:lr", &s.lr}})
    for (float v : need(name).data) dst->push_back(v);
  s.best_val = scalar("fit:best_val");
  s.best_params = need("fit:best_params").data;
  s.best_states = need("fit:best_states").data;
  // Written since fit() takes metrics; a checkpoint without them follows val_loss.
  for (const NamedTensor& t : f.tensors) {
    const std::string_view name = t.name;
    if (name.starts_with("fit:metric:")) {
      if (t.data.size() != s.loss.size())
        throw FileError("'" + file + "': checkpoint metric '" + t.name.substr(11) + "' holds " +
                        std::to_string(t.data.size()) + " epochs, the loss " + std::to_string(s.loss.size()));
      s.metrics.emplace_back(t.name.substr(11), std::vector<double>(t.data.begin(), t.data.end()));
    } else if (name.starts_with("fit:monitor:")) {
      s.monitor = t.name.substr(12);
    }
  }
  if (slots.data.size() != per_param * Model::param_count)
    throw FileError("'" + file + "': optimizer slots of the wrong size: " + std::to_string(slots.data.size()) +
                    " values, the optimizer needs " + std::to_string(per_param * Model::param_count));
  // fit() copies these over the model's parameters and states: a wrong size would write past them.
  if ((!s.best_params.empty() && s.best_params.size() != m.parameters().size()) ||
      (!s.best_states.empty() && s.best_states.size() != m.states().size()))
    throw FileError("'" + file + "': the best epoch's parameters or states are of the wrong size");
  detail::load_model_file(m, f, file);  // validates the signature first
  m.restore_training(step, seed, per_param, slots.data);
  return s;
}

}  // namespace siamese
