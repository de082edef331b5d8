#pragma once
// Kinship pairs in the layout of "Recognizing Faces in the Wild" (Families in the Wild): face images
// under <images>/<family>/<person>/*.jpg and a CSV of related people (p1,p2 = F0002/MID1,F0002/MID3).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/random.hpp"
#include "../core/batches.hpp"
#include "csv.hpp"
#include "images.hpp"

namespace siamese {

/// People with their face images and the pairs of related people among them.
struct KinshipData {
  std::vector<std::string> people;                             // "F0002/MID1", sorted; each has images
  std::vector<std::vector<std::filesystem::path>> images;      // images[i]: person i's files, sorted
  std::vector<std::pair<std::size_t, std::size_t>> relations;  // indices into people, first < second, unique
  std::size_t skipped_relations = 0;  // CSV rows naming a person without images (the real data has some)

  /// "F0002" for "F0002/MID1".
  std::string family(std::size_t person) const { return people[person].substr(0, people[person].find('/')); }
  /// The index of "F0002/MID1", or people.size() when absent.
  std::size_t index(std::string_view person) const {
    const auto it = std::lower_bound(people.begin(), people.end(), person);
    return it != people.end() && *it == person ? std::size_t(it - people.begin()) : people.size();
  }
  bool related(std::size_t a, std::size_t b) const {
    return std::binary_search(relations.begin(), relations.end(), std::pair{std::min(a, b), std::max(a, b)});
  }
};

namespace detail {
inline bool is_image_file(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e == ".jpg" || e == ".jpeg" || e == ".png";
}
inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir, bool dirs) {
  std::vector<std::filesystem::path> v;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (dirs ? e.is_directory() : (e.is_regular_file() && is_image_file(e.path()))) v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace detail

/// Reads the kinship layout: every <images_dir>/<family>/<person>/ folder holding at least one .jpg,
/// .jpeg or .png is a person "family/person"; `relationships_csv` has the header p1,p2 and one related
/// pair per row. Rows naming a person without images are counted in skipped_relations; a pair listed
/// twice (in either order) counts once. Throws FileError for a missing folder, DataError for a folder
/// with no person's images, CsvError (file:line) for a malformed row or a file that yields no related
/// pair (naming the first skipped row's reason).
inline KinshipData load_kinship(const std::filesystem::path& images_dir, const std::filesystem::path& relationships_csv) {
  if (!std::filesystem::is_directory(images_dir))
    throw FileError("'" + images_dir.string() + "': not a folder (expected <family>/<person>/*.jpg)");
  KinshipData d;
  for (const auto& fam : detail::sorted_entries(images_dir, true))
    for (const auto& person : detail::sorted_entries(fam, true)) {
      auto files = detail::sorted_entries(person, false);
      if (files.empty()) continue;
      d.people.push_back(fam.filename().string() + "/" + person.filename().string());
      d.images.push_back(std::move(files));
    }
  if (d.people.empty())
    throw DataError("'" + images_dir.string() + "': no person folder holds an image (expected "
                    "<family>/<person>/*.jpg, .jpeg or .png)");
  CsvReader csv(relationships_csv.string());
  std::vector<std::string> row;
  const std::string file = relationships_csv.string();
  if (!csv.read_row(row) || row.size() != 2 || row[0] != "p1" || row[1] != "p2")
    throw CsvError(file, csv.line(), "expected the header 'p1,p2'");
  std::set<std::pair<std::size_t, std::size_t>> rel;
  std::size_t first_line = 0;  // of the first row skipped
  std::string first_reason;
  while (csv.read_row(row)) {
    for (const auto& p : row)
      if (p.find('/') == std::string::npos || p.front() == '/' || p.back() == '/')
        throw CsvError(file, csv.line(), "'" + p + "' is not a person of the form FAMILY/PERSON (F0002/MID1)");
    const std::size_t a = d.index(row[0]), b = d.index(row[1]);
    if (a == d.people.size() || b == d.people.size()) {
      if (d.skipped_relations++ == 0)
        first_line = csv.line(),
        first_reason = "'" + row[a == d.people.size() ? 0 : 1] + "' has no images under '" + images_dir.string() + "'";
      continue;
    }
    if (a != b) rel.insert({std::min(a, b), std::max(a, b)});
  }
  if (rel.empty())
    throw CsvError(file, first_line,
                   d.skipped_relations == 0
                       ? std::string("no related pair of people: the file lists none of two different people")
                       : "no related pair of people: all " + std::to_string(d.skipped_relations) +
                             " rows were skipped; the first (this line): " + first_reason);
  d.relations.assign(rel.begin(), rel.end());
  return d;
}

/// A kinship data set split by family: validation holds the families whose id starts with the prefix.
struct KinshipSplit {
  KinshipData train, validation;
};

/// Splits people, images and relations by family id prefix ("F09": families F0900-F0999, as the
/// Kaggle starter notebooks do), so that no family has members on both sides.
inline KinshipSplit split_by_family(const KinshipData& d, std::string_view validation_prefix = "F09") {
  KinshipSplit s;
  std::vector<std::size_t> where(d.people.size());
  for (std::size_t i = 0; i < d.people.size(); ++i) {
    KinshipData& part = d.people[i].compare(0, validation_prefix.size(), validation_prefix) == 0 ? s.validation : s.train;
    where[i] = part.people.size();
    part.people.push_back(d.people[i]);
    part.images.push_back(d.images[i]);
  }
  for (const auto& [a, b] : d.relations) {
    const bool val = d.people[a].compare(0, validation_prefix.size(), validation_prefix) == 0;
    if (val != (d.people[b].compare(0, validation_prefix.size(), validation_prefix) == 0)) continue;  // across the split
    (val ? s.validation : s.train).relations.push_back({where[a], where[b]});
  }
  return s;
}

/// A pair of face images and whether their people are related (1) or not (0).
struct KinshipPair {
  std::filesystem::path a, b;
  float label;
};

/// A seeded source of kinship pairs: half of each draw related (a random relation in random order),
/// half unrelated (two random distinct people not listed as related, from any families), each with
/// one random image per person, then shuffled. The same data and seed give the same pairs.
/// Requires at least one relation and one unrelated pair of people.
class KinshipPairs {
 public:
  KinshipPairs(const KinshipData& data, std::uint64_t seed) : d_(&data), rng_(seed) {
    const std::size_t n = data.people.size();
    if (data.relations.empty()) throw std::invalid_argument("KinshipPairs: the data has no related pair of people");
    if (n * (n - 1) / 2 <= data.relations.size())
      throw std::invalid_argument("KinshipPairs: every pair of people is related; no unrelated pair to draw");
  }

  /// n pairs: n / 2 related (rounded up), the rest unrelated, in random order.
  std::vector<KinshipPair> next(std::size_t n) {
    std::vector<KinshipPair> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t a, b;
      if (i < (n + 1) / 2) {
        std::tie(a, b) = d_->relations[rng_.below(d_->relations.size())];
        if (rng_.below(2)) std::swap(a, b);
      } else {
        do {
          a = rng_.below(d_->people.size());
          b = rng_.below(d_->people.size());
        } while (a == b || d_->related(a, b));
      }
      out.push_back({pick(a), pick(b), i < (n + 1) / 2 ? 1.0f : 0.0f});
    }
    for (std::size_t i = n; i > 1; --i) std::swap(out[i - 1], out[rng_.below(i)]);
    return out;
  }

 private:
  const std::filesystem::path& pick(std::size_t person) {
    const auto& v = d_->images[person];
    return v[rng_.below(v.size())];
  }
  const KinshipData* d_;
  detail::Rng rng_;
};

/// Decodes the images of `pairs`, resized to height x width, into a PairBatch of raw RGB (0..255):
/// apply the model's preprocessing (e.g. vggface_preprocess) to a and b afterwards.
inline PairBatch load_pair_batch(const std::vector<KinshipPair>& pairs, std::size_t height, std::size_t width) {
  PairBatch b{Tensor({pairs.size(), height, width, 3}), Tensor({pairs.size(), height, width, 3}), {}};
  const std::size_t one = height * width * 3;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    load_image_into(b.a.data() + i * one, pairs[i].a, height, width);
    load_image_into(b.b.data() + i * one, pairs[i].b, height, width);
    b.labels.push_back(pairs[i].label);
  }
  return b;
}

}  // namespace siamese
