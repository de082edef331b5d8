#pragma once
// Exact k-nearest-neighbour search over embeddings: SIMD distances (xsimd), parallel over queries (oneTBB).

#include <siamese/backend/kinds.hpp>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../io/atomic_write.hpp"
#include "../io/byte_order.hpp"
#include "../io/crc32.hpp"

namespace siamese {

// The k nearest database rows of each query, nearest first (ties by lower index): row q of `indices` and
// `distances` holds entries [q * k, (q + 1) * k). k is min(requested k, database size).
struct SearchResult {
  std::size_t queries = 0;
  std::size_t k = 0;
  std::vector<std::size_t> indices;
  std::vector<float> distances;

  std::span<const std::size_t> neighbours(std::size_t q) const { return {indices.data() + q * k, k}; }
  std::span<const float> neighbour_distances(std::size_t q) const { return {distances.data() + q * k, k}; }
};

namespace detail {

using SimdF = xsimd::batch<float>;
inline constexpr std::size_t simd_width = SimdF::size;
using AlignedFloats = std::vector<float, xsimd::aligned_allocator<float, 64>>;

inline constexpr char index_magic[8] = {'S', 'I', 'A', 'M', 'I', 'D', 'X', '\0'};
inline constexpr std::uint32_t index_version = 1;
inline constexpr std::size_t index_header_bytes = 8 + 4 + 4 + 8 + 8;

}  // namespace detail

// An exact nearest-neighbour index: n embeddings of width dim with an int label each (-1 when unlabelled),
// searched by squared L2, L2 or cosine distance (1 - cos). Requires finite values.
class EmbeddingIndex {
 public:
  explicit EmbeddingIndex(std::size_t dim, Distance metric = Distance::SquaredEuclidean)
      : dim_(dim), metric_(metric) {
    if (dim == 0) throw std::invalid_argument("siamese::EmbeddingIndex: dim must be >= 1");
  }

  // Appends rows.size() / dim embeddings; labels is empty (all -1) or holds one label per row.
  void add(std::span<const float> rows, std::span<const int> labels = {}) {
    if (rows.size() % dim_ != 0)
      throw std::invalid_argument("siamese::EmbeddingIndex::add: " + std::to_string(rows.size()) +
                                  " floats is not a whole number of rows of " + std::to_string(dim_));
    const std::size_t m = rows.size() / dim_;
    if (!labels.empty() && labels.size() != m)
      throw std::invalid_argument("siamese::EmbeddingIndex::add: " + std::to_string(m) + " rows but " +
                                  std::to_string(labels.size()) + " labels");
    check_finite(rows, "add");
    data_.resize(blocks(size_ + m) * dim_ * w, 0.0f);  // padding rows stay zero
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < dim_; ++j) data_[offset(size_ + i, j)] = rows[i * dim_ + j];
      norms_.push_back(norm(rows.data() + i * dim_));
      labels_.push_back(labels.empty() ? -1 : labels[i]);
    }
    size_ += m;
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t dim() const noexcept { return dim_; }
  Distance metric() const noexcept { return metric_; }
  std::span<const int> labels() const noexcept { return labels_; }
  std::vector<float> embedding(std::size_t i) const {
    if (i >= size_) throw std::out_of_range("siamese::EmbeddingIndex::embedding: index " + std::to_string(i) +
                                            " out of range (size " + std::to_string(size_) + ")");
    std::vector<float> row(dim_);
    for (std::size_t j = 0; j < dim_; ++j) row[j] = data_[offset(i, j)];
    return row;
  }

  // The k nearest rows of each of queries.size() / dim queries.
  SearchResult search(std::span<const float> queries, std::size_t k) const {
    if (queries.size() % dim_ != 0)
      throw std::invalid_argument("siamese::EmbeddingIndex::search: " + std::to_string(queries.size()) +
                                  " floats is not a whole number of queries of " + std::to_string(dim_));
    check_finite(queries, "search");
    SearchResult res;
    res.queries = queries.size() / dim_;
    res.k = std::min(k, size_);
    res.indices.resize(res.queries * res.k);
    res.distances.resize(res.queries * res.k);
    if (res.queries == 0 || res.k == 0) return res;
    const std::size_t padded = blocks(size_) * w;
    // A task holds a block of queries and their distance rows; the database streams through it in blocks.
    const std::size_t grain = std::clamp<std::size_t>((std::size_t{1} << 22) / (padded * sizeof(float)), 1, 32);
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, res.queries, grain), [&](const auto& r) {
      std::vector<float> dist(r.size() * padded);
      constexpr std::size_t db_blocks = 256 / w;  // 256 rows: a block of the database stays in L2
      for (std::size_t b0 = 0; b0 < blocks(size_); b0 += db_blocks)
        for (std::size_t q0 = r.begin(); q0 < r.end(); q0 += tile) {
          const float* qp[tile];
          for (std::size_t t = 0; t < tile; ++t)  // a short tile repeats its last query
            qp[t] = queries.data() + std::min(q0 + t, r.end() - 1) * dim_;
          const std::size_t b1 = std::min(blocks(size_), b0 + db_blocks), nt = std::min(tile, r.end() - q0);
          float* out = dist.data() + (q0 - r.begin()) * padded;
          if (metric_ == Distance::Cosine) distance_tile<true>(qp, nt, b0, b1, out, padded);
          else distance_tile<false>(qp, nt, b0, b1, out, padded);
        }
      std::vector<std::pair<float, std::size_t>> heap;
      for (std::size_t qi = r.begin(); qi < r.end(); ++qi) {
        float* row = dist.data() + (qi - r.begin()) * padded;
        finish_distances(row, queries.data() + qi * dim_);
        select(row, res.k, heap, res.indices.data() + qi * res.k, res.distances.data() + qi * res.k);
      }
    });
    return res;
  }

  // Writes the index to `path` atomically (io/atomic_write.hpp), little-endian, with a CRC32 of its bytes.
  void save(const std::filesystem::path& path) const {
    std::vector<unsigned char> buf;
    buf.reserve(detail::index_header_bytes + size_ * (dim_ + 1) * 4 + 4);
    buf.insert(buf.end(), detail::index_magic, detail::index_magic + 8);
    detail::le::append<std::uint32_t>(buf, detail::index_version);
    detail::le::append<std::uint32_t>(buf, static_cast<std::uint32_t>(metric_));
    detail::le::append<std::uint64_t>(buf, size_);
    detail::le::append<std::uint64_t>(buf, dim_);
    for (std::size_t i = 0; i < size_; ++i)
      for (std::size_t j = 0; j < dim_; ++j) detail::le::append<float>(buf, data_[offset(i, j)]);
    for (int l : labels_) detail::le::append<std::int32_t>(buf, l);
    detail::le::append<std::uint32_t>(buf, crc32_of(buf.data(), buf.size()));

    write_file_atomically<IndexFileError>(path, {reinterpret_cast<const char*>(buf.data()), buf.size()});
  }

  static EmbeddingIndex load(const std::filesystem::path& path) {
    const std::string name = "siamese: index file '" + path.string() + "'";
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw IndexFileError(name + " cannot be opened");
    std::vector<unsigned char> buf(static_cast<std::size_t>(in.tellg()));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size())))
      throw IndexFileError(name + " could not be read");
    if (buf.size() < detail::index_header_bytes + 4)
      throw IndexFileError(name + " is truncated: " + std::to_string(buf.size()) + " bytes, shorter than the " +
                           std::to_string(detail::index_header_bytes + 4) + "-byte header and checksum");
    if (std::memcmp(buf.data(), detail::index_magic, 8) != 0)
      throw IndexFileError(name + " is not an embedding index (wrong magic)");
    const auto version = detail::le::load<std::uint32_t>(buf.data() + 8);
    const auto metric = detail::le::load<std::uint32_t>(buf.data() + 12);
    const auto n = detail::le::load<std::uint64_t>(buf.data() + 16);
    const auto dim = detail::le::load<std::uint64_t>(buf.data() + 24);
    if (version != detail::index_version)
      throw IndexFileError(name + " has version " + std::to_string(version) + ", expected " +
                           std::to_string(detail::index_version));
    if (metric > static_cast<std::uint32_t>(Distance::Cosine))
      throw IndexFileError(name + " names an unknown metric " + std::to_string(metric));
    // Sizes are checked against the file length before anything is allocated from them.
    const std::uint64_t limit = std::uint64_t{1} << 40;
    if (dim == 0 || dim > limit || n > limit / (dim + 1))
      throw IndexFileError(name + " declares an absurd size (" + std::to_string(n) + " x " + std::to_string(dim) + ")");
    const std::uint64_t expected = detail::index_header_bytes + n * (dim + 1) * 4 + 4;
    if (buf.size() != expected)
      throw IndexFileError(name + " is " + (buf.size() < expected ? "truncated" : "too long") + ": expected " +
                           std::to_string(expected) + " bytes for " + std::to_string(n) + " x " + std::to_string(dim) +
                           ", found " + std::to_string(buf.size()));
    const auto stored = detail::le::load<std::uint32_t>(buf.data() + buf.size() - 4);
    const auto computed = crc32_of(buf.data(), buf.size() - 4);
    if (stored != computed)
      throw IndexFileError(name + " is corrupt: CRC32 " + std::to_string(computed) + " does not match the stored " +
                           std::to_string(stored));
    EmbeddingIndex idx(dim, static_cast<Distance>(metric));
    std::vector<float> rows(n * dim);
    std::vector<int> labels(n);
    detail::le::load_floats(buf.data() + detail::index_header_bytes, rows.size(), rows.data());
    for (std::size_t i = 0; i < n; ++i)
      labels[i] = detail::le::load<std::int32_t>(buf.data() + detail::index_header_bytes + (rows.size() + i) * 4);
    try {
      idx.add(rows, labels);
    } catch (const std::invalid_argument& e) {
      throw IndexFileError(name + ": " + e.what());
    }
    return idx;
  }

 private:
  static constexpr std::size_t tile = 8;  // queries that share each load of a database block

  double norm(const float* x) const {
    double s = 0;
    for (std::size_t j = 0; j < dim_; ++j) s += double{x[j]} * x[j];
    return std::sqrt(s);
  }

  void check_finite(std::span<const float> v, const char* who) const {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        throw std::invalid_argument(std::string("siamese::EmbeddingIndex::") + who + ": row " +
                                    std::to_string(i / dim_) + ", column " + std::to_string(i % dim_) +
                                    " is not finite");
  }

  // Database rows are interleaved in blocks of one SIMD width: element (i, j) sits at offset(i, j), so one
  // load holds dimension j of w consecutive rows and a query needs no horizontal sums.
  static constexpr std::size_t w = detail::simd_width;
  static std::size_t blocks(std::size_t rows) { return (rows + w - 1) / w; }
  std::size_t offset(std::size_t i, std::size_t j) const { return ((i / w) * dim_ + j) * w + i % w; }

  // Squared distances (or dot products, for cosine) of tile queries qp to the rows of blocks [b0, b1), into
  // out[t * out_stride + row] for the first nt queries.
  template <bool Dot>
  void distance_tile(const float* const* qp, std::size_t nt, std::size_t b0, std::size_t b1, float* out,
                     std::size_t out_stride) const {
    using detail::SimdF;
    for (std::size_t b = b0; b < b1; ++b) {
      const float* blk = data_.data() + b * dim_ * w;
      SimdF acc[tile];
      for (auto& a : acc) a = SimdF(0.0f);
      for (std::size_t j = 0; j < dim_; ++j) {
        const SimdF xv = SimdF::load_aligned(blk + j * w);
        for (std::size_t t = 0; t < tile; ++t) {
          if constexpr (Dot) {
            acc[t] = xsimd::fma(SimdF(qp[t][j]), xv, acc[t]);
          } else {
            const SimdF diff = SimdF(qp[t][j]) - xv;
            acc[t] = xsimd::fma(diff, diff, acc[t]);
          }
        }
      }
      for (std::size_t t = 0; t < nt; ++t) acc[t].store_unaligned(out + t * out_stride + b * w);
    }
  }

  // Turns a row of dot products or squared distances into the index's metric.
  void finish_distances(float* row, const float* query) const {
    if (metric_ == Distance::Cosine) {
      const double qn = norm(query);
      for (std::size_t d = 0; d < size_; ++d) {
        const double nn = qn * norms_[d];
        row[d] = nn > 0 ? static_cast<float>(1.0 - row[d] / nn) : 1.0f;  // a zero vector is at distance 1
      }
    } else if (metric_ == Distance::Euclidean) {
      for (std::size_t d = 0; d < size_; ++d) row[d] = std::sqrt(row[d]);
    }
  }

  // The k smallest of row[0, size_), ordered by (distance, index): a bounded heap for small k, else a selection.
  void select(const float* row, std::size_t k, std::vector<std::pair<float, std::size_t>>& heap, std::size_t* idx,
              float* dist) const {
    if (k <= 64 && k < size_) {
      heap.clear();
      for (std::size_t d = 0; d < size_; ++d) {
        if (heap.size() < k) {
          heap.emplace_back(row[d], d);
          std::push_heap(heap.begin(), heap.end());
        } else if (row[d] < heap.front().first) {  // on equal distance the earlier index stays
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = {row[d], d};
          std::push_heap(heap.begin(), heap.end());
        }
      }
      std::sort_heap(heap.begin(), heap.end());
      for (std::size_t j = 0; j < k; ++j) idx[j] = heap[j].second, dist[j] = heap[j].first;
      return;
    }
    heap.resize(size_);  // pairs sort by (distance, index) without indirection
    for (std::size_t d = 0; d < size_; ++d) heap[d] = {row[d], d};
    const auto kth = heap.begin() + static_cast<std::ptrdiff_t>(k);
    if (k < size_) std::nth_element(heap.begin(), kth - 1, heap.end());
    std::sort(heap.begin(), kth);
    for (std::size_t j = 0; j < k; ++j) idx[j] = heap[j].second, dist[j] = heap[j].first;
  }

  std::size_t dim_;
  Distance metric_;
  std::size_t size_ = 0;
  detail::AlignedFloats data_;  // blocks(size_) x dim_ x w, see offset()
  std::vector<double> norms_;
  std::vector<int> labels_;
};

}  // namespace siamese
