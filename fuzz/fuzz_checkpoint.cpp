// load_checkpoint and load_weights into a small Siamese model. The input is the file without its CRC32, which the
// target appends. A refused file leaves the model as it was (their documented contract).
#include <siamese/io/weights.hpp>
#include <siamese/train/checkpoint.hpp>

#include <vector>

#include "common.hpp"
#include "small_model.hpp"

using fuzz::Model;

namespace {
std::vector<float> snapshot(const Model& m) {
  std::vector<float> v = m.parameters().to_host();
  for (float x : m.states().to_host()) v.push_back(x);
  for (float x : m.optimizer_slots().to_host()) v.push_back(x);
  v.push_back(static_cast<float>(m.step()));
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file_with_crc(data, size);
  Model m(1);
  const auto before = snapshot(m);
  siamese::TrainingState s;
  if (fuzz::accepted([&] { s = siamese::load_checkpoint(m, path); }, path)) {
    fuzz::require(m.optimizer_slots().size() == m.optimizer_slots_per_parameter() * Model::param_count, "slots fit the optimizer");
  } else {
    fuzz::require(snapshot(m) == before, "a refused checkpoint leaves the model unchanged");
  }
  Model w(1);
  if (!fuzz::accepted([&] { siamese::load_weights(w, path); }, path))
    fuzz::require(snapshot(w) == before, "refused weights leave the model unchanged");
  return 0;
}
