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
  const auto& st = m.store();
  std::vector<float> v(st.params.data(), st.params.data() + st.params.size());
  v.insert(v.end(), st.states.data(), st.states.data() + st.states.size());
  v.insert(v.end(), st.slots.data(), st.slots.data() + st.slots.size());
  v.push_back(static_cast<float>(st.step));
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file_with_crc(data, size);
  Model m(1);
  const auto before = snapshot(m);
  siamese::TrainingState s;
  if (fuzz::accepted([&] { s = siamese::load_checkpoint(m, path); }, path)) {
    fuzz::require(m.store().slots.size() == m.store().slots_per_param * Model::param_count, "slots fit the optimizer");
  } else {
    fuzz::require(snapshot(m) == before, "a refused checkpoint leaves the model unchanged");
  }
  Model w(1);
  if (!fuzz::accepted([&] { siamese::load_weights(w, path); }, path))
    fuzz::require(snapshot(w) == before, "refused weights leave the model unchanged");
  return 0;
}
