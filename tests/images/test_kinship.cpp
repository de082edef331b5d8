// Kinship layout on a tiny generated tree: loading, the split by family, the seeded pair generator
// and the decoded batches.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <unistd.h>

#include <siamese/data/kinship.hpp>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace siamese;
namespace fs = std::filesystem;

namespace {
/// A tree of families; person k (in creation order) has images filled with the grey level 10 * k.
struct Tree {
  fs::path root = fs::temp_directory_path() / ("siamese_test_kinship_" + std::to_string(::getpid()));
  std::map<std::string, int> level;  // "F0001/MID1" -> grey level of its images
  Tree() {
    fs::remove_all(root);
    const std::pair<const char*, int> people[] = {{"F0001/MID1", 2}, {"F0001/MID2", 1}, {"F0001/MID3", 1},
                                                  {"F0002/MID1", 2}, {"F0002/MID2", 1}, {"F0901/MID1", 1},
                                                  {"F0901/MID2", 2}, {"F0902/MID1", 1}, {"F0903/MID1", 0}};
    int k = 1;
    for (const auto& [who, n] : people) {
      fs::create_directories(root / "train" / who);
      level[who] = 10 * k++;
      for (int i = 0; i < n; ++i) {
        std::vector<unsigned char> px(6 * 4 * 3, (unsigned char)level[who]);
        const fs::path f = root / "train" / who / ("face" + std::to_string(i) + (i ? ".jpg" : ".png"));
        REQUIRE((i ? stbi_write_jpg(f.c_str(), 6, 4, 3, px.data(), 100) : stbi_write_png(f.c_str(), 6, 4, 3, px.data(), 18)));
      }
    }
    std::ofstream(root / "train" / "F0001" / "MID1" / "notes.txt") << "not an image";
    csv("p1,p2\nF0001/MID1,F0001/MID2\nF0001/MID2,F0001/MID1\nF0001/MID1,F0001/MID3\n"
        "F0002/MID1,F0002/MID2\nF0901/MID1,F0901/MID2\nF0901/MID1,F0903/MID1\nF0001/MID1,F0009/MID4\n");
  }
  ~Tree() { fs::remove_all(root); }
  fs::path csv(const std::string& text) const {
    std::ofstream(root / "rel.csv") << text;
    return root / "rel.csv";
  }
  KinshipData load() const { return load_kinship(root / "train", root / "rel.csv"); }
};
}  // namespace

TEST_CASE("load_kinship: people with images, relations by index, rows naming unknown people skipped") {
  Tree t;
  const KinshipData d = t.load();
  CHECK(d.people == std::vector<std::string>{"F0001/MID1", "F0001/MID2", "F0001/MID3", "F0002/MID1", "F0002/MID2",
                                             "F0901/MID1", "F0901/MID2", "F0902/MID1"});  // F0903/MID1 has none
  CHECK(d.images[0].size() == 2);  // notes.txt is not an image
  CHECK(d.images[0][0].filename() == "face0.png");
  CHECK(d.family(6) == "F0901");
  CHECK(d.index("F0002/MID2") == 4);
  CHECK(d.index("F0002/MID9") == d.people.size());
  using P = std::pair<std::size_t, std::size_t>;
  CHECK(d.relations == std::vector<P>{{0, 1}, {0, 2}, {3, 4}, {5, 6}});  // the reversed duplicate counts once
  CHECK(d.skipped_relations == 2);  // F0903/MID1 has no images, F0009/MID4 does not exist
  CHECK(d.related(1, 0));
  CHECK_FALSE(d.related(1, 2));
}

TEST_CASE("load_kinship: bad input says where") {
  Tree t;
  CHECK_THROWS_WITH_AS(load_kinship(t.root / "nothing", t.root / "rel.csv"), doctest::Contains("nothing': not a folder"),
                       FileError);
  t.csv("person1,person2\nF0001/MID1,F0001/MID2\n");
  CHECK_THROWS_WITH_AS(t.load(), doctest::Contains("rel.csv:1: expected the header 'p1,p2'"), CsvError);
  t.csv("p1,p2\nF0001/MID1,F0001/MID2\nF0001MID1,F0001/MID2\n");
  CHECK_THROWS_WITH_AS(t.load(), doctest::Contains("rel.csv:3: 'F0001MID1' is not a person of the form FAMILY/PERSON"),
                       CsvError);
  t.csv("p1,p2\nF0001/MID1,F0001/MID2,F0001/MID3\n");
  CHECK_THROWS_AS(t.load(), CsvError);
}

TEST_CASE("load_kinship: nothing to train on is an error naming the file and the first reason") {
  Tree t;
  const std::string rel = (t.root / "rel.csv").string(), train = (t.root / "train").string();
  t.csv("p1,p2\n");
  CHECK_THROWS_WITH_AS(t.load(), (rel + ":0: no related pair of people: the file lists none of two different people").c_str(),
                       CsvError);
  t.csv("p1,p2\nF0001/MID1,F0001/MID1\n");
  CHECK_THROWS_AS(t.load(), CsvError);
  t.csv("p1,p2\nF0001/MID1,F0903/MID1\nF0009/MID4,F0001/MID2\n");
  CHECK_THROWS_WITH_AS(t.load(),
                       (rel + ":2: no related pair of people: all 2 rows were skipped; the first (this line): "
                              "'F0903/MID1' has no images under '" + train + "'").c_str(),
                       CsvError);
  fs::create_directories(t.root / "empty" / "F0001" / "MID1");
  CHECK_THROWS_WITH_AS(load_kinship(t.root / "empty", t.root / "rel.csv"),
                       doctest::Contains("empty': no person folder holds an image"), DataError);
}

TEST_CASE("split_by_family: no family on both sides, relations follow their people") {
  Tree t;
  const KinshipData d = t.load();
  const KinshipSplit s = split_by_family(d);
  CHECK(s.train.people == std::vector<std::string>{"F0001/MID1", "F0001/MID2", "F0001/MID3", "F0002/MID1", "F0002/MID2"});
  CHECK(s.validation.people == std::vector<std::string>{"F0901/MID1", "F0901/MID2", "F0902/MID1"});
  REQUIRE(s.validation.relations.size() == 1);
  CHECK(s.validation.people[s.validation.relations[0].first] == "F0901/MID1");
  CHECK(s.validation.people[s.validation.relations[0].second] == "F0901/MID2");
  CHECK(s.train.relations.size() == 3);
  for (const auto& [a, b] : s.train.relations) CHECK(d.related(d.index(s.train.people[a]), d.index(s.train.people[b])));
  CHECK(s.validation.images[1] == d.images[6]);
}

TEST_CASE("KinshipPairs: half related, seeded, right people and images, every relation in time") {
  Tree t;
  const KinshipData d = t.load();
  KinshipPairs gen(d, 42), same(d, 42), other(d, 43);
  const auto person_of = [&](const fs::path& img) {
    return img.parent_path().parent_path().filename().string() + "/" + img.parent_path().filename().string();
  };
  std::set<std::pair<std::size_t, std::size_t>> seen;
  std::size_t differs = 0;
  for (int round = 0; round < 40; ++round) {
    const auto pairs = gen.next(7), again = same.next(7), diff = other.next(7);
    std::size_t related = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      CHECK(pairs[i].a == again[i].a);
      CHECK(pairs[i].b == again[i].b);
      differs += pairs[i].a != diff[i].a || pairs[i].b != diff[i].b;
      const std::size_t a = d.index(person_of(pairs[i].a)), b = d.index(person_of(pairs[i].b));
      REQUIRE(a < d.people.size());
      REQUIRE(b < d.people.size());
      CHECK(a != b);
      CHECK(d.related(a, b) == (pairs[i].label == 1.0f));
      related += pairs[i].label == 1.0f;
      if (pairs[i].label == 1.0f) seen.insert({std::min(a, b), std::max(a, b)});
    }
    CHECK(related == 4);
  }
  CHECK(seen.size() == d.relations.size());
  CHECK(differs > 100);

  KinshipData none = d;
  none.relations.clear();
  CHECK_THROWS_AS(KinshipPairs(none, 1), std::invalid_argument);
  KinshipData two;
  two.people = {"F1/A", "F1/B"};
  two.images = {{"a.png"}, {"b.png"}};
  two.relations = {{0, 1}};
  CHECK_THROWS_WITH_AS(KinshipPairs(two, 1), doctest::Contains("every pair of people is related"), std::invalid_argument);
}

TEST_CASE("load_pair_batch decodes and resizes each side of each pair") {
  Tree t;
  const KinshipData d = t.load();
  KinshipPairs gen(d, 5);
  const auto pairs = gen.next(4);
  const PairBatch b = load_pair_batch(pairs, 8, 12);
  CHECK(b.a.shape() == std::vector<std::size_t>{4, 8, 12, 3});
  CHECK(b.labels.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    const auto level = [&](const fs::path& p) {
      return float(t.level.at(p.parent_path().parent_path().filename().string() + "/" + p.parent_path().filename().string()));
    };
    CHECK(b.labels[i] == pairs[i].label);
    for (std::size_t j = 0; j < 8 * 12 * 3; j += 29) {
      CHECK(b.a[i * 288 + j] == doctest::Approx(level(pairs[i].a)).epsilon(0.05));
      CHECK(b.b[i * 288 + j] == doctest::Approx(level(pairs[i].b)).epsilon(0.05));
    }
  }
}
