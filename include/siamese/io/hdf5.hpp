#pragma once
// Keras HDF5 weight files (model.save_weights, or model.save's "model_weights" group) read into named
// arrays for import_arrays, by the library's own bounded reader of the HDF5 format (detail/hdf5_format.hpp):
// no HDF5 library is needed, and a damaged or hostile file ends in a FileError, never in a crash, a hang or
// an allocation the file's size does not justify.
#include <cstdint>
#include <filesystem>
#include <map>
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
}  // namespace detail

/// Reads the weights of a Keras HDF5 file: for each layer of the root attribute 'layer_names'
/// (under 'model_weights' in a whole-model file), the datasets its 'weight_names' attribute lists
/// (paths relative to the layer's group, such as "conv1_1/kernel:0"), named "<layer>/<weight>" with
/// TensorFlow's ":0" dropped: "conv1_1/kernel", "conv1_1/bias". Values (IEEE float16, float32 or
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
  if (layers.empty()) throw FileError(where + "not a Keras weight file: no 'layer_names' attribute");
  ArrayFile out{file, {}};
  for (const auto& layer : layers) {
    const std::string lctx = "layer '" + layer + "'";
    const auto it = root.links.find(layer);
    if (it == root.links.end() || it->second == detail::h5::undef)
      throw FileError(where + lctx + " is listed in 'layer_names' but has no group");
    const detail::KerasGroup g = detail::keras_group(f, it->second, lctx);
    std::map<std::uint64_t, detail::KerasGroup> subgroups;  // groups inside the layer's that weight paths go through
    for (const auto& w : detail::keras_list_attr(f, g.attrs, "weight_names", heaps, lctx + ": ")) {
      const std::string dctx = lctx + ": dataset '" + w + "'";
      const detail::KerasGroup* at = &g;
      std::uint64_t addr = detail::h5::undef;
      for (std::size_t start = 0; start <= w.size();) {  // follow the path's components
        std::size_t stop = w.find('/', start);
        if (stop == std::string::npos) stop = w.size();
        const std::string_view part = std::string_view(w).substr(start, stop - start);
        start = stop + 1;
        if (part.empty()) continue;
        if (!at) {  // the previous component must be a group
          auto sub = subgroups.find(addr);
          if (sub == subgroups.end()) sub = subgroups.emplace(addr, detail::keras_group(f, addr, dctx)).first;
          at = &sub->second;
        }
        const auto l = at->links.find(part);
        addr = l == at->links.end() ? detail::h5::undef : l->second;
        if (addr == detail::h5::undef) break;
        at = nullptr;
      }
      if (addr == detail::h5::undef || at) throw FileError(where + dctx + " is listed in 'weight_names' but does not exist");
      f.step(16 + w.size(), dctx);
      NamedArray a{layer + "/" + detail::keras_weight_leaf(w), {}, {}};
      detail::h5::read_float_dataset(f, detail::h5::object_header(f, addr, dctx), dctx, a.shape, a.data);
      out.arrays.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace siamese
