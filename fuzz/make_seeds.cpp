// Writes the seed corpus of every fuzz target into DIR/<target>/: small valid files of each format and a few edge
// cases. Built and run by `scripts/fuzz --seeds`; the output is committed under fuzz/corpus/.
#include <siamese/data/tokenizer.hpp>
#include <siamese/eval/index.hpp>
#include <siamese/io/file_format.hpp>
#include <siamese/io/weights.hpp>
#include <siamese/loss/losses.hpp>
#include <siamese/model/batches.hpp>
#include <siamese/optim/optimizers.hpp>
#include <siamese/train/checkpoint.hpp>
#include <zlib.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "small_model.hpp"

namespace fs = std::filesystem;

namespace {
fs::path root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
// A checksummed file without its last 4 bytes: the form the fuzz targets take (they append the CRC).
std::string without_crc(const fs::path& p) {
  std::string s = slurp(p);
  s.resize(s.size() - 4);
  return s;
}
std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
std::string gzip(const std::string& s) {
  const fs::path tmp = fs::temp_directory_path() / "siamese_seed.gz";
  gzFile f = gzopen(tmp.c_str(), "wb9");
  gzwrite(f, s.data(), static_cast<unsigned>(s.size()));
  gzclose(f);
  return slurp(tmp);
}
template <class T>
void le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out += char((v >> (8 * i)) & 0xFF);
}
// A zip archive of stored (uncompressed) entries, as np.savez writes without compression.
std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, dir;
  for (const auto& [name, body] : entries) {
    const auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size())));
    const auto offset = static_cast<std::uint32_t>(out.size());
    le<std::uint32_t>(out, 0x04034b50);
    le<std::uint16_t>(out, 20), le<std::uint16_t>(out, 0), le<std::uint16_t>(out, 0);
    le<std::uint32_t>(out, 0), le<std::uint32_t>(out, crc);
    le<std::uint32_t>(out, std::uint32_t(body.size())), le<std::uint32_t>(out, std::uint32_t(body.size()));
    le<std::uint16_t>(out, std::uint16_t(name.size())), le<std::uint16_t>(out, 0);
    out += name + body;
    le<std::uint32_t>(dir, 0x02014b50);
    le<std::uint16_t>(dir, 20), le<std::uint16_t>(dir, 20), le<std::uint16_t>(dir, 0), le<std::uint16_t>(dir, 0);
    le<std::uint32_t>(dir, 0), le<std::uint32_t>(dir, crc);
    le<std::uint32_t>(dir, std::uint32_t(body.size())), le<std::uint32_t>(dir, std::uint32_t(body.size()));
    le<std::uint16_t>(dir, std::uint16_t(name.size())), le<std::uint16_t>(dir, 0), le<std::uint16_t>(dir, 0);
    le<std::uint16_t>(dir, 0), le<std::uint16_t>(dir, 0), le<std::uint32_t>(dir, 0), le<std::uint32_t>(dir, offset);
    dir += name;
  }
  const auto cd = static_cast<std::uint32_t>(out.size());
  out += dir;
  le<std::uint32_t>(out, 0x06054b50);
  le<std::uint16_t>(out, 0), le<std::uint16_t>(out, 0);
  le<std::uint16_t>(out, std::uint16_t(entries.size())), le<std::uint16_t>(out, std::uint16_t(entries.size()));
  le<std::uint32_t>(out, std::uint32_t(dir.size())), le<std::uint32_t>(out, cd), le<std::uint16_t>(out, 0);
  return out;
}
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  le<std::uint16_t>(out, std::uint16_t(h.size()));
  return out + h + data;
}

void idx_seeds() {
  std::string images = be32(0x803) + be32(2) + be32(3) + be32(2);
  for (int i = 0; i < 12; ++i) images += char(i * 21);
  std::string labels = be32(0x801) + be32(3) + std::string("\x01\x07\x00", 3);
  put("idx", "images.idx3", images);
  put("idx", "labels.idx1", labels);
  put("idx", "images.idx3.gz", gzip(images));
  put("idx", "labels.idx1.gz", gzip(labels));
  put("idx", "empty_set.idx3", be32(0x803) + be32(0) + be32(28) + be32(28));
  put("idx", "truncated.idx3", images.substr(0, images.size() - 3));
}

void csv_seeds() {  // first byte: options (delimiter ',', strict, fields from the first record; bit 2: lenient)
  put("glove", "three.txt", "the 0.1 -0.2 3e-1\ncat 1 2 3\r\nunknown 4 5 6\n\nmat 7 8 9\n");
  put("glove", "bad_count.txt", "the 0.1 0.2\n");
  put("glove", "bad_value.txt", "the 0.1 x 0.3\n");
  put("csv", "plain.csv", std::string(1, '\0') + "a,b,c\n1,2,3\n4,5,6\n");
  put("csv", "quoted.csv", std::string(1, '\0') + "id,text\r\n1,\"say \"\"hi\"\",\r\nthen\"\r\n2,\"\"\r\n");
  put("csv", "bom_cr.csv", std::string(1, '\0') + "\xEF\xBB\xBFx,y\r1,2\r\r3,4");
  put("csv", "malformed_lenient.csv", std::string(1, '\x04') + "a,b\n1,x\"y\n\"open,2\n3,4\n5\n\"q\"z,6\n7,\"unterminated");
  put("csv", "semicolon_tab.csv", std::string(1, '\x01') + "a;b;c\n;;\n\";\";x;\n");
}

void quora_seeds() {
  const std::string head = "\"id\",\"qid1\",\"qid2\",\"question1\",\"question2\",\"is_duplicate\"\n";
  put("quora", "train.csv",
      head + "\"0\",\"1\",\"2\",\"What is a Siamese network?\",\"What are Siamese networks?\",\"1\"\n"
             "\"1\",\"3\",\"4\",\"How, exactly?\",\"Why\nnot?\",\"0\"\n2,5,6,,,0\n");
  put("quora", "bad_label.csv", head + "0,1,2,a,b,2\n1,3,4,c,d,1\n");
  put("quora", "test_like.csv", "test_id,question1,question2\n0,a,b\n");
  put("quora", "short_row.csv", head + "0,1,2,a\n");
}

void tokenizer_seeds() {
  siamese::TokenizerOptions o;
  o.oov_token = "<OOV>";
  o.num_words = 6;
  siamese::Tokenizer t(o);
  t.fit_on_texts({"The cat sat on the mat.", "The dog ate my homework!", "tab\there back\\slash \xC3\xA9t\xC3\xA9"});
  std::ostringstream a;
  t.save(a);
  put("tokenizer_file", "words.tok", a.str());
  siamese::TokenizerOptions c;
  c.char_level = true;
  c.lower = false;
  siamese::Tokenizer ct(c);
  ct.fit_on_texts({"abba", "C d"});
  std::ostringstream b;
  ct.save(b);
  put("tokenizer_file", "chars.tok", b.str());
  put("tokenizer_file", "huge_count.tok",
      "siamese-tokenizer 1\nnum_words=0\nlower=1\nchar_level=0\nsplit=\\x20\nfilters=\nhas_oov_token=0\n"
      "oov_token=\ndocument_count=1\nwords=9999999999999999999\n3 1 a\n");
  put("tokenizer_file", "crlf.tok", std::string("siamese-tokenizer 1\r\nnum_words=0\r\nlower=0\r\nchar_level=0\r\n"
                                                "split=,\r\nfilters=\r\nhas_oov_token=1\r\noov_token=?\r\n"
                                                "document_count=2\r\nwords=1\r\n2 2 x\\x0ay\r\n"));
  // tokenizer_text: byte 0 options (lower, char_level, oov, no filters), byte 1 num_words % 8, byte 2 split.
  put("tokenizer_text", "words.txt", std::string("\x05\x00 ", 3) + "The cat sat.\nThe dog, the cat!\n\xC3\xA9t\xC3\xA9 \xE2\x82\xAC");
  put("tokenizer_text", "chars.txt", std::string("\x02\x04 ", 3) + "abc\nA\xF0\x9F\x98\x80z\n\xFF\xC3");
  put("tokenizer_text", "split.txt", std::string("\x09\x03,", 3) + "a,b,,c\n,,\nx,y");
}

void wordpiece_seeds() {
  // wordpiece: byte 0 options (lower_case, strip_accents set, its value, CJK, short max word), byte 1 max_len.
  put("wordpiece", "english.txt", std::string("\x09\x7c", 2) + "The runner's unaffable caf\xC3\xA9, na\xC3\xAFve!");
  put("wordpiece", "cased_strip.txt", std::string("\x06\x20", 2) + "CAF\xC3\x89 \xCE\xA3 \xC4\xB0 e\xCC\x81");
  put("wordpiece", "cjk_specials.txt", std::string("\x19\x0c", 2) + "[CLS]\xE4\xB8\xAD\xE6\x96\x87[MASK] \xED\x95\x9C [SEP]x");
  static const char broken[] = "\x01\xff" "a\xFF\xE2\x82" "b\x00\t\r\n\xE2\x80\x8B\xF0\x9D\x85\xAD\xF0\x9D\x85\xA5";
  put("wordpiece", "broken.txt", std::string(broken, sizeof broken - 1));
  put("wordpiece", "long_word.txt", std::string("\x01\x40", 2) + std::string(120, 'a') + " " + std::string(60, 'b'));
  const std::string specials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
  put("wordpiece_vocab", "bert.txt", specials + "[MASK]\nthe\nun\n##aff\n##able\ncaf\xC3\xA9\n\xE4\xB8\xAD\n!\n");
  put("wordpiece_vocab", "crlf.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\na\r\n##a");
  put("wordpiece_vocab", "duplicate.txt", specials + "a\na\n");
  put("wordpiece_vocab", "pad_not_first.txt", "[UNK]\n[PAD]\n[CLS]\n[SEP]\n");
  put("wordpiece_vocab", "bad_utf8.txt", specials + "caf\xC3\n");
}

void weight_seeds() {
  using fuzz::Model;
  const fs::path tmp = fs::temp_directory_path() / "siamese_seed.bin";
  Model m(3);
  siamese::save_weights(m, tmp);
  put("weight_file", "weights.bin", without_crc(tmp));
  put("checkpoint", "weights.bin", without_crc(tmp));
  siamese::TripletBatch b;
  b.anchor = b.positive = b.negative = siamese::Tensor({2, 3});
  for (std::size_t i = 0; i < 6; ++i)
    b.anchor[i] = 0.1f * float(i), b.positive[i] = 0.2f - 0.05f * float(i), b.negative[i] = 1.0f - 0.3f * float(i);
  siamese::Adam opt;
  m.train_step(b, siamese::TripletLoss{}, opt);
  siamese::TrainingState s;
  s.epochs_done = 1;
  s.learning_rate = 1e-3f;
  s.loss = {0.7};
  s.lr = {1e-3};
  s.best_val = 0.5;
  siamese::save_checkpoint(m, s, tmp);
  put("checkpoint", "checkpoint.bin", without_crc(tmp));
  put("weight_file", "checkpoint.bin", without_crc(tmp));
  siamese::WeightFile f{"weights", "", {{"scalar", {}, {1.5f}}, {"empty", {0, 3}, {}}}};
  siamese::write_weight_file(tmp, f);
  put("weight_file", "edge_shapes.bin", without_crc(tmp));
  fs::remove(tmp);
}

void index_seeds() {
  const fs::path tmp = fs::temp_directory_path() / "siamese_seed.idx";
  siamese::EmbeddingIndex a(3);
  a.add(std::vector<float>{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, std::vector<int>{0, 1, 1, 2, -1});
  a.save(tmp);
  put("index", "five_rows.idx", without_crc(tmp));
  siamese::EmbeddingIndex c(2, siamese::Distance::Cosine);
  c.add(std::vector<float>{0, 0, 1, 2});
  c.save(tmp);
  put("index", "cosine_zero_row.idx", without_crc(tmp));
  siamese::EmbeddingIndex e(17, siamese::Distance::Euclidean);
  e.save(tmp);
  put("index", "empty.idx", without_crc(tmp));
  // Format 2: int8 codes with the float rows and a model signature; binary codes over two words without them.
  siamese::EmbeddingIndex i8(3, siamese::Distance::SquaredEuclidean,
                             {.codes = siamese::IndexCodes::Int8, .keep_float = true, .model_signature = "Embedder[x]"});
  i8.add(std::vector<float>{0, 0.5f, -1, 1, 0, 0, 0, 1, 0.25f}, std::vector<int>{0, 1, 1});
  i8.save(tmp);
  put("index", "int8_signed.idx", without_crc(tmp));
  std::vector<float> rows(4 * 70);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = float((i * 37) % 11) - 5.0f;
  siamese::EmbeddingIndex bin(70, siamese::Distance::Cosine, {.codes = siamese::IndexCodes::Binary});
  bin.add(rows, std::vector<int>{3, 1, 4, 1});
  bin.save(tmp);
  put("index", "binary_70.idx", without_crc(tmp));
  fs::remove(tmp);
}

void npz_seeds(const fs::path& numpy_files) {  // numpy's own files from the zoo tests' data, when there
  std::string f4, f8;
  for (int i = 0; i < 6; ++i) le<std::uint32_t>(f4, 0x3F800000u + std::uint32_t(i) * 0x100000u);
  le<std::uint64_t>(f8, 0x4000000000000000ull);
  put("npz", "stored.npz", zip_stored({{"w/kernel.npy", npy("<f4", "(2, 3)", f4)}, {"b.npy", npy("<f8", "()", f8)}}));
  put("npz", "empty_array.npz", zip_stored({{"e.npy", npy("<f4", "(0,)", "")}}));
  for (const char* name : {"numpy_deflated.npz", "numpy_stored.npz"})
    if (fs::exists(numpy_files / name)) put("npz", name, slurp(numpy_files / name));
}
void to_string_cb(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<char*>(data), std::size_t(size));
}

void image_seeds() {
  unsigned char rgb[4 * 3 * 3], grey_alpha[5 * 2 * 2];
  for (std::size_t i = 0; i < sizeof rgb; ++i) rgb[i] = static_cast<unsigned char>(i * 7);
  for (std::size_t i = 0; i < sizeof grey_alpha; ++i) grey_alpha[i] = static_cast<unsigned char>(255 - i * 11);
  std::string png, grey, jpg, jpg_grey;
  stbi_write_png_to_func(to_string_cb, &png, 4, 3, 3, rgb, 4 * 3);
  stbi_write_png_to_func(to_string_cb, &grey, 5, 2, 2, grey_alpha, 5 * 2);
  stbi_write_jpg_to_func(to_string_cb, &jpg, 4, 3, 3, rgb, 90);
  stbi_write_jpg_to_func(to_string_cb, &jpg_grey, 5, 2, 2, grey_alpha, 50);
  put("images", "rgb.png", png);
  put("images", "grey_alpha.png", grey);
  put("images", "rgb.jpg", jpg);
  put("images", "grey.jpg", jpg_grey);
  put("images", "truncated.png", png.substr(0, png.size() / 2));
}

void hdf5_seeds(const fs::path& data) {  // written by h5py: the old format, libver='latest', a small compact one
  for (const char* name : {"keras_weights.h5", "keras_latest.h5", "keras_tiny.h5"})
    if (fs::exists(data / name)) put("hdf5", name, slurp(data / name));
}

// Written by the safetensors package (tests/io/data/), and two made here: the smallest file and one tensor.
void safetensors_seeds(const fs::path& data) {
  auto file = [](const std::string& header, const std::string& bytes) {
    std::string s;
    le<std::uint64_t>(s, header.size());
    return s + header + bytes;
  };
  put("safetensors", "empty.safetensors", file("{}", ""));
  put("safetensors", "one.safetensors",
      file(R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}})",
           std::string("\x00\x00\x80\x3f", 4)));
  for (const char* name : {"golden_f32.safetensors", "golden_f16.safetensors", "golden_bf16.safetensors",
                           "golden_mixed.safetensors"})
    if (fs::exists(data / name)) put("safetensors", name, slurp(data / name));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_seeds DIR [ZOO_TEST_DATA_DIR [IO_TEST_DATA_DIR]]\n");
    return 2;
  }
  root = argv[1];
  idx_seeds();
  csv_seeds();
  quora_seeds();
  tokenizer_seeds();
  wordpiece_seeds();
  weight_seeds();
  index_seeds();
  npz_seeds(argc > 2 ? argv[2] : "");
  image_seeds();
  hdf5_seeds(argc > 2 ? argv[2] : "");
  safetensors_seeds(argc > 3 ? argv[3] : "");
  return 0;
}
