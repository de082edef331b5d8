// Keras HDF5 weights written here with the HDF5 C library (a test-only dependency) in the layouts it can produce,
// read back by the library's own reader: both file format bounds (libver earliest and latest), 4- and 8-byte
// addresses, a user block, compact / contiguous / chunked storage under every chunk index, deflate, shuffle and
// fletcher32, float32 and float64 of either byte order, fixed and variable-length names, attribute lists and
// groups large enough to go dense, a whole-model file imported into a model; and damaged files (B-tree and
// header continuation cycles, non-float and missing weights).
#include <doctest/doctest.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include <siamese/io/hdf5.hpp>
#include <siamese/model/siamese.hpp>
#include <siamese/model/zoo/vggface.hpp>

using namespace siamese;
namespace fs = std::filesystem;

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

/// How a test file is laid out: the format bounds, the width of addresses and lengths, a user block.
struct Format {
  bool latest = false;
  std::size_t addr_bytes = 8;
  hsize_t user_block = 0;
  std::string str() const {
    return std::string(latest ? "latest" : "earliest") + ", " + std::to_string(addr_bytes) + "-byte addresses" +
           (user_block ? ", user block" : "");
  }
};

hid_t create_file(const fs::path& p, const Format& fmt) {
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_sizes(fcpl, fmt.addr_bytes, fmt.addr_bytes);
  if (fmt.user_block) H5Pset_userblock(fcpl, fmt.user_block);
  H5Pset_libver_bounds(fapl, fmt.latest ? H5F_LIBVER_LATEST : H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
  hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
  REQUIRE(f >= 0);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  return f;
}

/// A dataset of the given file type, written from doubles, with the given creation properties and maximum dims.
void dataset_as(hid_t group, const std::string& path, const std::vector<hsize_t>& dims, const std::vector<double>& v,
                hid_t file_type, hid_t dcpl = H5P_DEFAULT, const std::vector<hsize_t>& max = {}) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t space = H5Screate_simple(int(dims.size()), dims.data(), max.empty() ? nullptr : max.data());
  hid_t d = H5Dcreate2(group, path.c_str(), file_type, space, lcpl, dcpl, H5P_DEFAULT);
  REQUIRE(d >= 0);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  H5Dclose(d);
  H5Sclose(space);
  H5Pclose(lcpl);
}

/// Bytes of a file, and back.
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }
std::uint64_t get64(const std::string& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return v;
}
void put64(std::string& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>(v >> (8 * i));
}
bool loads_ok(const fs::path& p) {
  try {
    read_keras_h5(p);
    return true;
  } catch (const FileError& e) {
    MESSAGE(e.what());
    return false;
  }
}
std::string error_of(const fs::path& p) {
  try {
    read_keras_h5(p);
  } catch (const FileError& e) {
    const std::string m = e.what();
    CHECK(m.rfind("'" + p.string() + "': ", 0) == 0);
    return m;
  }
  return "(loaded)";
}

using TinyEnc = VGGFaceEncoderAt<32, VGGWidths<2, 2, 3, 3, 4>>;
using Model = Siamese<TrainLast<5, TinyEnc>, Head<SqDiff, Classifier<Dense<1>>>, backend::Reference>;

float value(std::size_t layer, std::size_t j) { return float(layer) + float(j) / 1000; }

/// A whole-model Keras file (weights under "model_weights") for TinyEnc: layer_names split over two
/// attributes as Keras does for long lists, one layer's weight_names variable-length, one layer
/// stored as float64, pooling layers without weights. Returns the path.
fs::path write_tiny_keras(const Model& m, const std::string& name, const Format& fmt = {}) {
  const fs::path p = temp(name);
  hid_t f = create_file(p, fmt);
  hid_t root = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const auto& keras = vggface_layer_names();
  const auto links = vggface_weight_map(m.parameter_info());
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
      for (const auto& pi : m.parameter_info())
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

TEST_CASE("a whole-model Keras file written with the HDF5 C API imports into a partly frozen VGG") {
  for (const Format& fmt : {Format{}, Format{true}, Format{false, 4}, Format{true, 4, 512}, Format{false, 8, 1024}}) {
  CAPTURE(fmt.str());
  Model m(4);
  const fs::path p = write_tiny_keras(m, "tiny.h5", fmt);
  const ArrayFile f = read_keras_h5(p);
  CHECK(f.arrays.size() == 26);
  const auto links = vggface_weight_map(m.parameter_info());
  CHECK(import_arrays(m, f, links) == 26);
  for (std::size_t i = 0; i < links.size(); ++i)
    for (const auto& pi : m.parameter_info())
      if (pi.name == links[i].first)
        for (std::size_t j = 0; j < pi.size; ++j) REQUIRE(m.parameters()[pi.offset + j] == value(i / 2, j));
  fs::remove(p);
  }
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
  CHECK_THROWS_WITH_AS(read_keras_h5(bare), doctest::Contains("not a Keras weight file: neither a 'layer_names' attribute"), FileError);
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
  const std::string not_float = "'" + ints.string() + "': layer 'fc6': dataset 'fc6/kernel:0' does not hold floating-point values";
  CHECK_THROWS_WITH_AS(read_keras_h5(ints), not_float.c_str(), FileError);
  // The same file with fc6 fixed: fc7 lists a weight that is not there.
  f = H5Fopen(ints.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "fc6/fc6/kernel:0", H5P_DEFAULT);
  g = H5Gopen2(f, "fc6", H5P_DEFAULT);
  dataset(g, "fc6/kernel:0", {2}, std::vector<float>{1, 2}, H5T_NATIVE_FLOAT);
  H5Gclose(g);
  H5Fclose(f);
  CHECK_THROWS_WITH_AS(read_keras_h5(ints), doctest::Contains("layer 'fc7': dataset 'fc7/kernel:0' is listed in 'weight_names' but does not exist"),
                       FileError);
  fs::remove(ints);
}

namespace {
double fvalue(std::size_t j, std::size_t salt) { return double(j) * 0.25 - 3 + double(salt); }  // exact in float16 too

/// float16 as IEEE binary16 (HDF5 1.10 has no predefined type for it).
hid_t half_type() {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_precision(t, 16);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  return t;
}
}  // namespace

TEST_CASE("every storage layout, chunk index, filter and float type the HDF5 C library writes reads back exactly") {
  struct Storage {
    const char* name;
    int kind;  // 0 compact, 1 contiguous, 2 chunked
    bool deflate = false, shuffle = false, fletcher = false;
    int unlimited = 0;  // dimensions: chunk index extensible array (1) or v2 B-tree (2) under libver latest
    bool whole = false, early = false, unwritten = false;
  };
  const Storage storages[] = {
      {"compact", 0},
      {"contiguous", 1},
      {"contiguous, never written", 1, false, false, false, 0, false, false, true},
      {"chunked", 2},
      {"chunked, deflate", 2, true},
      {"chunked, shuffle, deflate", 2, true, true},
      {"chunked, fletcher32", 2, false, false, true},
      {"chunked, shuffle, deflate, fletcher32", 2, true, true, true},
      {"chunked, one unlimited dimension", 2, false, false, false, 1},
      {"chunked, one unlimited dimension, deflate", 2, true, true, false, 1},
      {"chunked, two unlimited dimensions", 2, false, false, false, 2},
      {"chunked, two unlimited dimensions, deflate", 2, true, false, false, 2},
      {"chunked, one chunk", 2, false, false, false, 0, true},
      {"chunked, one chunk, deflate", 2, true, false, false, 0, true},
      {"chunked, allocated early", 2, false, false, false, 0, false, true},
      {"chunked, never written", 2, true, false, false, 0, false, false, true},
  };
  const hid_t half = half_type();
  const hid_t types[] = {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE, half};
  const std::vector<hsize_t> dims{5, 7}, chunk{2, 3};
  for (const bool latest : {false, true}) {
    CAPTURE(latest);
    const fs::path p = temp(latest ? "layouts_latest.h5" : "layouts_earliest.h5");
    hid_t f = create_file(p, Format{latest});
    std::vector<std::string> layers;
    for (std::size_t s = 0; s < std::size(storages); ++s) layers.push_back("s" + std::to_string(s));
    string_attr(f, "layer_names", layers);
    for (std::size_t s = 0; s < std::size(storages); ++s) {
      const Storage& st = storages[s];
      hid_t g = H5Gcreate2(f, layers[s].c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      std::vector<std::string> names;
      for (std::size_t t = 0; t < std::size(types); ++t) {
        names.push_back(layers[s] + "/t" + std::to_string(t) + ":0");
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (st.kind == 0) H5Pset_layout(dcpl, H5D_COMPACT);
        if (st.kind == 2) H5Pset_chunk(dcpl, 2, st.whole ? dims.data() : chunk.data());
        if (st.shuffle) H5Pset_shuffle(dcpl);
        if (st.deflate) H5Pset_deflate(dcpl, 6);
        if (st.fletcher) H5Pset_fletcher32(dcpl);
        if (st.early) H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
        std::vector<hsize_t> max = dims;
        for (int u = 0; u < st.unlimited; ++u) max[1 - u] = H5S_UNLIMITED;
        std::vector<double> v(35);
        for (std::size_t j = 0; j < v.size(); ++j) v[j] = fvalue(j, s + t);
        if (st.unwritten) {
          hid_t space = H5Screate_simple(2, dims.data(), nullptr), lcpl = H5Pcreate(H5P_LINK_CREATE);
          H5Pset_create_intermediate_group(lcpl, 1);
          hid_t d = H5Dcreate2(g, names.back().c_str(), types[t], space, lcpl, dcpl, H5P_DEFAULT);
          REQUIRE(d >= 0);
          H5Dclose(d);
          H5Pclose(lcpl);
          H5Sclose(space);
        } else {
          dataset_as(g, names.back(), dims, v, types[t], dcpl, max);
        }
        H5Pclose(dcpl);
      }
      string_attr(g, "weight_names", names);
      H5Gclose(g);
    }
    H5Fclose(f);
    const ArrayFile a = read_keras_h5(p);
    REQUIRE(a.arrays.size() == std::size(storages) * std::size(types));
    for (std::size_t s = 0; s < std::size(storages); ++s)
      for (std::size_t t = 0; t < std::size(types); ++t) {
        CAPTURE(storages[s].name);
        CAPTURE(t);
        const NamedArray& x = a.arrays[s * std::size(types) + t];
        CHECK(x.name == layers[s] + "/t" + std::to_string(t));
        CHECK(x.shape == std::vector<std::size_t>{5, 7});
        REQUIRE(x.data.size() == 35);
        for (std::size_t j = 0; j < 35; ++j) REQUIRE(x.data[j] == (storages[s].unwritten ? 0.f : float(fvalue(j, s + t))));
      }
    fs::remove(p);
  }
  H5Tclose(half);
}

namespace {
/// A file with 300 layers of one weight each at the root (names split over layer_names0/1 as Keras splits long
/// lists) and a layer "big" with 2000 weights. Under libver latest, `dense` moves every attribute into dense
/// storage, where a list of 2000 names is a 'huge' heap object, and the groups' links are dense too.
fs::path write_many(const std::string& name, const Format& fmt, bool variable, bool dense) {
  const fs::path p = temp(name);
  hid_t f = create_file(p, fmt);
  std::vector<std::string> layers;
  for (int i = 0; i < 300; ++i) layers.push_back("layer" + std::to_string(i));
  layers.push_back("big");
  string_attr(f, "layer_names0", std::vector<std::string>(layers.begin(), layers.begin() + 150), variable);
  string_attr(f, "layer_names1", std::vector<std::string>(layers.begin() + 150, layers.end()), variable);
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (dense) {
    H5Pset_attr_phase_change(gcpl, 0, 0);
    H5Pset_link_phase_change(gcpl, 0, 0);
  }
  for (const auto& l : layers) {
    hid_t g = H5Gcreate2(f, l.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT);
    const int n = l == "big" ? 2000 : 1;
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
      names.push_back(l + "/w" + std::to_string(i) + ":0");
      dataset_as(g, names.back(), {2}, {double(i), -double(l.size())}, H5T_IEEE_F32LE);
    }
    string_attr(g, "weight_names", names, variable);
    H5Gclose(g);
  }
  H5Pclose(gcpl);
  H5Fclose(f);
  return p;
}
}  // namespace

TEST_CASE("2000 weights in a layer and 300 layers: long name lists and big groups, compact, dense or in B-trees") {
  for (const bool latest : {false, true})
    for (const bool variable : {false, true})
      for (const bool dense : {false, true}) {
        if (dense && !latest) continue;  // dense storage needs the newer object headers
        CAPTURE(latest);
        CAPTURE(variable);
        CAPTURE(dense);
        const fs::path p = write_many("many.h5", Format{latest}, variable, dense);
        const ArrayFile a = read_keras_h5(p);
        REQUIRE(a.arrays.size() == 2300);
        CHECK(a.arrays[0].name == "layer0/w0");
        CHECK(a.arrays[299].name == "layer299/w0");
        for (int i = 0; i < 2000; ++i) {
          const NamedArray& x = a.arrays[300 + std::size_t(i)];
          REQUIRE(x.name == "big/w" + std::to_string(i));
          REQUIRE(x.data == std::vector<float>{float(i), -3.f});
        }
        fs::remove(p);
      }
}

TEST_CASE("cycles in B-trees and object header continuations end in a FileError") {
  // Old format: the root group's 301 links fill a v1 B-tree with internal nodes; point one at itself.
  {
    const fs::path p = write_many("cycle_v1.h5", Format{false}, false, false);
    std::string b = slurp(p);
    std::size_t node = b.find("TREE");
    while (node != std::string::npos && !(b[node + 4] == 0 && b[node + 5] > 0)) node = b.find("TREE", node + 4);
    REQUIRE(node != std::string::npos);
    put64(b, node + 24 + 8, node);  // child 0, after the siblings and key 0
    spit(p, b);
    CHECK(error_of(p).find("links back to a node already read") != std::string::npos);
    fs::remove(p);
  }
  // New format, dense links: the root's link name index is a v2 B-tree with an internal root node.
  {
    const fs::path p = write_many("cycle_v2.h5", Format{true}, false, true);
    std::string b = slurp(p);
    bool patched = false;
    for (std::size_t h = b.find("BTHD"); h != std::string::npos && !patched; h = b.find("BTHD", h + 4)) {
      const unsigned rec = static_cast<unsigned char>(b[h + 10]) | static_cast<unsigned char>(b[h + 11]) << 8;
      const unsigned depth = static_cast<unsigned char>(b[h + 12]) | static_cast<unsigned char>(b[h + 13]) << 8;
      const std::uint64_t root = get64(b, h + 16);
      const unsigned n = static_cast<unsigned char>(b[h + 24]) | static_cast<unsigned char>(b[h + 25]) << 8;
      if (b[h + 5] != 5 || depth == 0) continue;
      put64(b, root + 6 + std::size_t(n) * rec, root);  // child 0 of the root
      patched = true;
    }
    REQUIRE(patched);
    spit(p, b);
    CHECK(error_of(p).find("links back to a node already read") != std::string::npos);
    fs::remove(p);
  }
  // A continuation message that leads back to the header it belongs to.
  {
    const fs::path p = temp("cycle_ochk.h5");
    hid_t f = create_file(p, Format{true});
    string_attr(f, "layer_names", {"l"});
    hid_t g = H5Gcreate2(f, "l", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    dataset_as(g, "w:0", {2}, {1, 2}, H5T_IEEE_F32LE);
    for (int i = 0; i < 6; ++i) string_attr(g, "note" + std::to_string(i), {std::string(200, 'x')});  // header grows
    string_attr(g, "weight_names", {"w:0"});
    H5Gclose(g);
    H5Fclose(f);
    std::string b = slurp(p);
    REQUIRE(loads_ok(p));
    const std::size_t ochk = b.find("OCHK");
    REQUIRE(ochk != std::string::npos);
    std::string addr(8, '\0');
    put64(addr, 0, ochk);
    const std::size_t at = b.find(addr);  // in the continuation message
    REQUIRE(at != std::string::npos);
    put64(b, at, b.rfind("OHDR", at));
    spit(p, b);
    CHECK(error_of(p).find("loops back to a block already read") != std::string::npos);
    fs::remove(p);
  }
}

TEST_CASE("what a file may cost is bounded by its size: absurd extents, repeated weights, repeated layers") {
  // A never-written dataset of 2^40 floats: a small file that would otherwise ask for 4 TiB.
  {
    const fs::path p = temp("absurd.h5");
    hid_t f = create_file(p, Format{true});
    string_attr(f, "layer_names", {"l"});
    hid_t g = H5Gcreate2(f, "l", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    string_attr(g, "weight_names", {"w:0"});
    const hsize_t dims[2] = {hsize_t{1} << 20, hsize_t{1} << 20}, chunk[2] = {64, 64};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), space = H5Screate_simple(2, dims, nullptr);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Dclose(H5Dcreate2(g, "w:0", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Gclose(g);
    H5Fclose(f);
    CHECK(error_of(p).find("dataset 'w:0': claims 4398046511104 bytes of values, more than a file of") != std::string::npos);
    fs::remove(p);
  }
  // One dataset of 40 KB listed 5000 times: 200 MB of arrays from a file of about 100 KB.
  {
    const fs::path p = temp("repeated.h5");
    hid_t f = create_file(p, Format{true});
    string_attr(f, "layer_names", {"l"});
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_attr_phase_change(gcpl, 0, 0);
    hid_t g = H5Gcreate2(f, "l", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    string_attr(g, "weight_names", std::vector<std::string>(5000, "w:0"));
    dataset_as(g, "w:0", {10000}, std::vector<double>(10000, 1.0), H5T_IEEE_F32LE);
    H5Gclose(g);
    H5Pclose(gcpl);
    H5Fclose(f);
    CHECK(error_of(p).find("bytes of values, more than a file of") != std::string::npos);
    fs::remove(p);
  }
  // A group of 500 members listed as 30000 layers: refused at the second listing (each group is read once).
  {
    const fs::path p = temp("relisted.h5");
    hid_t f = create_file(p, Format{true});
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_attr_phase_change(gcpl, 0, 0);
    hid_t root = H5Gcreate2(f, "model_weights", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    string_attr(root, "layer_names", std::vector<std::string>(30000, "big"));
    hid_t g = H5Gcreate2(root, "big", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    string_attr(g, "weight_names", {"w0:0"});
    for (int i = 0; i < 500; ++i) dataset_as(g, "w" + std::to_string(i) + ":0", {1}, {1.0}, H5T_IEEE_F32LE);
    H5Gclose(g);
    H5Gclose(root);
    H5Pclose(gcpl);
    H5Fclose(f);
    CHECK(error_of(p).find("layer 'big' is listed twice in 'layer_names'") != std::string::npos);
    fs::remove(p);
  }
}

namespace {
/// A Keras 3 weight file built with the HDF5 C API by `fill`, then read back.
template <class F>
fs::path keras3_file(const std::string& name, F&& fill) {
  const fs::path p = temp(name);
  hid_t f = create_file(p, Format{});
  fill(f);
  H5Fclose(f);
  return p;
}
void vars_name(hid_t f, const std::string& vars, const std::string& name) {
  if (H5Lexists(f, vars.c_str(), H5P_DEFAULT) <= 0) {  // a model's own, empty "vars" group
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Gclose(H5Gcreate2(f, vars.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT));
    H5Pclose(lcpl);
  }
  hid_t g = H5Gopen2(f, vars.c_str(), H5P_DEFAULT);
  REQUIRE(g >= 0);
  string_attr(g, "name", {name}, true);
  H5Gclose(g);
}
std::string keras3_error(const fs::path& p) {
  try {
    read_keras_h5(p);
  } catch (const FileError& e) {
    fs::remove(p);
    return e.what();
  }
  fs::remove(p);
  return "";
}
}  // namespace

TEST_CASE("Keras 3 layouts written with the HDF5 C API: names, nested layers, cells, many variables") {
  const fs::path p = keras3_file("k3.h5", [](hid_t f) {
    dataset<float>(f, "layers/dense/vars/0", {2, 3}, {1, 2, 3, 4, 5, 6}, H5T_NATIVE_FLOAT);
    dataset<float>(f, "layers/dense/vars/1", {3}, {7, 8, 9}, H5T_NATIVE_FLOAT);
    vars_name(f, "layers/dense/vars", "fc");
    dataset<float>(f, "layers/functional/layers/conv2d_1/vars/0", {1, 1, 1, 1}, {10}, H5T_NATIVE_FLOAT);
    vars_name(f, "layers/functional/vars", "backbone");
    dataset<float>(f, "layers/gru/cell/vars/0", {1, 3}, {1, 1, 1}, H5T_NATIVE_FLOAT);
    dataset<float>(f, "layers/gru/cell/vars/1", {1, 3}, {2, 2, 2}, H5T_NATIVE_FLOAT);
    dataset<float>(f, "layers/gru/cell/vars/2", {2, 3}, {3, 3, 3, 3, 3, 3}, H5T_NATIVE_FLOAT);
    vars_name(f, "layers/gru/cell/vars", "gru_cell");
    for (int i = 0; i < 11; ++i)  // "10" sorts before "2" as a name, not as an index
      dataset<float>(f, "_layer_checkpoint_dependencies/my_layer/vars/" + std::to_string(i), {1}, {float(i)},
                     H5T_NATIVE_FLOAT);
    dataset<float>(f, "optimizer/vars/0", {1}, {99}, H5T_NATIVE_FLOAT);  // a whole model's optimizer: not weights
  });
  const ArrayFile a = read_keras_h5(p);
  fs::remove(p);
  std::vector<std::string> names;
  for (const auto& x : a.arrays) names.push_back(x.name);
  std::vector<std::string> expect{"my_layer/0", "my_layer/1", "my_layer/2", "my_layer/3", "my_layer/4", "my_layer/5",
                                  "my_layer/6", "my_layer/7", "my_layer/8", "my_layer/9", "my_layer/10",
                                  "fc/kernel", "fc/bias", "backbone/conv2d_1/kernel", "gru/kernel",
                                  "gru/recurrent_kernel", "gru/bias"};
  CHECK(names == expect);
  for (int i = 0; i < 11; ++i) CHECK(a.find("my_layer/" + std::to_string(i))->data == std::vector<float>{float(i)});
  CHECK(a.find("fc/kernel")->shape == std::vector<std::size_t>{2, 3});
  CHECK(a.find("fc/bias")->data == std::vector<float>{7, 8, 9});
  CHECK(a.find("backbone/conv2d_1/kernel")->data == std::vector<float>{10});
  CHECK(a.find("gru/bias")->shape == std::vector<std::size_t>{2, 3});
}

TEST_CASE("Keras 3 layouts that are not what Keras writes: FileError naming the file and the group") {
  auto in = [](const std::string& msg, const std::string& part) {
    INFO(msg);
    return msg.find(part) != std::string::npos;
  };
  auto p = keras3_file("k3_name.h5", [](hid_t f) {
    dataset<float>(f, "layers/dense/vars/0", {1}, {1}, H5T_NATIVE_FLOAT);
    dataset<float>(f, "layers/dense/vars/kernel", {1}, {1}, H5T_NATIVE_FLOAT);
  });
  std::string e = keras3_error(p);
  CHECK(in(e, "'" + p.string() + "': root group/layers/dense/vars: holds 'kernel'"));
  p = keras3_file("k3_gap.h5", [](hid_t f) {
    dataset<float>(f, "layers/dense/vars/0", {1}, {1}, H5T_NATIVE_FLOAT);
    dataset<float>(f, "layers/dense/vars/2", {1}, {1}, H5T_NATIVE_FLOAT);
  });
  CHECK(in(keras3_error(p), "holds '2': a Keras 3 'vars' group holds the datasets 0 to 1"));
  p = keras3_file("k3_cycle.h5", [](hid_t f) {
    dataset<float>(f, "layers/dense/vars/0", {1}, {1}, H5T_NATIVE_FLOAT);
    REQUIRE(H5Lcreate_hard(f, "layers", f, "layers/dense/layers", H5P_DEFAULT, H5P_DEFAULT) >= 0);
  });
  CHECK(in(keras3_error(p), "a group reached twice"));
  p = keras3_file("k3_text.h5", [](hid_t f) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    hsize_t n = 1;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, "layers/dense/vars/0", t, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcd") >= 0);
    H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(space);
    H5Tclose(t);
  });
  CHECK(in(keras3_error(p), "root group/layers/dense/vars/0 does not hold floating-point values"));
  p = keras3_file("k3_none.h5", [](hid_t f) { H5Gclose(H5Gcreate2(f, "other", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)); });
  CHECK(in(keras3_error(p), "neither a 'layer_names' attribute (Keras 2) nor a 'layers' group (Keras 3)"));
  p = keras3_file("k3_empty.h5", [](hid_t f) { H5Gclose(H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)); });
  CHECK(in(keras3_error(p), "a Keras 3 weight file without any weight"));
}
