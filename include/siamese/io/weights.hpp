#pragma once
// save_weights / load_weights for any model of the library: named tensors, the model's architecture
// signature, a checksum; loading a file of another model, or a damaged one, fails with the reason.
#include <algorithm>
#include <filesystem>
#include <string>

#include "../layers/layer.hpp"
#include "../core/tensor.hpp"
#include "file_format.hpp"

namespace siamese {

namespace detail {
template <class B>
void to_tensors(WeightFile& f, const std::vector<ParamInfo>& list, const float* dev, const char* prefix) {
  for (const auto& p : list) {
    NamedTensor t{std::string(prefix) + p.name, std::vector<std::uint64_t>(p.shape.begin(), p.shape.end()),
                  std::vector<float>(p.size)};
    B::to_host(t.data.data(), dev + p.offset, p.size);
    f.tensors.push_back(std::move(t));
  }
}
template <class B>
void from_tensors(const WeightFile& f, const std::vector<ParamInfo>& list, float* dev, const char* prefix,
                  const std::string& file, bool apply) {
  for (const auto& p : list) {
    const std::string name = std::string(prefix) + p.name;
    const NamedTensor* t = f.find(name);
    if (!t) throw FileError("'" + file + "': has no tensor '" + name + "'");
    if (!std::equal(t->shape.begin(), t->shape.end(), p.shape.begin(), p.shape.end()))
      throw FileError("'" + file + "': tensor '" + name + "' has shape " + Tensor::shape_str(t->shape) +
                      " in the file but " + Tensor::shape_str(p.shape) + " in the model");
    if (apply) B::to_device(dev + p.offset, t->data.data(), p.size);
  }
}
template <class Model>
WeightFile model_file(const Model& m, const char* kind) {
  using B = typename Model::backend_type;
  WeightFile f{kind, Model::signature(), {}};
  to_tensors<B>(f, m.parameter_info(), m.parameters().data(), "param:");
  to_tensors<B>(f, m.state_info(), m.states().data(), "state:");
  return f;
}
/// The loss's parameters ("loss/..." tensors, such as ArcFace's class weights) in the file against the model's,
/// named before anything else: a model trained with ArcFace loaded into one without class weights, or with another
/// class count, says so rather than that the file is for another model.
inline void check_loss_parameters(const WeightFile& f, const std::vector<ParamInfo>& list, const std::string& file) {
  const std::string prefix = "param:loss/";
  for (const NamedTensor& t : f.tensors) {
    if (t.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = t.name.substr(6);
    const auto it = std::find_if(list.begin(), list.end(), [&](const ParamInfo& p) { return p.name == name; });
    if (it == list.end())
      throw FileError("'" + file + "': holds the loss parameter '" + name + "' " + Tensor::shape_str(t.shape) +
                      " (a model trained with a loss that has parameters, such as ArcFace's class weights) but the "
                      "model has none; declare the model with them (Embedder<Encoder, Backend, ClassWeights<N>>)");
    if (!std::equal(t.shape.begin(), t.shape.end(), it->shape.begin(), it->shape.end()))
      throw FileError("'" + file + "': the loss parameter '" + name + "' has shape " + Tensor::shape_str(t.shape) +
                      " in the file but " + Tensor::shape_str(it->shape) +
                      " in the model (rows: the class count of ClassWeights<N>)");
  }
  for (const ParamInfo& p : list)
    if (p.name.compare(0, 5, "loss/") == 0 && !f.find("param:" + p.name))
      throw FileError("'" + file + "': has no loss parameter '" + p.name + "' " + Tensor::shape_str(p.shape) +
                      ", which the model holds (ClassWeights<" + std::to_string(p.shape[0]) +
                      ">): it was saved from a model without them");
}
template <class Model>
void load_model_file(Model& m, const WeightFile& f, const std::string& file) {
  using B = typename Model::backend_type;
  check_loss_parameters(f, m.parameter_info(), file);
  if (f.signature != Model::signature())
    throw FileError("'" + file + "': the file is for another model.\n  file:  " + f.signature +
                    "\n  model: " + Model::signature());
  for (bool apply : {false, true}) {  // validate everything before changing anything
    from_tensors<B>(f, m.parameter_info(), m.parameters().data(), "param:", file, apply);
    from_tensors<B>(f, m.state_info(), m.states().data(), "state:", file, apply);
  }
}
}  // namespace detail

/// Writes the model's parameters and states to `path` (atomically).
template <class Model>
void save_weights(const Model& model, const std::filesystem::path& path) {
  write_weight_file(path, detail::model_file(model, "weights"));
}

/// Loads parameters and states written by save_weights for the same model type. A file of another
/// model, a truncated or corrupt file throws FileError naming the file and the problem; the model is
/// left unchanged then.
template <class Model>
void load_weights(Model& model, const std::filesystem::path& path) {
  const WeightFile f = read_weight_file(path);
  if (f.kind != "weights" && f.kind != "checkpoint")
    throw FileError("'" + path.string() + "': unknown file kind '" + f.kind + "'");
  detail::load_model_file(model, f, path.string());
}

}  // namespace siamese
