// load_quora over a stream, strict and lenient: a file the strict loader accepts reads the same leniently.
#include <siamese/data/quora.hpp>

#include <sstream>
#include <string>

#include "common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  siamese::QuoraData strict, lenient;
  const bool strict_ok = fuzz::accepted([&] {
    std::istringstream in(text);
    strict = siamese::load_quora(in, "fuzz.csv", false);
  }, "fuzz.csv");
  const bool lenient_ok = fuzz::accepted([&] {
    std::istringstream in(text);
    lenient = siamese::load_quora(in, "fuzz.csv", true);
  }, "fuzz.csv");
  for (const auto& p : lenient.pairs) fuzz::require(p.label == 0 || p.label == 1, "labels are 0 or 1");
  if (strict_ok) {
    fuzz::require(lenient_ok, "lenient accepts what strict accepts");
    fuzz::require(strict.skipped == 0 && lenient.skipped == 0, "nothing skipped in a valid file");
    fuzz::require(strict.pairs.size() == lenient.pairs.size(), "the same pairs strict and lenient");
    for (std::size_t i = 0; i < strict.pairs.size(); ++i)
      fuzz::require(strict.pairs[i].q1 == lenient.pairs[i].q1 && strict.pairs[i].q2 == lenient.pairs[i].q2 &&
                        strict.pairs[i].label == lenient.pairs[i].label,
                    "the same pairs strict and lenient");
  }
  return 0;
}
