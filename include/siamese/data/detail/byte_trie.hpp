#pragma once
// A read-only trie over byte strings, for WordPiece's longest-match-first: one walk along the word finds the
// longest vocabulary entry that starts it, where a hash map would try every shorter candidate in turn.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace siamese::detail {

class ByteTrie {
 public:
  ByteTrie() = default;

  /// Builds the trie of (key, id) pairs; keys must be distinct (ids are >= 0).
  explicit ByteTrie(std::vector<std::pair<std::string, std::int32_t>> entries) {
    std::sort(entries.begin(), entries.end());
    nodes_.reserve(entries.size() * 4);
    if (entries.empty()) {
      nodes_.push_back({});
    } else {
      build(entries, 0, entries.size(), 0);
    }
    root_.fill(none);
    const Node& r = nodes_[0];
    for (std::uint32_t k = 0; k < r.edges; ++k) root_[labels_[r.first + k]] = targets_[r.first + k];
  }

  /// The longest key that s starts with: {its length, its id}, or {0, -1} when no non-empty key does.
  std::pair<std::size_t, std::int32_t> longest_prefix(std::string_view s) const noexcept {
    std::pair<std::size_t, std::int32_t> best{0, -1};
    if (s.empty()) return best;
    std::uint32_t node = root_[static_cast<unsigned char>(s[0])];
    for (std::size_t i = 1;; ++i) {
      if (node == none) return best;
      const Node& n = nodes_[node];
      if (n.id >= 0) best = {i, n.id};
      if (i == s.size() || n.edges == 0) return best;
      const auto* first = labels_.data() + n.first;
      const auto* last = first + n.edges;
      const auto* at = std::lower_bound(first, last, static_cast<unsigned char>(s[i]));
      node = (at != last && *at == static_cast<unsigned char>(s[i]))
                 ? targets_[n.first + static_cast<std::size_t>(at - first)]
                 : none;
    }
  }

 private:
  static constexpr std::uint32_t none = 0xFFFFFFFFu;
  struct Node {
    std::uint32_t first = 0;  // its edges: labels_[first, first + edges), sorted, to targets_[...]
    std::uint32_t edges = 0;
    std::int32_t id = -1;
  };

  // The node of the keys entries[lo, hi), which share their first `depth` bytes; returns its index.
  std::uint32_t build(const std::vector<std::pair<std::string, std::int32_t>>& entries, std::size_t lo, std::size_t hi,
                      std::size_t depth) {
    const auto node = static_cast<std::uint32_t>(nodes_.size());
    nodes_.push_back({});
    if (entries[lo].first.size() == depth) nodes_[node].id = entries[lo++].second;
    std::vector<std::pair<std::size_t, std::size_t>> groups;
    for (std::size_t i = lo; i < hi;) {
      std::size_t j = i + 1;
      while (j < hi && entries[j].first[depth] == entries[i].first[depth]) ++j;
      groups.emplace_back(i, j);
      i = j;
    }
    const auto first = static_cast<std::uint32_t>(labels_.size());
    nodes_[node].first = first;
    nodes_[node].edges = static_cast<std::uint32_t>(groups.size());
    labels_.resize(first + groups.size());
    targets_.resize(first + groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
      labels_[first + g] = static_cast<unsigned char>(entries[groups[g].first].first[depth]);
      targets_[first + g] = build(entries, groups[g].first, groups[g].second, depth + 1);
    }
    return node;
  }

  std::vector<Node> nodes_;
  std::vector<unsigned char> labels_;
  std::vector<std::uint32_t> targets_;
  std::array<std::uint32_t, 256> root_{};  // the root's edges by byte: most walks start there
};

}  // namespace siamese::detail
