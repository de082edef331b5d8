// Keras HDF5 weights: a file written by h5py the way Keras writes it, files written here with the
// HDF5 C API (whole-model layout, chunked attributes, variable-length names), import into a model.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <siamese/io/hdf5.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/zoo/vggface.hpp>

using namespace siamese;
namespace fs = std::filesystem;

static_assert(hdf5_available);

namespace {
fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / ("siamese_test_h5_" + std::to_string(::getpid()) + "_" + name);
}

/// A 1-D attribute of fixed-length, NUL-padded strings, as h5py stores numpy 'S' arrays.
void string_attr(hid_t obj, const std::string& name, const std::vector<std::string>& v, bool variable = false) {
  const hsize_t n = v.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t type = H5Tcopy(H5T_C_S1);
  if (variable) {
    H5Tset_size(type, H5T_VARIABLE);
    std::vector<const char*> p;
    for (const auto& s : v) p.push_back(s.c_str());
    hid_t a = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Awrite(a, type, p.data()) >= 0);
    H5Aclose(a);
  } else {
    std::size_t w = 1;
    for (const auto& s : v) w = std::max(w, s.size());
    H5Tset_size(type, w);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    std::string buf(w * v.size(), '\0');
    for (std::size_t i = 0; i < v.size(); ++i) buf.replace(i * w, v[i].size(), v[i]);
    hid_t a = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Awrite(a, type, buf.data()) >= 0);
    H5Aclose(a);
  }
  H5Tclose(type);
  H5Sclose(space);
}

/// A dataset at `path` under `group` (intermediate groups created, as h5py does for "a/b:0").
template <class T>
void dataset(hid_t group, const std::string& path, const std::vector<hsize_t>& dims, const std::vector<T>& v,
             hid_t type) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  hid_t d = H5Dcreate2(group, path.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(d >= 0);
  REQUIRE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  H5Dclose(d);
  H5Sclose(space);
  H5Pclose(lcpl);
}

using TinyEnc = VGGFaceEncoderAt<32, VGGWidths<2, 2, 3, 3, 4>>;
using Model = Siamese<TrainLast<5, TinyEnc>, Head<SqDiff, Classifier<Dense<1>>>, backend::Reference>;

float value(std::size_t layer, std::size_t j) { return float(layer) + float(j) / 1000; }

/// A whole-model Keras file (weights under "model_weights") for TinyEnc: layer_names split over two
/// attributes as Keras does for long lists, one layer's weight_names variable-length, one layer
/// stored as float64, pooling layers without weights. Returns the path.
fs::path write_tiny_keras(const Model& m, const std::string& name) {
  const fs::path p = temp(name);
  hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t root = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const auto& keras = vggface_layer_names();
  const auto links = vggface_weight_map(m.store().param_info);
  std::vector<std::string> names;
  for (std::size_t l = 0, pool = 1; l < 13; ++l) {
    names.push_back(keras[l]);
    if (l == 1 || l == 3 || l == 6 || l == 9 || l == 12) names.push_back("pool" + std::to_string(pool++));
  }
  string_attr(root, "layer_names0", std::vector<std::string>(names.begin(), names.begin() + 7));
  string_attr(root, "layer_names1", std::vector<std::string>(names.begin() + 7, names.end()));
  for (const auto& layer : names) {
    hid_t g = H5Gcreate2(root, layer.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (layer.rfind("pool", 0) == 0) {  // Keras writes an empty float64 list for layers without weights
      const hsize_t zero = 0;
      hid_t space = H5Screate_simple(1, &zero, nullptr);
      H5Aclose(H5Acreate2(g, "weight_names", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT));
      H5Sclose(space);
      H5Gclose(g);
      continue;
    }
    const std::size_t l = std::size_t(std::find(keras.begin(), keras.end(), layer) - keras.begin());
    string_attr(g, "weight_names", {layer + "/kernel:0", layer + "/bias:0"}, l == 4);
    for (int k = 0; k < 2; ++k) {
      const ParamInfo* info = nullptr;
      for (const auto& pi : m.store().param_info)
        if (pi.name == links[2 * l + k].first) info = &pi;
      REQUIRE(info);
      std::vector<hsize_t> dims(info->shape.begin(), info->shape.end());
      std::vector<double> v(info->size);
      for (std::size_t j = 0; j < v.size(); ++j) v[j] = value(l, j);
      const std::string path = layer + (k ? "/bias:0" : "/kernel:0");
      if (l == 7) dataset(g, path, dims, v, H5T_NATIVE_DOUBLE);
      else dataset(g, path, dims, std::vector<float>(v.begin(), v.end()), H5T_NATIVE_FLOAT);
    }
    H5Gclose(g);
  }
  H5Gclose(root);
  H5Fclose(f);
  return p;
}
}  // namespace

TEST_CASE("a file written by h5py the way Keras' save_weights writes it") {
  const ArrayFile f = read_keras_h5(fs::path(ZOO_DATA) / "keras_weights.h5");
  REQUIRE(f.arrays.size() == 4);
  const char* names[] = {"conv1_1/kernel", "conv1_1/bias", "fc6/kernel", "fc6/bias"};
  const std::vector<std::size_t> shapes[] = {{3, 3, 3, 2}, {2}, {4, 3}, {3}};
  for (int i = 0; i < 4; ++i) {
    CAPTURE(names[i]);
    REQUIRE(f.arrays[i].name == names[i]);
    CHECK(f.arrays[i].shape == shapes[i]);
    for (std::size_t j = 0; j < f.arrays[i].data.size(); ++j) CHECK(f.arrays[i].data[j] == float(double(j) / 8 - 1));
  }
}

TEST_CASE("a whole-model Keras file written with the HDF5 C API imports into a partly frozen VGG") {
  Model m(4);
  const fs::path p = write_tiny_keras(m, "tiny.h5");
  const ArrayFile f = read_keras_h5(p);
  CHECK(f.arrays.size() == 26);
  const auto links = vggface_weight_map(m.store().param_info);
  CHECK(import_arrays(m, f, links) == 26);
  for (std::size_t i = 0; i < links.size(); ++i)
    for (const auto& pi : m.store().param_info)
      if (pi.name == links[i].first)
        for (std::size_t j = 0; j < pi.size; ++j) REQUIRE(m.store().params[pi.offset + j] == value(i / 2, j));
  fs::remove(p);
}

TEST_CASE("bad HDF5 input: errors name the file and what is wrong") {
  CHECK_THROWS_WITH_AS(read_keras_h5("/nonexistent/w.h5"), "'/nonexistent/w.h5': cannot open file", FileError);
  const fs::path text = temp("text.h5");
  std::ofstream(text) << "not hdf5";
  const std::string not_hdf5 = "'" + text.string() + "': not an HDF5 file";
  CHECK_THROWS_WITH_AS(read_keras_h5(text), not_hdf5.c_str(), FileError);
  fs::remove(text);

  const fs::path bare = temp("bare.h5");
  H5Fclose(H5Fcreate(bare.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  CHECK_THROWS_WITH_AS(read_keras_h5(bare), doctest::Contains("not a Keras weight file: no 'layer_names'"), FileError);
  fs::remove(bare);

  const fs::path ints = temp("ints.h5");
  hid_t f = H5Fcreate(ints.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  string_attr(f, "layer_names", {"fc6", "fc7"});
  hid_t g = H5Gcreate2(f, "fc6", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  string_attr(g, "weight_names", {"fc6/kernel:0"});
  dataset(g, "fc6/kernel:0", {2}, std::vector<int>{1, 2}, H5T_NATIVE_INT);
  H5Gclose(g);
  g = H5Gcreate2(f, "fc7", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  string_attr(g, "weight_names", {"fc7/kernel:0"});
  H5Gclose(g);
  H5Fclose(f);
  const std::string not_float = "'" + ints.string() + "': dataset 'fc6/kernel:0' does not hold floating-point values";
  CHECK_THROWS_WITH_AS(read_keras_h5(ints), not_float.c_str(), FileError);
  // The same file with fc6 fixed: fc7 lists a weight that is not there.
  f = H5Fopen(ints.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "fc6/fc6/kernel:0", H5P_DEFAULT);
  g = H5Gopen2(f, "fc6", H5P_DEFAULT);
  dataset(g, "fc6/kernel:0", {2}, std::vector<float>{1, 2}, H5T_NATIVE_FLOAT);
  H5Gclose(g);
  H5Fclose(f);
  CHECK_THROWS_WITH_AS(read_keras_h5(ints), doctest::Contains("dataset 'fc7/kernel:0' is listed in 'weight_names' but cannot be opened"),
                       FileError);
  fs::remove(ints);
}
