// .safetensors reading: files written by the safetensors package (scripts/make_safetensors_golden.py) read back
// bit for bit, damaged and hostile headers refused with the reason, all-MiniLM-L6-v2's weights and config.json.
#include <doctest/doctest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <siamese/io/bert_config.hpp>
#include <siamese/io/safetensors.hpp>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
const fs::path data_dir = IO_DATA;

fs::path temp(const std::string& name) { return fs::temp_directory_path() / ("siamese_st_" + name); }
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
fs::path spit(const std::string& name, const std::string& bytes) {
  const fs::path p = temp(name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}
std::string le64(std::uint64_t n) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += char((n >> (8 * i)) & 0xFF);
  return s;
}
// A file of the format: the header's length, the header, the data.
std::string st_bytes(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}
std::vector<std::size_t> parse_shape(const std::string& s) {
  std::vector<std::size_t> out;
  for (const auto& d : split(s, ',')) out.push_back(std::stoull(d));
  return out;
}
// The rows of a golden .tsv file, comments left out.
std::vector<std::vector<std::string>> tsv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(p);
  REQUIRE_MESSAGE(in, "cannot read " << p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') rows.push_back(split(line, '\t'));
  return rows;
}

// Opening `bytes` as a file is refused with a FileError naming the file and holding each of `parts`.
void refused(const std::string& what, const std::string& bytes, const std::vector<std::string>& parts) {
  const fs::path p = spit("damaged.safetensors", bytes);
  INFO("damage: " << what);
  try {
    SafetensorsFile f(p);
    FAIL("accepted: " << what);
  } catch (const FileError& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find("'" + p.string() + "'") != std::string::npos);
    for (const auto& part : parts) CHECK_MESSAGE(msg.find(part) != std::string::npos, "missing: " << part);
  }
}
// The message of the FileError that f throws ("" when it throws none).
template <class F>
std::string file_error(F&& f) {
  try {
    f();
  } catch (const FileError& e) {
    return e.what();
  }
  return "";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("files written by the safetensors package read back bit for bit") {
  const auto rows = tsv(data_dir / "safetensors_golden.tsv");
  REQUIRE(rows.size() == 15);
  std::size_t floats = 0;
  for (const auto& r : rows) {
    REQUIRE(r.size() == 5);
    INFO(r[0] << " tensor " << r[1]);
    const SafetensorsFile f(data_dir / r[0]);
    const SafetensorsEntry& e = f.entry(r[1]);
    CHECK(e.dtype == r[2]);
    CHECK(e.shape == parse_shape(r[3]));
    if (r[4] == "-") {  // another dtype: not read
      CHECK(has(file_error([&] { (void)f.read(r[1]); }), "dtype " + r[2] + " is not supported"));
      continue;
    }
    const NamedArray a = f.read(r[1]);
    CHECK(a.name == r[1]);
    CHECK(a.shape == e.shape);
    const auto want = r[4] == "." ? std::vector<std::string>{} : split(r[4], ' ');
    REQUIRE(a.data.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      const auto bits = static_cast<std::uint32_t>(std::stoul(want[i], nullptr, 16));
      const float w = std::bit_cast<float>(bits);
      INFO("value " << i << ": expected bits " << want[i] << ", got " << std::hex << std::bit_cast<std::uint32_t>(a.data[i]));
      if (std::isnan(w)) CHECK(std::isnan(a.data[i]));  // torch and the library pick different NaN payloads
      else CHECK(std::bit_cast<std::uint32_t>(a.data[i]) == bits);
      ++floats;
    }
  }
  CHECK(floats == 1 + 5 + 12 + 12 + 32 + 14 + 15 + 13 + 6 + 3 + 2);
  // every tensor of each file is in the table, and they are listed in the order of their bytes
  for (const char* name : {"golden_f32.safetensors", "golden_f16.safetensors", "golden_bf16.safetensors",
                           "golden_mixed.safetensors", "golden_f64.safetensors"}) {
    const SafetensorsFile f(data_dir / name);
    std::size_t n = 0;
    for (const auto& r : rows) n += r[0] == name;
    CHECK(f.tensors().size() == n);
    for (std::size_t i = 1; i < f.tensors().size(); ++i) CHECK(f.tensors()[i - 1].end == f.tensors()[i].begin);
  }
}

TEST_CASE("metadata, read_all, read_into and the dtypes that are not read") {
  const SafetensorsFile f32(data_dir / "golden_f32.safetensors");
  CHECK(f32.metadata().size() == 2);
  CHECK(f32.metadata().at("format") == "np");
  CHECK(f32.metadata().at("written_by") == "scripts/make_safetensors_golden.py");
  CHECK(SafetensorsFile(data_dir / "golden_f16.safetensors").metadata().empty());

  const NamedArray m = f32.read("matrix");
  std::vector<float> buf(12, -1.0f);
  f32.read_into("matrix", std::vector<std::size_t>{3, 4}, buf);
  CHECK(buf == m.data);
  const std::string file = (data_dir / "golden_f32.safetensors").string();
  const auto wrong = file_error([&] { f32.read_into("matrix", std::vector<std::size_t>{4, 3}, buf); });
  CHECK(has(wrong, "'" + file + "': tensor 'matrix': has shape (3, 4), expected (4, 3)"));
  CHECK_THROWS_AS(f32.read_into("matrix", std::vector<std::size_t>{3, 5}, buf), ShapeError);
  CHECK(has(file_error([&] { (void)f32.read("no.such"); }), "'" + file + "': has no tensor 'no.such'"));
  CHECK(f32.find("no.such") == nullptr);
  CHECK(f32.read("empty").data.empty());
  CHECK(f32.read("scalar").shape.empty());

  // integer buffers are left out of read_all, other float dtypes refused
  const ArrayFile mixed = read_safetensors(data_dir / "golden_mixed.safetensors");
  CHECK(mixed.arrays.size() == 4);
  CHECK(mixed.find("embeddings.position_ids") == nullptr);
  REQUIRE(mixed.find("norm.weight") != nullptr);
  CHECK(mixed.find("norm.weight")->shape == std::vector<std::size_t>{2});
  const SafetensorsFile mf(data_dir / "golden_mixed.safetensors");
  CHECK(has(file_error([&] { (void)mf.read("embeddings.position_ids"); }),
            "tensor 'embeddings.position_ids': dtype I64 is not supported: only F32, F16 and BF16"));
  const auto f64 = file_error([&] { (void)read_safetensors(data_dir / "golden_f64.safetensors"); });
  CHECK(has(f64, "golden_f64.safetensors': tensor 'double': dtype F64 is not supported"));
}

TEST_CASE("damaged copies of a golden file are refused with the reason") {
  const std::string good = slurp(data_dir / "golden_f32.safetensors");
  REQUIRE(good.size() > 100);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(good[std::size_t(i)]);
  REQUIRE(n < good.size());
  const std::string header = good.substr(8, n);
  CHECK_NOTHROW(SafetensorsFile(spit("good.safetensors", good)));

  refused("cut in the data", good.substr(0, good.size() - 1), {"run past the end of the data", "tensor '"});
  refused("cut in the header", good.substr(0, 8 + n / 2), {"header length " + std::to_string(n), "runs past the end of the file"});
  refused("cut in the length", good.substr(0, 5), {"truncated: 5 bytes", "8-byte header length"});
  refused("empty file", "", {"truncated: 0 bytes"});
  refused("header length over the limit", le64(200'000'000) + good.substr(8), {"header length 200000000 exceeds", "100000000"});
  refused("header length of the whole file", le64(good.size()) + good.substr(8), {"runs past the end of the file"});
  refused("header length too short", le64(header.rfind('}')) + good.substr(8), {"not valid JSON"});
  refused("header length 0", le64(0) + good.substr(8), {"does not start with '{'"});
  std::string flipped = good;
  flipped[8 + n / 2] = '\xff';  // inside a name or a number: no longer UTF-8 JSON
  refused("a byte of the header changed", flipped, {"not valid JSON"});
  refused("one more data byte", good + "x", {"at the end of the data belong to no tensor"});
}

TEST_CASE("hostile headers are refused with the reason and the tensor") {
  const std::string d8(8, '\x01'), d12(12, '\x02');
  const std::string a4 = R"("a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  refused("not JSON", st_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})", "1234"),
          {"not valid JSON"});
  refused("not an object", st_bytes("[1, 2]", ""), {"does not start with '{'"});
  refused("trailing garbage", st_bytes("{" + a4 + "} x", std::string(4, '\0')), {"not valid JSON"});
  refused("a NUL byte", st_bytes("{" + a4 + std::string("}\0", 2), "1234"), {"NUL byte"});
  refused("offsets past the data", st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "1234"),
          {"tensor 'a'", "data_offsets [0, 8] run past the end of the data (4 bytes)"});
  refused("reversed offsets", st_bytes(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})", "1234"),
          {"tensor 'a'", "end before they begin"});
  refused("overlap", st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", d12),
          {"tensor 'b'", "overlap tensor 'a'"});
  refused("the same bytes twice", st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", d8),
          {"overlap tensor '"});
  refused("gap", st_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                              "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", d12),
          {"tensor 'b'", "a gap: bytes [4, 8)", "cover the data exactly"});
  refused("gap at the start", st_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", d8),
          {"tensor 'a'", "a gap: bytes [0, 4)"});
  refused("bytes after the last tensor", st_bytes("{" + a4 + "}", d8), {"bytes [4, 8) at the end of the data belong to no tensor"});
  refused("wrong dtype size", st_bytes(R"({"a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "shape (3) of F16 (16 bits each) does not fill its data_offsets [0, 4] of 4 bytes"});
  refused("F32 in half the bytes", st_bytes(R"({"a": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "does not fill"});
  refused("duplicate names", st_bytes("{" + a4 + ", " + a4 + "}", "1234"), {"tensor 'a'", "the name appears twice"});
  refused("duplicate keys", st_bytes(R"({"a": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "key 'dtype' appears twice"});
  refused("negative extent", st_bytes(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "negative extent -1"});
  refused("fractional extent", st_bytes(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "extent 1.5 in 'shape' is not a non-negative integer"});
  refused("extent beyond 64 bits", st_bytes(R"({"a": {"dtype": "F32", "shape": [18446744073709551616], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "not a non-negative integer"});
  refused("overflowing shape", st_bytes(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 2], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "has more elements than 64 bits count"});
  refused("overflowing byte count", st_bytes(R"({"a": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", ""),
          {"tensor 'a'", "does not fill"});
  refused("unknown dtype", st_bytes(R"({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "unknown dtype 'F128'"});
  refused("no shape", st_bytes(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", "1234"), {"tensor 'a'", "no 'shape'"});
  refused("offsets not a pair", st_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", "1234"),
          {"tensor 'a'", "'data_offsets' is not a pair"});
  refused("negative offset", st_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", "1234"),
          {"tensor 'a'", "'data_offsets' is not a pair of non-negative integers"});
  refused("description not an object", st_bytes(R"({"a": [1]})", ""), {"tensor 'a'", "not a JSON object"});
  refused("nesting", st_bytes(R"({"a": {"dtype": "F32", "shape": [[1]], "data_offsets": [0, 4]}})", "1234"),
          {"tensor 'a'", "nests deeper"});
  refused("deep nesting", st_bytes("{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}", ""),
          {"tensor 'a'", "nests deeper"});
  refused("metadata of numbers", st_bytes(R"({"__metadata__": {"n": 1}, )" + a4 + "}", "1234"),
          {"'__metadata__' key 'n' is not a string"});
  refused("metadata not a map", st_bytes(R"({"__metadata__": "x"})", ""), {"'__metadata__' is not a map of strings"});
}

TEST_CASE("what the format allows is accepted") {
  SUBCASE("no tensors") {
    const SafetensorsFile f(spit("empty.safetensors", st_bytes("{}", "")));
    CHECK(f.tensors().empty());
    CHECK(read_safetensors(temp("empty.safetensors")).arrays.empty());
  }
  SUBCASE("a header padded with spaces, empty tensors sharing offsets, huge extents times zero") {
    const SafetensorsFile f(spit("edge.safetensors", st_bytes(R"({"z": {"dtype": "BF16", "shape": [3, 0], "data_offsets": [4, 4]},
        "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "e": {"dtype": "F64", "shape": [0], "data_offsets": [0, 0]},
        "h": {"dtype": "F16", "shape": [4294967296, 4294967296, 4294967296, 0], "data_offsets": [4, 4]},
        "x": {"dtype": "F32", "shape": [], "data_offsets": [4, 8], "extra": "ignored"}})" + std::string(13, ' '),
        std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8))));
    REQUIRE(f.tensors().size() == 5);
    CHECK(f.tensors()[0].name == "e");
    CHECK(f.tensors()[1].name == "a");
    CHECK(f.read("a").data == std::vector<float>{1.0f});
    CHECK(f.read("x").data == std::vector<float>{-2.0f});
    CHECK(f.read("z").data.empty());
    CHECK(f.read("h").data.empty());
  }
}

TEST_CASE("a header of many tensors opens in linear time") {
  // nlohmann's parser with a callback rescans an object at each member's end: 100000 tensors took minutes
  constexpr std::size_t n = 100000;
  std::string header = "{";
  for (std::size_t i = 0; i < n; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"BF16","shape":[1],"data_offsets":[)" +
              std::to_string(2 * i) + "," + std::to_string(2 * i + 2) + "]}";
  header += "}";
  const fs::path p = spit("many.safetensors", st_bytes(header, std::string(2 * n, '\x3f')));
  const auto start = std::chrono::steady_clock::now();
  const SafetensorsFile f(p);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(f.tensors().size() == n);
  CHECK(f.read("t99999").data == std::vector<float>{std::bit_cast<float>(0x3f3f0000u)});
  CHECK(secs < 20);  // about 1 s here, even under the sanitizers; quadratic work would take minutes
}

TEST_CASE("config.json of a BERT model") {
  const std::string good = R"({"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 384,
    "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30522})";
  const BertConfig c = read_bert_config(spit("config.json", good));
  CHECK(c.vocab_size == 30522);
  CHECK(c.hidden_size == 384);
  CHECK(c.num_hidden_layers == 6);
  CHECK(c.num_attention_heads == 12);
  CHECK(c.intermediate_size == 1536);
  CHECK(c.max_position_embeddings == 512);
  CHECK(c.type_vocab_size == 2);
  CHECK(c.layer_norm_eps == 1e-12);
  CHECK(c.hidden_act == "gelu");
  CHECK(c.pad_token_id == 0);
  CHECK(c.position_embedding_type == "absolute");

  auto refused_config = [&](const std::string& text, const std::string& part) {
    const fs::path p = spit("bad_config.json", text);
    const std::string msg = file_error([&] { (void)read_bert_config(p); });
    INFO("message: " << msg);
    CHECK(has(msg, "'" + p.string() + "': " + part));
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  refused_config(replaced("\"vocab_size\": 30522", "\"vocab\": 30522"), "has no key 'vocab_size'");
  refused_config(replaced("\"hidden_size\": 384", "\"hidden_size\": \"384\""), "key 'hidden_size': expected an integer, found \"384\"");
  refused_config(replaced("\"hidden_size\": 384", "\"hidden_size\": 384.5"), "key 'hidden_size': expected an integer");
  refused_config(replaced("\"num_hidden_layers\": 6", "\"num_hidden_layers\": -6"), "key 'num_hidden_layers': -6 is out of range");
  refused_config(replaced("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 0"), "key 'num_hidden_layers': 0 is out of range");
  refused_config(replaced("\"num_attention_heads\": 12", "\"num_attention_heads\": 5"),
                 "key 'hidden_size': 384 is not a multiple of num_attention_heads 5");
  refused_config(replaced("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": -1"), "key 'layer_norm_eps': -1 is not a finite positive");
  refused_config(replaced("\"hidden_act\": \"gelu\"", "\"hidden_act\": 1"), "key 'hidden_act': expected a string");
  refused_config(replaced("\"model_type\": \"bert\"", "\"model_type\": \"roberta\""), "key 'model_type': \"roberta\" is not a BERT model");
  refused_config(replaced("\"pad_token_id\": 0", "\"pad_token_id\": 30522"), "key 'pad_token_id': 30522 is not below vocab_size");
  refused_config(good.substr(0, good.size() - 1), "not valid JSON");
  refused_config("[1]", "not a JSON object");
  CHECK(has(file_error([] { (void)read_bert_config(temp("no_such_config.json")); }), "cannot open file"));
}

TEST_CASE("MiniLM: all-MiniLM-L6-v2's model.safetensors and config.json as the safetensors package reads them") {
  const char* dir = std::getenv("SIAMESE_MINILM_DIR");
  if (dir == nullptr || *dir == '\0')
    FAIL("SIAMESE_MINILM_DIR is not set: run `export SIAMESE_MINILM_DIR=$(scripts/fetch_minilm)` (it prints the "
         "folder of all-MiniLM-L6-v2's files, fetching them once)");
  const fs::path folder = dir;
  REQUIRE_MESSAGE(fs::exists(folder / "model.safetensors"), "no model.safetensors in SIAMESE_MINILM_DIR=" << dir
                                                               << ": run scripts/fetch_minilm");
  const SafetensorsFile f(folder / "model.safetensors");
  const auto rows = tsv(data_dir / "minilm_safetensors.tsv");
  REQUIRE(rows.size() == 105);
  CHECK(rows[0][0] == "__metadata__");
  CHECK(rows[0][1] == R"({"format": "pt"})");
  CHECK(f.metadata().size() == 1);
  CHECK(f.metadata().at("format") == "pt");
  REQUIRE(f.tensors().size() == rows.size() - 1);
  std::size_t summed = 0;
  for (std::size_t i = 0; i < f.tensors().size(); ++i) {
    const auto& e = f.tensors()[i];
    const auto& r = rows[i + 1];
    INFO("tensor " << r[0]);
    CHECK(e.name == r[0]);
    CHECK(e.dtype == r[1]);
    CHECK(e.shape == parse_shape(r[2]));
    if (e.dtype != "F32") continue;
    const NamedArray a = f.read(e.name);
    long double sum = 0, abs = 0;
    for (float v : a.data) sum += v, abs += std::fabs(v);
    CHECK(std::fabs(double(sum) - std::stod(r[3])) <= 1e-12 * double(abs) + 1e-300);
    ++summed;
  }
  CHECK(summed == 103);
  const auto* w = f.find("embeddings.word_embeddings.weight");
  REQUIRE(w != nullptr);
  CHECK(w->shape == std::vector<std::size_t>{30522, 384});
  CHECK(f.entry("encoder.layer.5.intermediate.dense.weight").shape == std::vector<std::size_t>{1536, 384});
  CHECK(f.entry("embeddings.position_ids").dtype == "I64");
  std::vector<float> ln(384);
  f.read_into("embeddings.LayerNorm.weight", std::vector<std::size_t>{384}, ln);
  CHECK(ln == f.read("embeddings.LayerNorm.weight").data);
  CHECK(read_safetensors(folder / "model.safetensors").arrays.size() == 103);

  const BertConfig c = read_bert_config(folder / "config.json");
  CHECK(c.vocab_size == w->shape[0]);
  CHECK(c.hidden_size == w->shape[1]);
  CHECK(c.num_hidden_layers == 6);
  CHECK(c.num_attention_heads == 12);
  CHECK(c.intermediate_size == 1536);
  CHECK(c.max_position_embeddings == f.entry("embeddings.position_embeddings.weight").shape[0]);
  CHECK(c.type_vocab_size == 2);
  CHECK(c.layer_norm_eps == 1e-12);
  CHECK(c.hidden_act == "gelu");
  CHECK(c.pad_token_id == 0);
}
