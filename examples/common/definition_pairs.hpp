#pragma once
// The text examples' data: the WordNet/GCIDE definition pairs of scripts/make_text_pairs, generated on demand.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

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

}  // namespace examples
