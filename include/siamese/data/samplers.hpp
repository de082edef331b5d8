#pragma once
// Seeded, reproducible samplers of pairs, triplets and P x K batches over a labelled set.

#include <siamese/core/random.hpp>
#include <siamese/data/idx.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace siamese {

// Pairs of sample indices (left[i], right[i]) with target[i] = 1 for the same class, 0 otherwise.
struct IndexPairs {
  std::vector<std::size_t> left, right;
  std::vector<float> target;  // float so it serves directly as a binary cross-entropy target
  std::size_t size() const noexcept { return left.size(); }
};

// Triplets: anchor and positive share a class, negative belongs to another class.
struct IndexTriplets {
  std::vector<std::size_t> anchor, positive, negative;
  std::size_t size() const noexcept { return anchor.size(); }
};

// A batch of P classes x K samples, class by class, with the label of each sample (for online mining).
struct PKBatch {
  std::vector<std::size_t> indices;
  std::vector<int> labels;
};

// The samples of each class of a label vector, grouped so that both a class and its complement are O(1) to
// sample. Represents the labels it was built from; requires non-negative labels below 2^31.
class ClassIndex {
 public:
  template <std::integral L>
  explicit ClassIndex(std::span<const L> labels) : labels_(labels.size()) {
    std::size_t classes = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (!std::in_range<int>(labels[i]) || std::cmp_less(labels[i], 0))
        throw std::invalid_argument("siamese::ClassIndex: label " + std::to_string(labels[i]) + " at index " +
                                    std::to_string(i) + " is negative or too large");
      labels_[i] = static_cast<int>(labels[i]);
      classes = std::max(classes, static_cast<std::size_t>(labels_[i]) + 1);
    }
    offset_.assign(classes + 1, 0);
    for (int l : labels_) ++offset_[static_cast<std::size_t>(l) + 1];
    for (std::size_t c = 0; c < classes; ++c) offset_[c + 1] += offset_[c];
    order_.resize(labels_.size());
    std::vector<std::size_t> fill(offset_.begin(), offset_.end() - 1);
    for (std::size_t i = 0; i < labels_.size(); ++i) order_[fill[static_cast<std::size_t>(labels_[i])]++] = i;
    for (std::size_t c = 0; c < classes; ++c) {
      if (class_size(c) >= 2) with_pairs_.push_back(c);
      if (class_size(c) >= 1) present_.push_back(c);
    }
  }
  template <class Container>
    requires requires(const Container& c) { std::span(c); }
  explicit ClassIndex(const Container& labels) : ClassIndex(std::span(labels)) {}

  std::size_t size() const noexcept { return labels_.size(); }
  int label(std::size_t i) const { return labels_.at(i); }
  std::size_t class_count() const noexcept { return offset_.size() - 1; }  // largest label + 1
  std::size_t class_size(std::size_t c) const { return offset_[c + 1] - offset_[c]; }
  std::span<const std::size_t> members(std::size_t c) const {
    return {order_.data() + offset_[c], class_size(c)};
  }
  const std::vector<std::size_t>& classes_with_pairs() const noexcept { return with_pairs_; }
  const std::vector<std::size_t>& classes_present() const noexcept { return present_; }

  // A uniformly drawn sample of class c.
  std::size_t draw_member(std::size_t c, std::mt19937_64& rng) const {
    return order_[offset_[c] + detail::uniform_below(rng, class_size(c))];
  }
  // A uniformly drawn sample of any class but c; requires another class to be present.
  std::size_t draw_non_member(std::size_t c, std::mt19937_64& rng) const {
    const std::size_t k = detail::uniform_below(rng, size() - class_size(c));
    return k < offset_[c] ? order_[k] : order_[k + class_size(c)];
  }

 private:
  std::vector<int> labels_;
  std::vector<std::size_t> offset_;  // class c owns order_[offset_[c], offset_[c + 1])
  std::vector<std::size_t> order_;   // sample indices sorted by class
  std::vector<std::size_t> with_pairs_, present_;
};

namespace detail {

inline void require_classes(const ClassIndex& idx, const char* who) {
  if (idx.classes_with_pairs().empty() || idx.classes_present().size() < 2)
    throw std::invalid_argument(std::string("siamese::") + who +
                                ": needs a class with at least two samples and at least two classes (got " +
                                std::to_string(idx.classes_present().size()) + " classes over " +
                                std::to_string(idx.size()) + " samples)");
}

// Two distinct members of class c, uniformly.
inline std::pair<std::size_t, std::size_t> draw_two(const ClassIndex& idx, std::size_t c, std::mt19937_64& rng) {
  const auto m = idx.members(c);
  const std::size_t a = uniform_below(rng, m.size());
  std::size_t b = uniform_below(rng, m.size() - 1);
  if (b >= a) ++b;
  return {m[a], m[b]};
}

}  // namespace detail

// Balanced pairs: half of each draw (rounded down) same-class, the rest different-class, in shuffled order.
// A positive pair picks a class uniformly among classes with >= 2 samples, then two distinct members;
// a negative pair picks two distinct present classes uniformly, then one member of each.
class PairSampler {
 public:
  template <class Labels>
  PairSampler(const Labels& labels, std::uint64_t seed) : index_(labels), rng_(seed) {
    detail::require_classes(index_, "PairSampler");
  }

  IndexPairs sample(std::size_t n) {
    IndexPairs out;
    out.left.reserve(n);
    out.right.reserve(n);
    out.target.reserve(n);
    const auto& pos = index_.classes_with_pairs();
    const auto& present = index_.classes_present();
    for (std::size_t i = 0; i < n; ++i) {
      if (i < n / 2) {
        const auto [a, b] = detail::draw_two(index_, pos[detail::uniform_below(rng_, pos.size())], rng_);
        out.left.push_back(a);
        out.right.push_back(b);
        out.target.push_back(1.0f);
      } else {
        const std::size_t ca = detail::uniform_below(rng_, present.size());
        std::size_t cb = detail::uniform_below(rng_, present.size() - 1);
        if (cb >= ca) ++cb;
        out.left.push_back(index_.draw_member(present[ca], rng_));
        out.right.push_back(index_.draw_member(present[cb], rng_));
        out.target.push_back(0.0f);
      }
    }
    for (std::size_t i = n; i > 1; --i) {  // shuffle the three vectors together
      const std::size_t j = detail::uniform_below(rng_, i);
      std::swap(out.left[i - 1], out.left[j]);
      std::swap(out.right[i - 1], out.right[j]);
      std::swap(out.target[i - 1], out.target[j]);
    }
    return out;
  }

  const ClassIndex& index() const noexcept { return index_; }

 private:
  ClassIndex index_;
  std::mt19937_64 rng_;
};

// Random triplets (anchor class uniform among classes with >= 2 samples, distinct positive, negative uniform
// among all samples of other classes), and offline hard-negative mining with the current embeddings.
class TripletSampler {
 public:
  template <class Labels>
  TripletSampler(const Labels& labels, std::uint64_t seed) : index_(labels), rng_(seed) {
    detail::require_classes(index_, "TripletSampler");
  }

  IndexTriplets sample(std::size_t n) {
    IndexTriplets out;
    const auto& pos = index_.classes_with_pairs();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t c = pos[detail::uniform_below(rng_, pos.size())];
      const auto [a, p] = detail::draw_two(index_, c, rng_);
      out.anchor.push_back(a);
      out.positive.push_back(p);
      out.negative.push_back(index_.draw_non_member(c, rng_));
    }
    return out;
  }

  // Random anchors and positives as in sample(); each negative is the candidate nearest to its anchor (squared
  // L2) among `pool` negatives drawn uniformly with replacement. `embeddings` holds one row of `dim` floats per
  // sample of the labelled set, computed with the current model. Ties go to the earlier candidate drawn.
  IndexTriplets sample_hard(std::size_t n, std::span<const float> embeddings, std::size_t dim, std::size_t pool) {
    if (dim == 0 || embeddings.size() != index_.size() * dim)
      throw std::invalid_argument("siamese::TripletSampler::sample_hard: expected " + std::to_string(index_.size()) +
                                  " x " + std::to_string(dim) + " embeddings, got " +
                                  std::to_string(embeddings.size()) + " floats");
    if (pool == 0) throw std::invalid_argument("siamese::TripletSampler::sample_hard: pool size must be >= 1");
    IndexTriplets out = sample(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t c = static_cast<std::size_t>(index_.label(out.anchor[i]));
      const float* a = embeddings.data() + out.anchor[i] * dim;
      double best = std::numeric_limits<double>::infinity();
      for (std::size_t m = 0; m < pool; ++m) {
        const std::size_t cand = index_.draw_non_member(c, rng_);
        const float* e = embeddings.data() + cand * dim;
        double d2 = 0;
        for (std::size_t k = 0; k < dim; ++k) {
          const double diff = double{a[k]} - double{e[k]};
          d2 += diff * diff;
        }
        if (d2 < best) {
          best = d2;
          out.negative[i] = cand;
        }
      }
    }
    return out;
  }

  const ClassIndex& index() const noexcept { return index_; }

 private:
  ClassIndex index_;
  std::mt19937_64 rng_;
};

// Batches of P distinct classes (uniform among classes with >= 2 samples) x K samples per class, drawn without
// replacement when the class has at least K samples and with replacement otherwise. Requires P >= 1, K >= 2 and
// at least P classes with two or more samples.
class PKSampler {
 public:
  template <class Labels>
  PKSampler(const Labels& labels, std::size_t classes_per_batch, std::size_t samples_per_class, std::uint64_t seed)
      : index_(labels), p_(classes_per_batch), k_(samples_per_class), rng_(seed) {
    if (p_ == 0 || k_ < 2)
      throw std::invalid_argument("siamese::PKSampler: need P >= 1 and K >= 2, got P = " + std::to_string(p_) +
                                  ", K = " + std::to_string(k_));
    if (index_.classes_with_pairs().size() < p_)
      throw std::invalid_argument("siamese::PKSampler: P = " + std::to_string(p_) + " classes requested but only " +
                                  std::to_string(index_.classes_with_pairs().size()) +
                                  " classes have two or more samples");
  }

  PKBatch next() { return draw(rng_, scratch_); }

  std::size_t batch_size() const noexcept { return p_ * k_; }
  std::size_t classes_per_batch() const noexcept { return p_; }
  std::size_t samples_per_class() const noexcept { return k_; }
  const ClassIndex& index() const noexcept { return index_; }

  /// next() with the random draws taken from `rng` (PKSchedule draws each batch from its own generator).
  PKBatch draw(std::mt19937_64& rng, std::vector<std::size_t>& scratch) const {
    PKBatch out;
    out.indices.reserve(p_ * k_);
    out.labels.reserve(p_ * k_);
    std::vector<std::size_t> classes = index_.classes_with_pairs();
    for (std::size_t i = 0; i < p_; ++i)  // partial Fisher-Yates: the first P entries become the chosen classes
      std::swap(classes[i], classes[i + detail::uniform_below(rng, classes.size() - i)]);
    for (std::size_t i = 0; i < p_; ++i) {
      const std::size_t c = classes[i];
      const auto m = index_.members(c);
      if (m.size() >= k_) {
        scratch.assign(m.begin(), m.end());
        for (std::size_t j = 0; j < k_; ++j) {
          std::swap(scratch[j], scratch[j + detail::uniform_below(rng, scratch.size() - j)]);
          out.indices.push_back(scratch[j]);
        }
      } else {
        for (std::size_t j = 0; j < k_; ++j) out.indices.push_back(index_.draw_member(c, rng));
      }
      out.labels.insert(out.labels.end(), k_, static_cast<int>(c));
    }
    return out;
  }

 private:
  ClassIndex index_;
  std::size_t p_, k_;
  std::mt19937_64 rng_;
  std::vector<std::size_t> scratch_;
};

// P x K batches as a pure function of (seed, epoch, index), drawn as PKSampler draws them: the same batch on every
// rank, in every run and after a resume. A data-parallel fit trains rank r of `world` on rows shard_rows(P * K, r,
// world) of each global batch (train/distributed.hpp); shard() is that slice alone, a function of (epoch, index, rank,
// world), so a rank loads only its own samples. With P a multiple of `world` every rank gets P / world whole classes;
// otherwise a class may be split between neighbouring ranks. Either way the slices, gathered in rank order (as fit
// gathers an in-batch loss's embeddings), are the global batch: P classes x K samples, class by class.
class PKSchedule {
 public:
  template <class Labels>
  PKSchedule(const Labels& labels, std::size_t classes_per_batch, std::size_t samples_per_class, std::uint64_t seed)
      : sampler_(labels, classes_per_batch, samples_per_class, seed), seed_(seed) {}

  /// The global batch `index` of `epoch`.
  PKBatch batch(std::size_t epoch, std::size_t index) const {
    std::mt19937_64 rng(detail::hash2(detail::hash2(seed_, epoch), index));
    std::vector<std::size_t> scratch;
    return sampler_.draw(rng, scratch);
  }
  /// Rank `rank` of `world`'s rows of that batch: [P K rank / world, P K (rank + 1) / world), as fit shards it.
  PKBatch shard(std::size_t epoch, std::size_t index, std::size_t rank, std::size_t world) const {
    if (world == 0 || rank >= world)
      throw std::invalid_argument("siamese::PKSchedule::shard: rank " + std::to_string(rank) + " of a world of " +
                                  std::to_string(world) + " ranks");
    PKBatch all = batch(epoch, index);
    const std::size_t n = all.indices.size(), lo = n * rank / world, hi = n * (rank + 1) / world;
    PKBatch out;
    out.indices.assign(all.indices.begin() + long(lo), all.indices.begin() + long(hi));
    out.labels.assign(all.labels.begin() + long(lo), all.labels.begin() + long(hi));
    return out;
  }

  std::size_t batch_size() const noexcept { return sampler_.batch_size(); }
  std::size_t classes_per_batch() const noexcept { return sampler_.classes_per_batch(); }
  std::size_t samples_per_class() const noexcept { return sampler_.samples_per_class(); }

 private:
  PKSampler sampler_;
  std::uint64_t seed_;
};

// Copies the images set.image(indices[i]) one after another into `out` (indices.size() * image_size floats).
inline void gather(const ImageSet& set, std::span<const std::size_t> indices, std::span<float> out) {
  const std::size_t sz = set.image_size();
  if (out.size() != indices.size() * sz)
    throw std::invalid_argument("siamese::gather: output holds " + std::to_string(out.size()) + " floats, expected " +
                                std::to_string(indices.size()) + " x " + std::to_string(sz));
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= set.count)
      throw std::out_of_range("siamese::gather: indices[" + std::to_string(i) + "] = " + std::to_string(indices[i]) +
                              " out of range (set of " + std::to_string(set.count) + " images)");
    std::copy_n(set.pixels.data() + indices[i] * sz, sz, out.data() + i * sz);
  }
}

inline std::vector<float> gather(const ImageSet& set, std::span<const std::size_t> indices) {
  std::vector<float> out(indices.size() * set.image_size());
  gather(set, indices, out);
  return out;
}

// The labels of the indexed images, as ints (the label type the mining losses take).
inline std::vector<int> gather_labels(const ImageSet& set, std::span<const std::size_t> indices) {
  std::vector<int> out(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= set.labels.size())
      throw std::out_of_range("siamese::gather_labels: indices[" + std::to_string(i) + "] = " +
                              std::to_string(indices[i]) + " out of range (" + std::to_string(set.labels.size()) +
                              " labels)");
    out[i] = set.labels[indices[i]];
  }
  return out;
}

}  // namespace siamese
