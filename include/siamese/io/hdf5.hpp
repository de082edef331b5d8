#pragma once
// Keras HDF5 weight files (model.save_weights, or model.save's "model_weights" group) read into named
// arrays for import_arrays. Needs the HDF5 C library: built with SIAMESE_HAVE_HDF5 defined (Meson's
// siamese_hdf5_dep does it); without it read_keras_h5 says how to convert the file to .npz instead.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "npz.hpp"

#ifdef SIAMESE_HAVE_HDF5
#include <hdf5.h>
#endif

namespace siamese {

#ifdef SIAMESE_HAVE_HDF5
inline constexpr bool hdf5_available = true;

namespace detail {
/// Closes an HDF5 handle with the function that matches its kind.
class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

/// Silences HDF5's error printing while we read: failures become FileError messages instead.
class H5Quiet {
 public:
  H5Quiet() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~H5Quiet() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// The strings of a string attribute (fixed or variable length, scalar or 1-D); an empty
/// attribute of any type (Keras writes one for layers without weights) gives none.
inline std::vector<std::string> h5_string_attr(hid_t obj, const char* name, const std::string& where) {
  H5Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr) throw FileError(where + "cannot open attribute '" + name + "'");
  H5Handle type(H5Aget_type(attr.get()), H5Tclose), space(H5Aget_space(attr.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n <= 0) return {};
  if (H5Tget_class(type.get()) != H5T_STRING) throw FileError(where + "attribute '" + name + "' does not hold strings");
  // Sizes come from the file: refuse absurd ones before allocating (Keras lists hold at most thousands of names; each
  // variable-length one costs a heap look-up in libhdf5).
  if (n > (hssize_t{1} << 16) || H5Tget_size(type.get()) > (std::size_t{1} << 16))
    throw FileError(where + "attribute '" + name + "' claims " + std::to_string(n) + " strings of up to " +
                    std::to_string(H5Tget_size(type.get())) + " bytes; refusing to allocate");
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> buf(static_cast<std::size_t>(n), nullptr);
    if (H5Aread(attr.get(), type.get(), buf.data()) < 0) throw FileError(where + "cannot read attribute '" + name + "'");
    for (char* s : buf) out.emplace_back(s ? s : "");
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, buf.data());
  } else {
    // Read in the file's own string type: converting NULLPAD to NULLTERM would cut a full-width name.
    const std::size_t size = H5Tget_size(type.get());
    std::vector<char> buf(size * static_cast<std::size_t>(n));
    if (H5Aread(attr.get(), type.get(), buf.data()) < 0) throw FileError(where + "cannot read attribute '" + name + "'");
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * size, size);
      s.erase(s.find_last_not_of(std::string("\0 ", 2)) + 1);
      out.push_back(s.substr(0, s.find('\0')));
    }
  }
  return out;
}

/// Keras' attribute lists: `name`, or when too large for one HDF5 attribute, name0, name1, ...
inline std::vector<std::string> keras_list_attr(hid_t obj, const std::string& name, const std::string& where) {
  if (H5Aexists(obj, name.c_str()) > 0) return h5_string_attr(obj, name.c_str(), where);
  std::vector<std::string> out;
  for (int chunk = 0;; ++chunk) {
    const std::string part = name + std::to_string(chunk);
    if (H5Aexists(obj, part.c_str()) <= 0) return out;
    for (auto& s : h5_string_attr(obj, part.c_str(), where)) out.push_back(std::move(s));
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

inline NamedArray h5_read_float(hid_t group, const std::string& path, std::string name, const std::string& where,
                                std::uintmax_t file_bytes) {
  H5Handle ds(H5Dopen2(group, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds) throw FileError(where + "dataset '" + path + "' is listed in 'weight_names' but cannot be opened");
  H5Handle type(H5Dget_type(ds.get()), H5Tclose), space(H5Dget_space(ds.get()), H5Sclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT)
    throw FileError(where + "dataset '" + path + "' does not hold floating-point values");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw FileError(where + "dataset '" + path + "' has no simple shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  NamedArray a{std::move(name), std::vector<std::size_t>(dims.begin(), dims.end()), {}};
  // The extents come from the file: refuse a product that overflows or exceeds what the file could hold even
  // deflate-compressed (at most ~1032:1), before allocating.
  const std::size_t limit = 1100 * static_cast<std::size_t>(file_bytes) + (std::size_t{1} << 20);
  std::size_t count = 1;
  for (auto d : dims)
    if (d != 0 && count > limit / static_cast<std::size_t>(d)) count = limit + 1;
    else count *= static_cast<std::size_t>(d);
  if (count > limit) throw FileError(where + "dataset '" + path + "' claims an absurd size; refusing to allocate");
  a.data.resize(count);
  if (count && H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data.data()) < 0)
    throw FileError(where + "cannot read dataset '" + path + "'");
  return a;
}
}  // namespace detail

/// Reads the weights of a Keras HDF5 file: for each layer of the root attribute 'layer_names'
/// (under 'model_weights' in a whole-model file), the datasets its 'weight_names' attribute lists,
/// named "<layer>/<weight>" with TensorFlow's ":0" dropped: "conv1_1/kernel", "conv1_1/bias".
/// Values are converted to float. Throws FileError naming the file (and the dataset) when the file
/// cannot be opened, is not HDF5, lacks Keras' attributes or holds a non-float weight.
inline ArrayFile read_keras_h5(const std::filesystem::path& path) {
  const std::string file = path.string(), where = "'" + file + "': ";
  if (!std::filesystem::is_regular_file(path)) throw FileError(where + "cannot open file");
  const std::uintmax_t file_bytes = std::filesystem::file_size(path);
  detail::H5Quiet quiet;
  if (H5Fis_hdf5(file.c_str()) <= 0) throw FileError(where + "not an HDF5 file");
  detail::H5Handle f(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f) throw FileError(where + "HDF5 cannot open the file (damaged?)");
  const bool whole_model = H5Lexists(f.get(), "model_weights", H5P_DEFAULT) > 0;
  detail::H5Handle root(H5Gopen2(f.get(), whole_model ? "model_weights" : "/", H5P_DEFAULT), H5Gclose);
  const auto layers = root ? detail::keras_list_attr(root.get(), "layer_names", where) : std::vector<std::string>{};
  if (layers.empty()) throw FileError(where + "not a Keras weight file: no 'layer_names' attribute");
  ArrayFile out{file, {}};
  for (const auto& layer : layers) {
    detail::H5Handle g(H5Gopen2(root.get(), layer.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g) throw FileError(where + "layer '" + layer + "' is listed in 'layer_names' but has no group");
    for (const auto& w : detail::keras_list_attr(g.get(), "weight_names", where + "layer '" + layer + "': "))
      out.arrays.push_back(
          detail::h5_read_float(g.get(), w, layer + "/" + detail::keras_weight_leaf(w), where, file_bytes));
  }
  return out;
}

#else
inline constexpr bool hdf5_available = false;

/// Built without HDF5 (SIAMESE_HAVE_HDF5 undefined): always throws, saying how to get a .npz instead.
inline ArrayFile read_keras_h5(const std::filesystem::path& path) {
  throw FileError("'" + path.string() +
                  "': this program was built without HDF5 support; convert the file to .npz with "
                  "scripts/convert_vggface.py, or build with libhdf5-dev installed");
}
#endif

}  // namespace siamese
