// WordPieceTokenizer: the golden test against Hugging Face tokenizers (all-MiniLM-L6-v2's vocabulary, the texts
// and ids of tests/text/data/wordpiece_golden.tsv, written by scripts/make_wordpiece_golden.py), then rules of
// BERT's tokenization on small vocabularies, and damaged vocabulary files.
#include <doctest/doctest.h>

#include <siamese/data/wordpiece.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using siamese::VocabularyError;
using siamese::WordPieceOptions;
using siamese::WordPieceTokenizer;
using Ids = std::vector<std::int32_t>;
using Strings = std::vector<std::string>;

namespace {

// The golden file's escapes: \\, \t, \n, \r, \xHH (a raw byte), \u{HEX} (a code point, as UTF-8).
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    const char e = s.at(++i);
    if (e == '\\') out += '\\';
    else if (e == 't') out += '\t';
    else if (e == 'n') out += '\n';
    else if (e == 'r') out += '\r';
    else if (e == 'x') out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)), i += 2;
    else if (e == 'u') {
      const std::size_t close = s.find('}', i);
      siamese::detail::append_utf8(out, static_cast<char32_t>(std::stoul(s.substr(i + 2, close - i - 2), nullptr, 16)));
      i = close;
    } else {
      throw std::runtime_error("bad escape in the golden file: " + s);
    }
  }
  return out;
}

Ids parse_ids(const std::string& s) {
  Ids ids;
  std::istringstream in(s);
  for (std::int32_t v; in >> v;) ids.push_back(v);
  return ids;
}

Strings split_tabs(const std::string& line) {
  Strings cols;
  std::size_t start = 0;
  while (true) {
    const auto at = line.find('\t', start);
    cols.push_back(line.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return cols;
    start = at + 1;
  }
}

struct Golden {
  std::string text;
  std::size_t len128, len16;
  Ids ids128, ids16, all;
};

std::vector<Golden> read_golden() {
  const std::string path = std::string(WORDPIECE_DATA) + "/wordpiece_golden.tsv";
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  std::vector<Golden> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const Strings c = split_tabs(line);
    REQUIRE(c.size() == 6);
    rows.push_back({unescape(c[0]), std::stoul(c[1]), std::stoul(c[3]), parse_ids(c[2]), parse_ids(c[4]),
                    parse_ids(c[5])});
  }
  return rows;
}

Ids padded(Ids ids, std::size_t n) {
  ids.resize(n, 0);
  return ids;
}

// A small vocabulary: the specials, then the given tokens (ids from 5 on, in order).
WordPieceTokenizer small(const Strings& tokens, WordPieceOptions opt = {}) {
  std::string text = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const auto& t : tokens) text += t + "\n";
  std::istringstream in(text);
  return WordPieceTokenizer(in, "small.txt", opt);
}

std::string refusal(const std::string& vocab) {
  std::istringstream in(vocab);
  try {
    WordPieceTokenizer tok(in, "bad.txt");
  } catch (const VocabularyError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("golden: ids equal Hugging Face tokenizers' for every text, at max length 128 and 16") {
  const char* dir = std::getenv("SIAMESE_MINILM_DIR");
  REQUIRE_MESSAGE(dir != nullptr,
                  "SIAMESE_MINILM_DIR is not set: run scripts/fetch_minilm and export SIAMESE_MINILM_DIR=<the folder "
                  "it prints> (scripts/test does this)");
  const WordPieceOptions opt = siamese::read_tokenizer_config(std::string(dir) + "/tokenizer_config.json");
  CHECK((opt.lower_case && !opt.strip_accents && opt.tokenize_chinese_chars));  // the uncased defaults
  const WordPieceTokenizer tok(std::string(dir) + "/vocab.txt", opt);
  CHECK(tok.size() == 30522);
  const auto rows = read_golden();
  REQUIRE(rows.size() >= 600);
  std::size_t wrong = 0;
  std::vector<float> batch;
  Strings texts;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const Golden& g = rows[k];
    texts.push_back(g.text);
    const bool ok = tok.encode(g.text, 128) == padded(g.ids128, 128) && tok.encode(g.text, 16) == padded(g.ids16, 16) &&
                    tok.token_ids(g.text) == g.all;
    if (!ok && ++wrong <= 10) {
      std::ostringstream got;
      for (auto id : tok.token_ids(g.text)) got << id << ' ';
      FAIL_CHECK("golden text ", k + 1, " differs: '", g.text, "'\n  got      ", got.str(), "\n  expected ",
                 [&] {
                   std::ostringstream e;
                   for (auto id : g.all) e << id << ' ';
                   return e.str();
                 }());
    }
  }
  CHECK_MESSAGE(wrong == 0, wrong, " of ", rows.size(), " golden texts differ");
  // The batch form: the same ids as floats, and the attention mask's length.
  batch.assign(rows.size() * 128, -1.0f);
  const auto lengths = tok.encode_batch(texts, 128, batch.data());
  REQUIRE(lengths.size() == rows.size());
  std::size_t bad_rows = 0;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const Ids want = padded(rows[k].ids128, 128);
    bool same = lengths[k] == rows[k].len128;
    for (std::size_t j = 0; j < 128; ++j) same = same && batch[k * 128 + j] == static_cast<float>(want[j]);
    bad_rows += !same;
  }
  CHECK(bad_rows == 0);
}

TEST_CASE("golden: every code point goes through cleaning, accents, case and splitting as in tokenizers") {
  // Blocks of 1024 code points, in order and reversed (so NFD reorders what meets), hashed per block.
  const std::string path = std::string(WORDPIECE_DATA) + "/bert_words_by_code_point.tsv";
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  siamese::detail::BertWordSplitter splitter;
  const siamese::detail::BertTextOptions uncased{true, true, true}, cased{false, false, false};
  std::size_t blocks = 0, wrong = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const Strings c = split_tabs(line);
    REQUIRE(c.size() == 3);
    const auto first = static_cast<char32_t>(std::stoul(c[0], nullptr, 16));
    std::string text, reversed;
    for (char32_t cp = first; cp < first + 1024; ++cp)
      if (cp < 0xD800 || cp > 0xDFFF) siamese::detail::append_utf8(text, cp);
    for (char32_t cp = first + 1024; cp-- > first;)
      if (cp < 0xD800 || cp > 0xDFFF) siamese::detail::append_utf8(reversed, cp);
    for (int mode = 0; mode < 2; ++mode) {
      std::uint64_t h = 0xCBF29CE484222325ull;
      bool first_word = true;
      auto on_word = [&](std::string_view w, std::size_t) {
        if (!first_word) h = (h ^ '\n') * 0x100000001B3ull;
        first_word = false;
        for (unsigned char b : w) h = (h ^ b) * 0x100000001B3ull;
        return true;
      };
      const auto& opt = mode == 0 ? uncased : cased;
      splitter.split(text, opt, static_cast<std::size_t>(-2), on_word);
      splitter.split(reversed, opt, static_cast<std::size_t>(-2), on_word);
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
      if (hex != c[1 + mode] && ++wrong <= 10)
        FAIL_CHECK("code points from U+", c[0], std::string(mode == 0 ? " uncased" : " cased"), ": words hash ", hex,
                   ", tokenizers' ", c[1 + mode]);
    }
    ++blocks;
  }
  CHECK(blocks == 0x110000 / 1024);
  CHECK(wrong == 0);
}

TEST_CASE("greedy longest-match-first with the ## prefix") {
  const auto tok = small({"un", "##aff", "##able", "unaff", "##a", "##ff", "a", "b", "##b", "runn", "##ing", "run"});
  // "unaff" is longer than "un": the first piece is the longest match.
  CHECK(tok.tokenize("unaffable") == Strings{"unaff", "##able"});
  CHECK(tok.tokenize("running") == Strings{"runn", "##ing"});
  CHECK(tok.tokenize("abbb") == Strings{"a", "##b", "##b", "##b"});
  // One piece that no entry starts makes the whole word [UNK], not just the piece.
  CHECK(tok.tokenize("abc") == Strings{"[UNK]"});
  CHECK(tok.tokenize("ab abc b") == Strings{"a", "##b", "[UNK]", "b"});
  // "##" is not written into the text: a word starting with # is punctuation + word.
  CHECK(tok.tokenize("##b") == Strings{"[UNK]", "[UNK]", "b"});
}

TEST_CASE("a word longer than 100 code points is [UNK]; 100 are split") {
  const auto tok = small({"a", "##a", "é", "##é"});
  CHECK(tok.token_ids(std::string(100, 'a')).size() == 100);
  CHECK(tok.tokenize(std::string(101, 'a')) == Strings{"[UNK]"});
  std::string e100;
  for (int i = 0; i < 100; ++i) e100 += "\xC3\xA9";  // é: code points, not bytes, count
  WordPieceOptions cased;
  cased.lower_case = false;
  const auto keep = small({"a", "##a", "é", "##é"}, cased);
  CHECK(keep.token_ids(e100).size() == 100);
  CHECK(keep.tokenize(e100 + "\xC3\xA9") == Strings{"[UNK]"});
  WordPieceOptions ten;
  ten.max_input_chars_per_word = 10;
  Strings ten_pieces{"a"};
  ten_pieces.resize(10, "##a");
  CHECK(small({"a", "##a"}, ten).tokenize("aaaaaaaaaa") == ten_pieces);
  CHECK(small({"a", "##a"}, ten).tokenize("aaaaaaaaaaa") == Strings{"[UNK]"});
}

TEST_CASE("encode: [CLS] ... [SEP], truncated keeping [SEP], padded with 0") {
  const auto tok = small({"a", "b", "c", "d"});
  CHECK(tok.encode("a b c", 8) == Ids{2, 5, 6, 7, 3, 0, 0, 0});
  CHECK(tok.encode("a b c d", 6) == Ids{2, 5, 6, 7, 8, 3});
  CHECK(tok.encode("a b c d", 4) == Ids{2, 5, 6, 3});
  CHECK(tok.encode("a b c d", 2) == Ids{2, 3});
  CHECK(tok.encode("", 4) == Ids{2, 3, 0, 0});
  CHECK(tok.encode(" \t\n ", 3) == Ids{2, 3, 0});
  CHECK_THROWS_AS(tok.encode("a", 1), std::invalid_argument);
  // A [UNK] word counts as one piece; a split word's pieces count one by one.
  const auto pieces = small({"a", "##a"});
  CHECK(pieces.encode("aaa x aaa", 6) == Ids{2, 5, 6, 6, 1, 3});
  CHECK(pieces.encode("aaa x aaa", 5) == Ids{2, 5, 6, 6, 3});
}

TEST_CASE("encode_batch writes ids as floats and returns the real lengths") {
  const auto tok = small({"a", "b"});
  const Strings texts{"a b", "", "b b b b b b"};
  std::vector<float> out(3 * 5, -1.0f);
  CHECK(tok.encode_batch(texts, 5, out.data()) == std::vector<std::size_t>{4, 2, 5});
  CHECK(out == std::vector<float>{2, 5, 6, 3, 0, 2, 3, 0, 0, 0, 2, 6, 6, 6, 3});
}

TEST_CASE("special tokens written in the text are found before normalisation") {
  const auto tok = small({"hello", "world", "[", "]", "cls", "mask"});
  CHECK(tok.token_ids("hello [MASK] world") == Ids{5, 4, 6});
  CHECK(tok.token_ids("hello[SEP]world[CLS]") == Ids{5, 3, 6, 2});
  CHECK(tok.token_ids("[cls] [Mask]") == Ids{7, 9, 8, 7, 10, 8});  // only the exact spelling
  CHECK(tok.token_ids("[[CLS]]") == Ids{7, 2, 8});
  // [PAD] in the text is id 0 although it is a real token: lengths from encode_batch, not ids != 0.
  std::vector<float> out(6);
  CHECK(tok.encode_batch(Strings{"[PAD] hello"}, 6, out.data()) == std::vector<std::size_t>{4});
  CHECK(out == std::vector<float>{2, 0, 5, 3, 0, 0});
}

TEST_CASE("cleaning, punctuation, CJK, lower-casing and accents") {
  const auto tok = small({"a", "b", "cafe", "naive", "!", ",", "中", "文", "ab", "istanbul", "σ", "«", "»", "ǆ"});
  // Control characters and broken UTF-8 vanish, whitespace of every kind separates.
  CHECK(tok.tokenize(std::string("a\x01\x7f\0b", 5)) == Strings{"ab"});
  CHECK(tok.tokenize("a\xE2\x80\x8B" "b") == Strings{"ab"});  // U+200B is Cf: removed
  // U+0085 is whitespace but also Cc, and the control filter comes first; U+3000 separates.
  CHECK(tok.tokenize("a\xC2\x85" "b\xE3\x80\x80" "a") == Strings{"ab", "a"});
  CHECK(tok.tokenize("a\xFF" "b") == Strings{"ab"});
  CHECK(tok.tokenize("\xE2\x82" "a") == Strings{"a"});  // a truncated sequence does not swallow 'a'
  CHECK(tok.tokenize("\xED\xA0\x80" "b") == Strings{"b"});  // encoded surrogate
  // Punctuation: ASCII ranges and Unicode P*.
  CHECK(tok.tokenize("a,b!") == Strings{"a", ",", "b", "!"});
  CHECK(tok.tokenize("\xC2\xAB" "a\xC2\xBB") == Strings{"«", "a", "»"});
  // CJK ideographs are words of their own; kana are not ideographs.
  CHECK(tok.tokenize("a中文b") == Strings{"a", "中", "文", "b"});
  // Lower-casing and accent stripping (NFD, then Mn removed).
  CHECK(tok.tokenize("CAFÉ Naïve") == Strings{"cafe", "naive"});
  CHECK(tok.tokenize("Cafe\xCC\x81") == Strings{"cafe"});
  CHECK(tok.tokenize("\xC4\xB0stanbul") == Strings{"istanbul"});  // İ: NFD I + U+0307, then lower
  CHECK(tok.tokenize("\xCE\xA3 \xC7\x84") == Strings{"σ", "ǆ"});  // no final-sigma context; Ǆ -> ǆ
  WordPieceOptions cased;
  cased.lower_case = false;  // strip_accents follows lower_case: kept
  const auto keep = small({"Café", "CAFÉ", "Cafe", "a", "b"}, cased);
  CHECK(keep.tokenize("Café CAFÉ") == Strings{"Café", "CAFÉ"});
  cased.strip_accents = true;
  CHECK(small({"Café", "Cafe"}, cased).tokenize("Café") == Strings{"Cafe"});
  WordPieceOptions no_cjk;
  no_cjk.tokenize_chinese_chars = false;
  CHECK(small({"a中文b", "中"}, no_cjk).tokenize("a中文b") == Strings{"a中文b"});
}

TEST_CASE("NFD reorders kept marks of nonzero class; a class-0 mark ends the run") {
  // U+1D16D (class 226) before U+1D165 (class 216) are swapped by NFD; both are Mc, so both stay.
  const std::string stem = "\xF0\x9D\x85\xA5", dot = "\xF0\x9D\x85\xAD";
  const auto tok = small({stem + dot, dot + stem});
  CHECK(tok.token_ids(dot + stem) == Ids{5});
  CHECK(tok.token_ids(dot + "\xCC\x81" + stem) == Ids{5});  // U+0301 (Mn, class 230) is dropped inside the run
  CHECK(tok.token_ids(dot + "\xE0\xA5\x81" + stem) == Ids{6});  // U+0941 (Mn, class 0) ends it: no swap
}

TEST_CASE("Hangul syllables decompose to jamo when accents are stripped") {
  const auto tok = small({"\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "\xED\x95\x9C"});  // ᄒ ᅡ ᆫ and 한
  CHECK(tok.token_ids("\xED\x95\x9C") == Ids{5});
  WordPieceOptions cased;
  cased.lower_case = false;
  CHECK(small({"\xED\x95\x9C"}, cased).token_ids("\xED\x95\x9C") == Ids{5});
}

TEST_CASE("damaged vocabulary files are refused, naming the file and line") {
  const std::string ok = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
  CHECK(refusal(ok) == "(accepted)");
  CHECK(refusal(ok + "a\r\nb\r\n") == "(accepted)");
  CHECK(refusal("") == "vocabulary file 'bad.txt' has no tokens");
  CHECK(refusal(ok + "the\nthe\n") == "vocabulary file 'bad.txt', line 6: duplicate token 'the' (also on line 5)");
  CHECK(refusal(ok + "a\n\nb\n") ==
        "vocabulary file 'bad.txt', line 6: an empty line (a vocabulary has one token a line)");
  CHECK(refusal(ok + std::string(300, 'x') + "\n").find("line 5: a line longer than 256 bytes") !=
        std::string::npos);
  CHECK(refusal(ok + "a b\n") ==
        "vocabulary file 'bad.txt', line 5: a token with whitespace or a control character (U+0020)");
  CHECK(refusal(ok + "a\tb\n").find("line 5: a token with whitespace or a control character (U+0009)") !=
        std::string::npos);
  CHECK(refusal(ok + std::string("a\0b\n", 4))
            .find("line 5: a token with whitespace or a control character (U+0000)") != std::string::npos);
  CHECK(refusal(ok + "caf\xC3\n") == "vocabulary file 'bad.txt', line 5: invalid UTF-8 (or U+FFFD) at byte 4");
  CHECK(refusal("\xEF\xBB\xBF" + ok).find("line 1: a token with whitespace or a control character (U+FEFF)") !=
        std::string::npos);
  CHECK(refusal("[PAD]\n[UNK]\n[SEP]\n") == "vocabulary file 'bad.txt' has no [CLS] token (not a BERT vocabulary)");
  CHECK(refusal("[PAD]\n[CLS]\n[SEP]\n") == "vocabulary file 'bad.txt' has no [UNK] token (not a BERT vocabulary)");
  CHECK(refusal("[PAD]\n[UNK]\n[CLS]\n") == "vocabulary file 'bad.txt' has no [SEP] token (not a BERT vocabulary)");
  CHECK(refusal("[UNK]\n[CLS]\n[SEP]\n") == "vocabulary file 'bad.txt' has no [PAD] token (not a BERT vocabulary)");
  CHECK(refusal("[UNK]\n[PAD]\n[CLS]\n[SEP]\n") ==
        "vocabulary file 'bad.txt' has [PAD] on line 2, not on line 1: padding must be id 0");
  CHECK_THROWS_WITH_AS(WordPieceTokenizer("/nonexistent/vocab.txt"),
                       "cannot open vocabulary file '/nonexistent/vocab.txt'", VocabularyError);
  // A file: the path is the name in messages; a too large file is refused before it is read.
  const auto path = std::filesystem::temp_directory_path() / "siamese_wordpiece_bad_vocab.txt";
  std::ofstream(path, std::ios::binary) << ok << "x\nx\n";
  const std::string duplicate = "vocabulary file '" + path.string() + "', line 6: duplicate token 'x' (also on line 5)";
  CHECK_THROWS_WITH_AS(WordPieceTokenizer(path.string()), duplicate.c_str(), VocabularyError);
  std::filesystem::resize_file(path, WordPieceTokenizer::max_file_bytes + 1);
  CHECK_THROWS_AS(WordPieceTokenizer(path.string()), VocabularyError);
  std::filesystem::remove(path);
}

TEST_CASE("read_tokenizer_config reads the three flags and refuses what is not JSON, naming the file") {
  const auto path = std::filesystem::temp_directory_path() / "siamese_wordpiece_tokenizer_config.json";
  auto read = [&](const std::string& json) {
    std::ofstream(path, std::ios::binary) << json;
    return siamese::read_tokenizer_config(path.string());
  };
  auto opt = read(R"({"do_lower_case": false, "x": {"a": [1, -2.5e3, "s\"]", null, {}]}, "strip_accents": true,
                      "tokenize_chinese_chars": false, "model_max_length": 512})");
  CHECK((!opt.lower_case && opt.strip_accents == true && !opt.tokenize_chinese_chars));
  opt = read(" {\n} ");
  CHECK((opt.lower_case && !opt.strip_accents && opt.tokenize_chinese_chars));
  CHECK(read(R"({"strip_accents": false})").strip_accents == false);
  CHECK(!read(R"({"strip_accents": null})").strip_accents.has_value());
  CHECK_THROWS_WITH_AS(read(R"({"do_lower_case": null})"),
                       ("tokenizer config file '" + path.string() + "', byte 19: expected true or false").c_str(),
                       siamese::FileError);
  CHECK_THROWS_WITH_AS(read(R"({"a": 1,})"),
                       ("tokenizer config file '" + path.string() + "', byte 9: expected '\"'").c_str(),
                       siamese::FileError);
  CHECK_THROWS_AS(read("[1]"), siamese::FileError);
  CHECK_THROWS_WITH_AS(read(R"({"a": "open)"),
                       ("tokenizer config file '" + path.string() + "', byte 12: unexpected end of file").c_str(),
                       siamese::FileError);
  CHECK_THROWS_AS(read(R"({"a": 1} x)"), siamese::FileError);
  CHECK_THROWS_AS(read(std::string(100, '[')), siamese::FileError);
  CHECK_THROWS_AS(read(R"({"a": [1 2]})"), siamese::FileError);
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(siamese::read_tokenizer_config(path.string()),
                       ("cannot open tokenizer config file '" + path.string() + "'").c_str(), siamese::FileError);
}
