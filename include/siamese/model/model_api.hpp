#pragma once
// The public face of every model's buffers: views of the packed parameters, gradients, states and
// optimizer slots, their names and shapes, the step counter and the seed. fit, checkpoints, weight files
// and importers work through these; the store behind them is the library's own business.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../core/buffer.hpp"
#include "network.hpp"

namespace siamese {

/// A view of `size()` floats of a model buffer in backend B's memory (the device's for a device backend).
/// to_host() copies them out, from_host() in; on a host backend the view is also indexable and iterable.
/// T is float, or const float for a view of a const model.
template <class B, class T = float>
class BufferView {
 public:
  static constexpr bool host_memory = std::is_same_v<typename B::Buffer, HostBuffer>;
  BufferView(T* data, std::size_t size) : data_(data), size_(size) {}

  T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// The view's values, copied to the host.
  std::vector<float> to_host() const {
    std::vector<float> v(size_);
    if (size_) B::to_host(v.data(), data_, size_);
    return v;
  }
  /// Overwrites the view's values with `n` host floats; n must equal size().
  void from_host(const float* host, std::size_t n) const
    requires(!std::is_const_v<T>)
  {
    if (n != size_)
      throw std::invalid_argument("BufferView::from_host: " + std::to_string(n) + " values for a view of " +
                                  std::to_string(size_));
    if (n) B::to_device(data_, host, n);
  }
  void from_host(const std::vector<float>& host) const
    requires(!std::is_const_v<T>)
  {
    from_host(host.data(), host.size());
  }
  /// A sub-view [offset, offset + n).
  BufferView sub(std::size_t offset, std::size_t n) const {
    if (offset > size_ || n > size_ - offset)
      throw std::out_of_range("BufferView::sub: [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                              ") is outside a view of " + std::to_string(size_));
    return {data_ + offset, n};
  }
  T& operator[](std::size_t i) const
    requires host_memory
  {
    return data_[i];
  }
  T* begin() const
    requires host_memory
  {
    return data_;
  }
  T* end() const
    requires host_memory
  {
    return data_ + size_;
  }

 private:
  T* data_;
  std::size_t size_;
};

/// One named tensor of a model (a parameter or a state): its description and a view of its values.
template <class B, class T = float>
struct NamedView {
  const ParamInfo& info;
  BufferView<B, T> values;
  const std::string& name() const { return info.name; }
};

/// The buffers every model holds and the accessors users, fit and the file formats need. Models derive from it.
template <class B>
class ModelBuffers {
 public:
  using backend_type = B;

  /// All parameters, packed in the order of parameter_info(); each entry's `offset` indexes this view.
  BufferView<B> parameters() { return {store_.params.data(), store_.params.size()}; }
  BufferView<B, const float> parameters() const { return {store_.params.data(), store_.params.size()}; }
  /// The gradients of the last training step, in the parameters' layout (frozen entries stay 0).
  BufferView<B> gradients() { return {store_.grads.data(), store_.grads.size()}; }
  BufferView<B, const float> gradients() const { return {store_.grads.data(), store_.grads.size()}; }
  /// Non-trainable saved tensors (BatchNorm's moving statistics), in the order of state_info().
  BufferView<B> states() { return {store_.states.data(), store_.states.size()}; }
  BufferView<B, const float> states() const { return {store_.states.data(), store_.states.size()}; }
  /// The optimizer's slots (momentum, Adam's moments): optimizer_slots_per_parameter() per parameter, slot-major;
  /// empty before the first step.
  BufferView<B> optimizer_slots() { return {store_.slots.data(), store_.slots.size()}; }
  BufferView<B, const float> optimizer_slots() const { return {store_.slots.data(), store_.slots.size()}; }

  /// Names, shapes, offsets, initialisers and trainability of the parameters ("encoder/1_conv2d/kernel", ...).
  const std::vector<ParamInfo>& parameter_info() const { return store_.param_info; }
  const std::vector<ParamInfo>& state_info() const { return store_.state_info; }
  /// Each parameter with a view of its values.
  std::vector<NamedView<B>> named_parameters() { return named(store_.param_info, store_.params.data()); }
  std::vector<NamedView<B, const float>> named_parameters() const {
    return named(store_.param_info, store_.params.data());
  }
  std::vector<NamedView<B>> named_states() { return named(store_.state_info, store_.states.data()); }
  std::vector<NamedView<B, const float>> named_states() const { return named(store_.state_info, store_.states.data()); }
  /// The values of the parameter called `name`; throws std::invalid_argument naming it when there is none.
  BufferView<B> parameter(std::string_view name) {
    const ParamInfo& p = find(store_.param_info, name, "parameter");
    return {store_.params.data() + p.offset, p.size};
  }
  BufferView<B> state(std::string_view name) {
    const ParamInfo& p = find(store_.state_info, name, "state");
    return {store_.states.data() + p.offset, p.size};
  }

  /// Optimizer steps taken (a step's dropout masks and the learning-rate schedule follow it).
  std::size_t step() const { return store_.step; }
  /// The seed the model was built with: parameters started from it; dropout draws from (seed, step).
  std::uint64_t seed() const { return store_.seed; }
  std::size_t optimizer_slots_per_parameter() const { return store_.slots_per_param; }

  /// Restores the training counters and the optimizer's slots saved earlier (a checkpoint):
  /// `slots` holds slots_per_param * parameters().size() host floats.
  void restore_training(std::size_t step, std::uint64_t seed, std::size_t slots_per_param,
                        const std::vector<float>& slots) {
    if (slots.size() != slots_per_param * store_.params.size())
      throw std::invalid_argument("restore_training: " + std::to_string(slots.size()) + " optimizer slot values for " +
                                  std::to_string(slots_per_param) + " slots of " +
                                  std::to_string(store_.params.size()) + " parameters");
    store_.slots.resize(slots.size());
    if (!slots.empty()) B::to_device(store_.slots.data(), slots.data(), slots.size());
    store_.step = step;
    store_.slots_per_param = slots_per_param;
    store_.seed = seed;
  }

  /// Distributed training (fit with a communicator): `hook` combines each step's gradients over the ranks and hears
  /// of a failed step; `stream` (the rank) gives each rank its own dropout masks. Null and 0 detach it.
  void attach_step_hook(detail::StepHook* hook, std::uint64_t stream) {
    store_.hook = hook;
    store_.stream = stream;
  }

 protected:
  detail::Store<B> store_;

 private:
  template <class P>
  static auto named(const std::vector<ParamInfo>& list, P* base) {
    std::vector<NamedView<B, P>> out;
    out.reserve(list.size());
    for (const auto& p : list) out.push_back({p, BufferView<B, P>(base + p.offset, p.size)});
    return out;
  }
  static const ParamInfo& find(const std::vector<ParamInfo>& list, std::string_view name, const char* what) {
    for (const auto& p : list)
      if (p.name == name) return p;
    throw std::invalid_argument(std::string("the model has no ") + what + " named '" + std::string(name) + "'");
  }
};

}  // namespace siamese
