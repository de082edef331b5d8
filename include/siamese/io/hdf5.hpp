#pragma once
// Keras HDF5 weight files (model.save_weights, or model.save's "model_weights" group) read into named
// arrays for import_arrays, by the library's own bounded reader of the HDF5 format (detail/hdf5_format.hpp):
// no HDF5 library is needed, and a damaged or hostile file ends in a FileError, never in a crash, a hang or
// an allocation the file's size does not justify.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "../core/errors.hpp"
#include "detail/hdf5_format.hpp"
#include "npz.hpp"

namespace siamese {

namespace detail {
/// An HDF5 group as Keras uses it: its attributes and its members by name (the first of duplicate names).
struct KerasGroup {
  std::vector<h5::Attribute> attrs;
  std::map<std::string, std::uint64_t, std::less<>> links;
};

inline KerasGroup keras_group(h5::File& f, std::uint64_t addr, const std::string& ctx) {
  const auto msgs = h5::object_header(f, addr, ctx);
  KerasGroup g{h5::attributes(f, msgs, ctx), {}};
  for (auto& l : h5::group_links(f, msgs, ctx)) g.links.emplace(std::move(l.name), l.addr);
  return g;
}

/// Keras' attribute lists: `name`, or when too large for one HDF5 attribute, name0, name1, ...
inline std::vector<std::string> keras_list_attr(h5::File& f, const std::vector<h5::Attribute>& attrs,
                                                const std::string& name, h5::GlobalHeaps& heaps, const std::string& ctx) {
  std::map<std::string_view, const h5::Attribute*> by_name;  // the first of duplicate names
  for (const auto& a : attrs) by_name.emplace(a.name, &a);
  if (const auto a = by_name.find(name); a != by_name.end()) return h5::string_attribute(f, *a->second, heaps, ctx);
  std::vector<std::string> out;
  for (std::size_t chunk = 0;; ++chunk) {
    const auto a = by_name.find(name + std::to_string(chunk));
    if (a == by_name.end()) return out;
    for (auto& s : h5::string_attribute(f, *a->second, heaps, ctx)) {
      if (out.size() >= h5::max_list)
        f.fail(ctx + "attribute '" + name + "'", "lists more than " + std::to_string(h5::max_list) + " names; refusing");
      out.push_back(std::move(s));
    }
  }
}

/// "conv1_1/kernel:0" -> "kernel": the last path component without TensorFlow's ":<index>".
inline std::string keras_weight_leaf(const std::string& w) {
  std::string s = w.substr(w.rfind('/') + 1);
  const auto colon = s.rfind(':');
  if (colon != std::string::npos && colon + 1 < s.size() && s.find_first_not_of("0123456789", colon + 1) == std::string::npos)
    s.resize(colon);
  return s;
}

// ---- Keras 3 (.weights.h5) ---------------------------------------------------------------------------------

/// The variable names Keras 2 gave, in the order Keras 3 stores them as vars/0, vars/1, ..., for the layer
/// classes whose variables that order names (cls: the snake_case class, as Keras 3 keys a layer's group);
/// "" for another class or another number of variables.
inline std::string keras3_var_name(std::string_view cls, std::size_t i, std::size_t n) {
  static const std::map<std::string_view, std::vector<std::vector<const char*>>> known{
      // per class: the name lists for each number of variables it may have
      {"dense", {{"kernel"}, {"kernel", "bias"}}},
      {"einsum_dense", {{"kernel"}, {"kernel", "bias"}}},
      {"conv1d", {{"kernel"}, {"kernel", "bias"}}},
      {"conv2d", {{"kernel"}, {"kernel", "bias"}}},
      {"conv3d", {{"kernel"}, {"kernel", "bias"}}},
      {"conv1d_transpose", {{"kernel"}, {"kernel", "bias"}}},
      {"conv2d_transpose", {{"kernel"}, {"kernel", "bias"}}},
      {"conv3d_transpose", {{"kernel"}, {"kernel", "bias"}}},
      {"depthwise_conv1d", {{"depthwise_kernel"}, {"depthwise_kernel", "bias"}}},
      {"depthwise_conv2d", {{"depthwise_kernel"}, {"depthwise_kernel", "bias"}}},
      {"separable_conv1d", {{"depthwise_kernel", "pointwise_kernel"}, {"depthwise_kernel", "pointwise_kernel", "bias"}}},
      {"separable_conv2d", {{"depthwise_kernel", "pointwise_kernel"}, {"depthwise_kernel", "pointwise_kernel", "bias"}}},
      {"batch_normalization", {{"moving_mean", "moving_variance"}, {"gamma", "beta", "moving_mean", "moving_variance"}}},
      {"layer_normalization", {{"gamma", "beta"}}},
      {"embedding", {{"embeddings"}}},
      {"lstm_cell", {{"kernel", "recurrent_kernel"}, {"kernel", "recurrent_kernel", "bias"}}},
      {"gru_cell", {{"kernel", "recurrent_kernel"}, {"kernel", "recurrent_kernel", "bias"}}},
      {"simple_rnn_cell", {{"kernel", "recurrent_kernel"}, {"kernel", "recurrent_kernel", "bias"}}},
  };
  const auto it = known.find(cls);
  if (it == known.end()) return {};
  for (const auto& names : it->second)
    if (names.size() == n) return names[i];
  return {};
}

/// "dense_3" -> "dense": Keras 3 keys a layer's group by its class, made unique with a number.
inline std::string_view keras3_class(std::string_view key) {
  const auto u = key.rfind('_');
  if (u != std::string_view::npos && u + 1 < key.size() &&
      key.find_first_not_of("0123456789", u + 1) == std::string_view::npos)
    key = key.substr(0, u);
  return key;
}

/// The groups of a Keras 3 object that hold its sublayers: "layers", or "_layer_checkpoint_dependencies" in
/// the files of the first versions of the format.
inline bool keras3_layer_list(std::string_view key) {
  return key == "layers" || key == "_layer_checkpoint_dependencies";
}

/// Walks a Keras 3 weight file: each object's group holds "vars" (datasets "0", "1", ..., the group's 'name'
/// attribute the object's name), its sublayers under "layers", and objects it owns (an RNN's "cell",
/// Bidirectional's "forward_layer") under their attribute's name.
class Keras3Walker {
 public:
  Keras3Walker(h5::File& f, ArrayFile& out) : f_(f), out_(out) {}

  /// The object at addr: its variables are named prefix + leaf; cls names its class when known ("" if not).
  void object(std::uint64_t addr, const std::string& prefix, std::string_view cls, const std::string& ctx,
              unsigned depth, bool top) {
    if (depth > 64) f_.fail(ctx, "objects nested more than 64 deep; refusing");
    if (!visited_.insert(addr).second) f_.fail(ctx, "a group reached twice (the file's groups form a cycle)");
    f_.step(1, ctx);
    const KerasGroup g = keras_group(f_, addr, ctx);
    for (const auto& [key, child] : g.links) {
      const std::string cctx = ctx + "/" + key;
      if (child == h5::undef) f_.fail(cctx, "a link to an undefined address");
      if (key == "vars") {
        variables(child, prefix, cls, cctx);
      } else if (keras3_layer_list(key)) {
        const KerasGroup list = keras_group(f_, child, cctx);
        for (const auto& [lkey, layer] : list.links) {
          const std::string lctx = cctx + "/" + lkey;
          if (layer == h5::undef) f_.fail(lctx, "a link to an undefined address");
          const std::string name = object_name(layer, lkey, lctx);
          object(layer, prefix + name + "/", keras3_class(lkey), lctx, depth + 1, false);
        }
      } else if (!(top && key == "optimizer")) {  // a whole model's file keeps the optimizer's state beside it
        // An owned object: an RNN's cell belongs to its layer (Keras 2 named its weights "<layer>/kernel"); its
        // class is in its name ("lstm_cell"). Other owned objects keep their attribute's name in the path.
        const std::string name = object_name(child, key, cctx);
        object(child, key == "cell" ? prefix : prefix + key + "/", keras3_class(name), cctx, depth + 1, false);
      }
    }
  }

 private:
  /// The 'name' attribute of the object's "vars" group, or `fallback`.
  std::string object_name(std::uint64_t addr, const std::string& fallback, const std::string& ctx) {
    const KerasGroup g = keras_group(f_, addr, ctx);
    const auto v = g.links.find("vars");
    if (v == g.links.end() || v->second == h5::undef) return fallback;
    const KerasGroup vars = keras_group(f_, v->second, ctx + "/vars");
    for (const auto& a : vars.attrs)
      if (a.name == "name") {
        const auto s = h5::string_attribute(f_, a, heaps_, ctx + "/vars: ");
        if (s.size() == 1 && !s[0].empty() && s[0].find('/') == std::string::npos) return s[0];
      }
    return fallback;
  }

  void variables(std::uint64_t addr, const std::string& prefix, std::string_view cls, const std::string& ctx) {
    const KerasGroup vars = keras_group(f_, addr, ctx);
    const std::size_t n = vars.links.size();
    std::vector<std::uint64_t> by_index(n, h5::undef);
    for (const auto& [key, at] : vars.links) {
      const bool number = !key.empty() && key.size() <= 6 && key.find_first_not_of("0123456789") == std::string::npos;
      const std::size_t i = number ? std::stoul(key) : n;
      if (i >= n || by_index[i] != h5::undef || at == h5::undef)
        f_.fail(ctx, "holds '" + key + "': a Keras 3 'vars' group holds the datasets 0 to " + std::to_string(n - 1));
      by_index[i] = at;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::string dctx = ctx + "/" + std::to_string(i);
      std::string leaf = keras3_var_name(cls, i, n);
      if (leaf.empty()) leaf = std::to_string(i);
      NamedArray a{prefix + leaf, {}, {}};
      h5::read_float_dataset(f_, h5::object_header(f_, by_index[i], dctx), dctx, a.shape, a.data);
      out_.arrays.push_back(std::move(a));
    }
  }

  h5::File& f_;
  ArrayFile& out_;
  h5::GlobalHeaps heaps_;
  std::set<std::uint64_t> visited_;
};
}  // namespace detail

/// Reads the weights of a Keras HDF5 file, of Keras 2 or Keras 3.
/// Keras 2 (model.save_weights("x.h5"), or model.save's "model_weights" group): for each layer of the
/// root attribute 'layer_names', the datasets its 'weight_names' attribute lists (paths relative to the
/// layer's group, such as "conv1_1/kernel:0"), named "<layer>/<weight>" with TensorFlow's ":0" dropped:
/// "conv1_1/kernel", "conv1_1/bias".
/// Keras 3 (model.save_weights("x.weights.h5")): layers/<key>/vars/<i>, nested models' layers under
/// layers/<key>/layers/..., an RNN's under layers/<key>/cell/vars. Each array is named by the path of
/// layer names (the 'name' attribute Keras keeps on each 'vars' group: the names given in Keras) and
/// the variable's Keras 2 name where its layer class fixes it ("conv1_1/kernel", "block/dense_2/bias",
/// "rnn/recurrent_kernel", "bn/moving_mean"; see keras3_var_name), else its index ("custom/0").
/// Values (IEEE float16, float32 or
/// float64, either byte order) are converted to float. Throws FileError naming the file, and the layer,
/// dataset or attribute, when the file cannot be opened, is not HDF5, is damaged, lacks Keras'
/// attributes, holds a non-float weight, or uses HDF5 features weight files do not (other filters than
/// deflate, shuffle and fletcher32, shared datatypes, external storage).
inline ArrayFile read_keras_h5(const std::filesystem::path& path) {
  const std::string file = path.string(), where = "'" + file + "': ";
  if (!std::filesystem::is_regular_file(path)) throw FileError(where + "cannot open file");
  detail::h5::File f(path, where);
  detail::h5::GlobalHeaps heaps;
  const std::uint64_t root_addr = detail::h5::superblock(f);
  detail::KerasGroup root = detail::keras_group(f, root_addr, "root group");
  std::string ctx;
  if (const auto mw = root.links.find("model_weights"); mw != root.links.end()) {
    ctx = "group 'model_weights'";
    root = detail::keras_group(f, mw->second, ctx);
    ctx += ": ";
  }
  const auto layers = detail::keras_list_attr(f, root.attrs, "layer_names", heaps, ctx);
  ArrayFile out{file, {}};
  if (layers.empty()) {
    const bool keras3 = std::any_of(root.links.begin(), root.links.end(), [](const auto& l) {
      return detail::keras3_layer_list(l.first) || l.first == "vars";
    });
    if (!keras3)
      throw FileError(where + "not a Keras weight file: neither a 'layer_names' attribute (Keras 2) nor a 'layers' "
                      "group (Keras 3)");
    detail::Keras3Walker(f, out).object(root_addr, "", "", "root group", 0, true);
    if (out.arrays.empty()) throw FileError(where + "a Keras 3 weight file without any weight");
    return out;
  }
  // Groups that paths go through, read once: a layer name with '/' (keras-vggface's "conv1/7x7_s2") is a path of
  // nested groups, as h5py creates them, and so is a weight path inside a layer's group.
  std::map<std::uint64_t, detail::KerasGroup> groups;
  const auto group_at = [&](std::uint64_t addr, const std::string& ctx) -> const detail::KerasGroup& {
    auto it = groups.find(addr);
    if (it == groups.end()) it = groups.emplace(addr, detail::keras_group(f, addr, ctx)).first;
    return it->second;
  };
  // The address of `path` below group g (components separated by '/'), or undef.
  const auto follow = [&](const detail::KerasGroup& g, const std::string& path, const std::string& ctx) {
    const detail::KerasGroup* at = &g;
    std::uint64_t addr = detail::h5::undef;
    for (std::size_t start = 0; start <= path.size();) {
      std::size_t stop = path.find('/', start);
      if (stop == std::string::npos) stop = path.size();
      const std::string_view part = std::string_view(path).substr(start, stop - start);
      start = stop + 1;
      if (part.empty()) continue;
      if (!at) at = &group_at(addr, ctx);  // the previous component must be a group
      const auto l = at->links.find(part);
      addr = l == at->links.end() ? detail::h5::undef : l->second;
      if (addr == detail::h5::undef) return addr;
      at = nullptr;
    }
    return at ? detail::h5::undef : addr;
  };
  std::set<std::string_view> seen;
  for (const auto& layer : layers) {
    const std::string lctx = "layer '" + layer + "'";
    if (!seen.insert(layer).second) throw FileError(where + lctx + " is listed twice in 'layer_names'");
    const std::uint64_t layer_addr = follow(root, layer, lctx);
    if (layer_addr == detail::h5::undef) throw FileError(where + lctx + " is listed in 'layer_names' but has no group");
    const detail::KerasGroup& g = group_at(layer_addr, lctx);
    for (const auto& w : detail::keras_list_attr(f, g.attrs, "weight_names", heaps, lctx + ": ")) {
      const std::string dctx = lctx + ": dataset '" + w + "'";
      const std::uint64_t addr = follow(g, w, dctx);
      if (addr == detail::h5::undef) throw FileError(where + dctx + " is listed in 'weight_names' but does not exist");
      f.step(16 + w.size(), dctx);
      NamedArray a{layer + "/" + detail::keras_weight_leaf(w), {}, {}};
      detail::h5::read_float_dataset(f, detail::h5::object_header(f, addr, dctx), dctx, a.shape, a.data);
      out.arrays.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace siamese
