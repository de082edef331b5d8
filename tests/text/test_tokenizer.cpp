// Tokenizer: each expected value follows from a rule of Keras' Tokenizer, named in the comment.
#include <doctest/doctest.h>

#include <siamese/data/tokenizer.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using siamese::Tokenizer;
using siamese::TokenizerOptions;
using Strings = std::vector<std::string>;
using Seqs = std::vector<std::vector<int>>;

TEST_CASE("default filters are replaced by the split and text is lower-cased") {
  // Rule: every char of !"#$%&()*+,-./:;<=>?@[\]^_`{|}~\t\n becomes ' '; ASCII upper -> lower.
  CHECK(siamese::text_to_word_sequence("Hello, World! hello-world") == Strings{"hello", "world", "hello", "world"});
  CHECK(siamese::text_to_word_sequence("a.b/c\td\ne{f}g~h") == Strings{"a", "b", "c", "d", "e", "f", "g", "h"});
  // Rule: every one of the 32 default filter characters splits.
  for (char c : siamese::keras_default_filters) {
    const std::string text = std::string("x") + c + "y";
    CHECK_MESSAGE((siamese::text_to_word_sequence(text) == Strings{"x", "y"}), "filter char code ", int(c));
  }
  // Rule: characters not in the filters stay inside tokens (apostrophe, CR are not filters).
  CHECK(siamese::text_to_word_sequence("don't a\r\nb") == Strings{"don't", "a\r", "b"});
}

TEST_CASE("empty tokens are dropped") {
  // Rule: Keras keeps only non-empty pieces of text.split(split).
  CHECK(siamese::text_to_word_sequence("  a  ,, b ") == Strings{"a", "b"});
  CHECK(siamese::text_to_word_sequence("?!...").empty());
  CHECK(siamese::text_to_word_sequence("").empty());
}

TEST_CASE("lower-casing happens before filtering") {
  // Rule: Keras lower-cases the text first, so an upper-case filter char never matches when lower=true.
  CHECK(siamese::text_to_word_sequence("bAc", "A", true) == Strings{"bac"});
  CHECK(siamese::text_to_word_sequence("bAc", "A", false) == Strings{"b", "c"});
}

TEST_CASE("custom split separator") {
  // Rule: filters are replaced by the split string, then the text is split on it (spaces kept).
  CHECK(siamese::text_to_word_sequence("a b|c,d", siamese::keras_default_filters, true, "|") ==
        Strings{"a b", "c", "d"});
  // Rule: a multi-character separator is inserted and split on as a whole.
  CHECK(siamese::text_to_word_sequence("x,y--z", ",", true, "--") == Strings{"x", "y", "z"});
  CHECK_THROWS_AS(siamese::text_to_word_sequence("a", ",", true, ""), std::invalid_argument);
}

TEST_CASE("UTF-8 passes through untouched") {
  // Rule (documented deviation): only ASCII is lower-cased; multibyte sequences are never split.
  CHECK(siamese::text_to_word_sequence("Café CAFÉ naïve") == Strings{"café", "cafÉ", "naïve"});
  // Rule: a multibyte filter removes that code point only, not code points sharing its lead byte.
  CHECK(siamese::text_to_word_sequence("aéb aÉb", "é") == Strings{"a", "b", "aÉb"});
  CHECK(siamese::text_to_word_sequence("«quoted» text", "«»") == Strings{"quoted", "text"});
}

TEST_CASE("word_index ranks by count, ties by first appearance, from 1") {
  // counts: b=2 (seen first), a=2, c=1 -> b=1, a=2, c=3 (stable sort by count, descending).
  Tokenizer tok;
  tok.fit_on_texts({"b a", "a c b"});
  CHECK(tok.word_index().size() == 3);
  CHECK(tok.index_of("b") == 1);
  CHECK(tok.index_of("a") == 2);
  CHECK(tok.index_of("c") == 3);
  CHECK(tok.index_of("zzz") == 0);
  CHECK(tok.document_count() == 2);
  // Rule: unknown words are dropped when there is no oov_token.
  CHECK(tok.texts_to_sequences({"C a Z b"}) == Seqs{{3, 2, 1}});
  CHECK(tok.vocabulary_size() == 4);
}

TEST_CASE("higher count wins over earlier appearance") {
  // counts: x=1 (first), y=3, z=2 -> y=1, z=2, x=3.
  Tokenizer tok;
  tok.fit_on_texts(Strings{"x y", "z y", "y z"});
  CHECK(tok.index_of("y") == 1);
  CHECK(tok.index_of("z") == 2);
  CHECK(tok.index_of("x") == 3);
}

TEST_CASE("fit_on_texts accumulates over calls and keeps first-appearance order") {
  // Rule: word_counts is an OrderedDict kept across calls; word_index is rebuilt from all counts.
  Tokenizer tok;
  tok.fit_on_texts({"a c"});
  CHECK(tok.index_of("a") == 1);
  tok.fit_on_texts({"b b c"});
  // counts a=1, c=2, b=2; order of appearance a, c, b -> c=1, b=2, a=3.
  CHECK(tok.index_of("c") == 1);
  CHECK(tok.index_of("b") == 2);
  CHECK(tok.index_of("a") == 3);
  CHECK(tok.document_count() == 2);
  // Rule: word_docs counts documents, not occurrences.
  REQUIRE(tok.word_counts().size() == 3);
  CHECK(tok.word_counts()[1].word == "c");
  CHECK(tok.word_counts()[1].count == 2);
  CHECK(tok.word_counts()[1].docs == 2);
  CHECK(tok.word_counts()[2].word == "b");
  CHECK(tok.word_counts()[2].count == 2);
  CHECK(tok.word_counts()[2].docs == 1);
}

TEST_CASE("oov_token gets index 1 and shifts the others") {
  // Rule: sorted_voc = [oov] + words by count, so b=2, a=3, c=4; unknown words map to 1.
  TokenizerOptions o;
  o.oov_token = "<OOV>";
  Tokenizer tok(o);
  tok.fit_on_texts({"b a", "a c b"});
  CHECK(tok.index_of("<OOV>") == 1);
  CHECK(tok.oov_index() == 1);
  CHECK(tok.index_of("b") == 2);
  CHECK(tok.index_of("a") == 3);
  CHECK(tok.index_of("c") == 4);
  CHECK(tok.texts_to_sequences({"a z b", "q"}) == Seqs{{3, 1, 2}, {1}});
  CHECK(tok.vocabulary_size() == 5);
}

TEST_CASE("oov token that also occurs as a word keeps its later index") {
  // Rule: word_index = dict(zip([oov] + words, 1..)); the repeated key keeps its last index,
  // so index 1 belongs to no word and the oov index is the word's rank + 1.
  TokenizerOptions o;
  o.oov_token = "x";
  Tokenizer tok(o);
  tok.fit_on_texts({"y x x"});
  CHECK(tok.index_of("x") == 2);
  CHECK(tok.index_of("y") == 3);
  CHECK(tok.oov_index() == 2);
  CHECK(tok.word_at(1) == nullptr);
  CHECK(tok.word_index().size() == 2);
  CHECK(tok.texts_to_sequences({"z y"}) == Seqs{{2, 3}});
}

TEST_CASE("num_words keeps indices below num_words") {
  // counts: b=2, a=2, c=1 -> b=1, a=2, c=3; num_words=3 keeps 1 and 2.
  TokenizerOptions o;
  o.num_words = 3;
  Tokenizer tok(o);
  tok.fit_on_texts({"b a", "a c b"});
  // Rule: word_index still holds every word.
  CHECK(tok.index_of("c") == 3);
  CHECK(tok.texts_to_sequences({"c a b z"}) == Seqs{{2, 1}});
  CHECK(tok.vocabulary_size() == 3);

  // Rule: with an oov token, filtered words map to the oov index (oov=1, b=2, a=3, c=4).
  o.oov_token = "<unk>";
  Tokenizer tok2(o);
  tok2.fit_on_texts({"b a", "a c b"});
  CHECK(tok2.texts_to_sequences({"c a b z"}) == Seqs{{1, 1, 2, 1}});

  // Rule: num_words=0 means no limit (Keras' `if num_words and ...`).
  o.num_words = 0;
  Tokenizer tok3(o);
  tok3.fit_on_texts({"b a", "a c b"});
  CHECK(tok3.texts_to_sequences({"c a b z"}) == Seqs{{4, 3, 2, 1}});
}

TEST_CASE("char_level counts every code point, without filters") {
  // Rule: char_level only lower-cases; spaces and punctuation are tokens too.
  TokenizerOptions o;
  o.char_level = true;
  Tokenizer tok(o);
  tok.fit_on_texts({"Ab b!"});
  // counts: a=1, b=2, ' '=1, '!'=1 -> b=1, a=2, ' '=3, '!'=4.
  CHECK(tok.index_of("b") == 1);
  CHECK(tok.index_of("a") == 2);
  CHECK(tok.index_of(" ") == 3);
  CHECK(tok.index_of("!") == 4);
  CHECK(tok.texts_to_sequences({"!B?"}) == Seqs{{4, 1}});
  Tokenizer utf(o);
  utf.fit_on_texts({"éé e"});
  // A two-byte code point is one token: é=1, e... counts é=2, ' '=1, e=1.
  CHECK(utf.index_of("é") == 1);
  CHECK(utf.index_of(" ") == 2);
  CHECK(utf.index_of("e") == 3);
  CHECK(utf.word_index().size() == 3);
}

TEST_CASE("sequences_to_texts inverts texts_to_sequences") {
  TokenizerOptions o;
  o.oov_token = "<unk>";
  o.num_words = 3;
  Tokenizer tok(o);
  tok.fit_on_texts({"b a", "a c b"});  // <unk>=1, b=2, a=3, c=4
  // Rule: indices >= num_words and unknown indices become the oov token.
  CHECK(tok.sequences_to_texts(Seqs{{2, 3, 9, 1}}) == Strings{"b <unk> <unk> <unk>"});
  Tokenizer plain;
  plain.fit_on_texts({"b a", "a c b"});
  // Rule: without oov token unknown indices are dropped.
  CHECK(plain.sequences_to_texts(Seqs{{3, 0, 2, 7, 1}, {}}) == Strings{"c a b", ""});
}

namespace {

// Independent reference: rank(w) = 1 + #{v : count(v) > count(w), or equal count and v seen first}, over texts
// given as the words Keras' rules make of them (written out by hand below, not split by the library).
std::map<std::string, int> reference_index(const std::vector<Strings>& texts) {
  std::map<std::string, int> count, first;
  int pos = 0;
  for (const auto& t : texts)
    for (const auto& w : t) {
      if (!count.count(w)) first[w] = pos++;
      ++count[w];
    }
  std::map<std::string, int> index;
  for (const auto& [w, c] : count) {
    int rank = 1;
    for (const auto& [v, d] : count)
      if (d > c || (d == c && first[v] < first[w])) ++rank;
    index[w] = rank;
  }
  return index;
}

}  // namespace

TEST_CASE("word_index matches a brute-force ranking on random texts") {
  std::mt19937 rng(7);
  // Each piece of text and the word Keras makes of it: lower-cased (ASCII only), punctuation filtered.
  const std::vector<std::pair<std::string, std::string>> vocab{
      {"the", "the"}, {"a", "a"},     {"Cat", "cat"}, {"cat", "cat"}, {"dog,", "dog"},
      {"run!", "run"}, {"x", "x"},    {"y", "y"},     {"zz", "zz"},   {"\xC3\xA9", "\xC3\xA9"}};
  for (int trial = 0; trial < 20; ++trial) {
    Strings texts;
    std::vector<Strings> words;
    for (int t = 0; t < 30; ++t) {
      std::string s;
      Strings w;
      const int len = static_cast<int>(rng() % 8);
      for (int k = 0; k < len; ++k) {
        const auto& [piece, word] = vocab[rng() % vocab.size()];
        s += piece + (rng() % 3 ? " " : "  ");
        w.push_back(word);
      }
      texts.push_back(s);
      words.push_back(w);
    }
    Tokenizer tok;
    tok.fit_on_texts(texts);
    const auto ref = reference_index(words);
    REQUIRE(tok.word_index().size() == ref.size());
    for (const auto& [w, i] : ref) CHECK(tok.index_of(w) == i);
    const auto seqs = tok.texts_to_sequences(texts);
    for (std::size_t t = 0; t < texts.size(); ++t) {
      std::vector<int> expect;
      for (const auto& w : words[t]) expect.push_back(ref.at(w));
      CHECK(seqs[t] == expect);
    }
  }
}

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("siamese_text_" + std::to_string(std::random_device{}()) + "_" + name))
      .string();
}

std::string save_to_string(const Tokenizer& tok) {
  std::ostringstream out;
  tok.save(out);
  return out.str();
}

std::string load_error(const std::string& content, const std::string& name) {
  std::istringstream in(content);
  try {
    (void)Tokenizer::load(in, name);
  } catch (const siamese::TokenizerError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("save and load round-trip") {
  TokenizerOptions o;
  o.num_words = 5;
  o.oov_token = "<unk>";
  o.split = "|";
  o.filters = ",\\";
  Tokenizer tok(o);
  const Strings texts{"a b|c d,e\\f", "é|a b|tab\there", "a b"};
  tok.fit_on_texts(texts);
  const std::string path = temp_path("tok.txt");
  tok.save(path);
  const Tokenizer back = Tokenizer::load(path);
  std::filesystem::remove(path);
  CHECK(back.options().num_words == 5);
  CHECK(back.options().split == "|");
  CHECK(back.options().filters == ",\\");
  CHECK(back.options().oov_token == o.oov_token);
  CHECK(back.document_count() == 3);
  CHECK(back.word_index() == tok.word_index());
  CHECK(back.texts_to_sequences(texts) == tok.texts_to_sequences(texts));
  CHECK(save_to_string(back) == save_to_string(tok));

  // An empty oov token and no oov token are different things.
  TokenizerOptions e;
  e.oov_token = "";
  Tokenizer empty_oov(e);
  empty_oov.fit_on_texts({"q"});
  std::istringstream in(save_to_string(empty_oov));
  const auto loaded = Tokenizer::load(in, "mem");
  REQUIRE(loaded.options().oov_token.has_value());
  CHECK(loaded.options().oov_token->empty());
  CHECK(loaded.index_of("q") == 2);
}

TEST_CASE("corrupt tokenizer files name the file and line") {
  Tokenizer tok;
  tok.fit_on_texts({"b a a"});
  const std::string good = save_to_string(tok);
  // Line layout: 1 header, 2..9 options and document count, 10 'words=', 11 '1 1 b', 12 '2 1 a'.
  CHECK(load_error(good, "f") == "");
  CHECK(load_error("hello\n", "vocab.txt").find("vocab.txt', line 1: not a siamese tokenizer file") !=
        std::string::npos);
  CHECK(load_error("siamese-tokenizer 9\n", "v.txt").find("line 1: unsupported tokenizer file version '9'") !=
        std::string::npos);
  std::string bad = good;
  bad.replace(bad.find("lower=1"), 7, "lower=x");
  CHECK(load_error(bad, "v.txt").find("v.txt', line 3: expected lower=0 or 1") != std::string::npos);
  bad = good;
  bad.replace(bad.find("\n2 1 a"), 6, "\n2 z a");
  CHECK(load_error(bad, "v.txt").find("line 12: invalid document count 'z'") != std::string::npos);
  bad = good.substr(0, good.size() - 4);  // the last line becomes "2 "
  CHECK(load_error(bad, "v.txt").find("line 12:") != std::string::npos);
  bad = good.substr(0, good.rfind("2 1 a"));
  CHECK(load_error(bad, "v.txt").find("line 12: unexpected end of file") != std::string::npos);
  bad = good + "2 1 a\n";
  CHECK(load_error(bad, "v.txt").find("line 13: unexpected content") != std::string::npos);
  bad = good;
  bad.replace(bad.find("words=2"), 7, "words=3");
  bad += "1 1 a\n";
  CHECK(load_error(bad, "v.txt").find("line 13: duplicate word 'a'") != std::string::npos);
  CHECK_THROWS_AS(Tokenizer::load("/nonexistent/dir/vocab.txt"), siamese::TokenizerError);
}
