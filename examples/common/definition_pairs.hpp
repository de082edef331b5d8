#pragma once
// The text examples' data: the WordNet/GCIDE definition pairs of scripts/make_text_pairs, generated on demand.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <siamese/data/quora.hpp>

#ifndef SIAMESE_SOURCE_DIR
#define SIAMESE_SOURCE_DIR "."
#endif

namespace examples {

/// Runs scripts/make_text_pairs into a fresh temporary folder; returns the CSV's path.
inline std::filesystem::path make_definition_pairs() {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "text_similarity_XXXXXX").string();
  if (!mkdtemp(dir.data())) throw std::runtime_error("cannot create a temporary folder in " + dir);
  const fs::path csv = fs::path(dir) / "definition_pairs.csv";
  const std::string script = std::string(SIAMESE_SOURCE_DIR) + "/scripts/make_text_pairs";
  std::printf("no --train given: generating the WordNet/GCIDE definition pairs with %s into %s\n", script.c_str(),
              dir.c_str());
  std::fflush(stdout);
  if (std::system(("'" + script + "' '" + csv.string() + "' --max-words 1000000").c_str()) != 0)
    throw std::runtime_error(script + " failed (it needs python3 and the wordnet-base and dict-gcide data)");
  return csv;
}

/// The text examples' splits: the test pairs (the --test file, or a seeded 20% of the training file), then a 10%
/// validation split of the rest. With no training file, the definition pairs are generated and removed after
/// loading. Prints the "data:" line.
struct TextSplits {
  std::vector<siamese::QuestionPair> train, validation, test;
};
inline TextSplits load_text_splits(const std::string& train, const std::string& test, std::uint64_t seed) {
  namespace fs = std::filesystem;
  const bool generated = train.empty();
  const fs::path train_file = generated ? make_definition_pairs() : fs::path(train);
  const siamese::QuoraData all = siamese::load_quora(train_file.string(), /*lenient=*/true);
  if (generated) fs::remove_all(train_file.parent_path());
  siamese::PairSplit outer = test.empty() ? siamese::split(all.pairs, 0.2, seed) : siamese::PairSplit{all.pairs, {}};
  TextSplits s;
  s.test = test.empty() ? std::move(outer.validation) : siamese::load_quora(test, true).pairs;
  siamese::PairSplit tv = siamese::split(outer.train, 0.1, seed + 1);
  s.train = std::move(tv.train);
  s.validation = std::move(tv.validation);
  std::printf("data: %zu training, %zu validation, %zu test pairs (%zu malformed rows skipped)\n", s.train.size(),
              s.validation.size(), s.test.size(), all.skipped);
  return s;
}

}  // namespace examples
