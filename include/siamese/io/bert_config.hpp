#pragma once
// A Hugging Face BERT model's config.json (the BertConfig fields a BERT encoder is built from). Needs
// nlohmann-json (header-only; Debian's nlohmann-json3-dev), like io/safetensors.hpp: not part of
// <siamese/siamese.hpp>.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../core/errors.hpp"

namespace siamese {

/// The architecture of a BERT encoder as transformers' BertConfig describes it (all-MiniLM-L6-v2: 30522,
/// 384, 6, 12, 1536, 512, 2, 1e-12, "gelu", 0, "absolute").
struct BertConfig {
  std::size_t vocab_size = 0;
  std::size_t hidden_size = 0;
  std::size_t num_hidden_layers = 0;
  std::size_t num_attention_heads = 0;
  std::size_t intermediate_size = 0;
  std::size_t max_position_embeddings = 0;
  std::size_t type_vocab_size = 0;
  double layer_norm_eps = 0;
  std::string hidden_act;
  std::size_t pad_token_id = 0;
  std::string position_embedding_type = "absolute";  // BertConfig's default when the file has none
};

/// Reads a config.json of a BERT model. Throws FileError naming the file, and the key where one applies,
/// when the file cannot be read or is not a JSON object; when 'model_type' is present and not "bert";
/// when one of the fields above is missing (but position_embedding_type, whose absence means "absolute"),
/// of the wrong JSON type, or out of range: sizes must be positive integers (pad_token_id and
/// type_vocab_size may be 0) below 2^31, hidden_size a multiple of num_attention_heads, pad_token_id
/// below vocab_size, layer_norm_eps a finite positive number. Other keys are ignored.
inline BertConfig read_bert_config(const std::filesystem::path& path) {
  using json = nlohmann::json;
  const std::string where = "'" + path.string() + "': ";
  std::ifstream in(path, std::ios::binary);
  if (!in || !std::filesystem::is_regular_file(path)) throw FileError(where + "cannot open file");
  std::string text;
  constexpr std::size_t max_bytes = 1 << 20;  // a config is a few hundred bytes: refuse anything absurd
  text.resize(max_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_bytes) throw FileError(where + "larger than the 1 MiB a config.json can need");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    std::string why = e.what();  // it quotes the token read last, which may be long
    if (why.size() > 300) why = why.substr(0, 300) + "...";
    throw FileError(where + "not valid JSON: " + why);
  }
  if (!j.is_object()) throw FileError(where + "not a JSON object");
  auto bad = [&](const char* key, const std::string& why) { return FileError(where + "key '" + key + "': " + why); };
  auto value = [&](const char* key) -> const json& {
    const auto it = j.find(key);
    if (it == j.end()) throw FileError(where + "has no key '" + key + "'");
    return *it;
  };
  auto string = [&](const char* key) {
    const json& v = value(key);
    if (!v.is_string()) throw bad(key, "expected a string, found " + v.dump());
    return v.get<std::string>();
  };
  auto size = [&](const char* key, std::uint64_t min) {
    const json& v = value(key);
    if (!v.is_number_integer()) throw bad(key, "expected an integer, found " + v.dump());
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() < min || v.get<std::uint64_t>() >= (std::uint64_t{1} << 31))
      throw bad(key, v.dump() + " is out of range (" + std::to_string(min) + " to 2^31 - 1)");
    return static_cast<std::size_t>(v.get<std::uint64_t>());
  };
  if (const auto it = j.find("model_type"); it != j.end() && (!it->is_string() || it->get<std::string>() != "bert"))
    throw bad("model_type", it->dump() + " is not a BERT model (\"bert\")");
  BertConfig c;
  c.vocab_size = size("vocab_size", 1);
  c.hidden_size = size("hidden_size", 1);
  c.num_hidden_layers = size("num_hidden_layers", 1);
  c.num_attention_heads = size("num_attention_heads", 1);
  c.intermediate_size = size("intermediate_size", 1);
  c.max_position_embeddings = size("max_position_embeddings", 1);
  c.type_vocab_size = size("type_vocab_size", 0);
  c.pad_token_id = size("pad_token_id", 0);
  c.hidden_act = string("hidden_act");
  const json& eps = value("layer_norm_eps");
  if (!eps.is_number()) throw bad("layer_norm_eps", "expected a number, found " + eps.dump());
  c.layer_norm_eps = eps.get<double>();
  if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps))
    throw bad("layer_norm_eps", eps.dump() + " is not a finite positive number");
  if (j.contains("position_embedding_type")) c.position_embedding_type = string("position_embedding_type");
  if (c.hidden_size % c.num_attention_heads != 0)
    throw bad("hidden_size", std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                                 std::to_string(c.num_attention_heads));
  if (c.pad_token_id >= c.vocab_size)
    throw bad("pad_token_id", std::to_string(c.pad_token_id) + " is not below vocab_size " + std::to_string(c.vocab_size));
  return c;
}

}  // namespace siamese
