#pragma once
// Exact k-nearest-neighbour search over embeddings: SIMD distances (xsimd), parallel over queries (oneTBB).

#include <siamese/backend/kinds.hpp>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
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
inline constexpr std::uint32_t index_version = 1;  // float rows, no model signature
inline constexpr std::uint32_t index_version_codes = 2;  // codes, quantizer, optional float rows, model signature
inline constexpr std::size_t index_header_bytes = 8 + 4 + 4 + 8 + 8;
inline constexpr std::size_t index_max_signature = 1 << 16;

}  // namespace detail

// How an index stores its rows:
//   Float   4 bytes a value, searched exactly
//   Int8    1 byte a value, x_j ~ scale_j * code (scale_j = max |x_j| / 127 over the first rows added, later rows
//           clamped): 4x smaller; searched by the distance of the float query to the decoded rows
//   Binary  1 bit a value, x_j > mean_j (over the first rows added): 32x smaller; searched by Hamming distance of
//           the query's bits, whatever the metric
enum class IndexCodes : std::uint32_t { Float = 0, Int8 = 1, Binary = 2 };

// keep_float: Int8 and Binary indexes also keep the float rows, for exact rescoring (search's `rescore`); they are
// read only for the candidates. model_signature: the signature of the model whose embeddings the index holds
// (Model::signature(); EmbeddingIndex::for_model sets it); searches that name another model are refused.
struct IndexOptions {
  IndexCodes codes = IndexCodes::Float;
  bool keep_float = false;
  std::string model_signature{};
};

// rescore: the `rescore` best candidates by codes (at least k) are ranked again by the exact float distance (an Int8
// or Binary index built with keep_float). model_signature: the model the queries come from; when both it and the
// index's are set, they must be equal.
struct SearchOptions {
  std::size_t rescore = 0;
  std::string_view model_signature{};
};

// A nearest-neighbour index: n embeddings of width dim with an int label each (-1 when unlabelled), searched by
// squared L2, L2 or cosine distance (1 - cos), over float rows (exactly) or over int8 or binary codes (IndexCodes).
// Requires finite values.
class EmbeddingIndex {
 public:
  explicit EmbeddingIndex(std::size_t dim, Distance metric = Distance::SquaredEuclidean, IndexOptions opt = {})
      : dim_(dim), metric_(metric), opt_(std::move(opt)) {
    if (dim == 0) throw std::invalid_argument("siamese::EmbeddingIndex: dim must be >= 1");
    if (opt_.codes != IndexCodes::Float && opt_.codes != IndexCodes::Int8 && opt_.codes != IndexCodes::Binary)
      throw std::invalid_argument("siamese::EmbeddingIndex: unknown codes " + std::to_string(unsigned(opt_.codes)));
    if (opt_.model_signature.size() > detail::index_max_signature)
      throw std::invalid_argument("siamese::EmbeddingIndex: a model signature of " +
                                  std::to_string(opt_.model_signature.size()) + " bytes is longer than " +
                                  std::to_string(detail::index_max_signature));
    if (opt_.codes == IndexCodes::Float) opt_.keep_float = true;
  }
  // An index for the embeddings of Model (its width and signature).
  template <class Model>
  static EmbeddingIndex for_model(Distance metric = Distance::SquaredEuclidean, IndexOptions opt = {}) {
    opt.model_signature = Model::signature();
    return EmbeddingIndex(Model::embedding_width, metric, std::move(opt));
  }

  IndexCodes codes() const noexcept { return opt_.codes; }
  bool keeps_float() const noexcept { return opt_.keep_float; }
  const std::string& model_signature() const noexcept { return opt_.model_signature; }
  // Bytes the search scans: the codes (or float rows) and the quantizer.
  std::size_t code_bytes() const noexcept {
    switch (opt_.codes) {
      case IndexCodes::Int8: return size_ * dim_ + dim_ * sizeof(float);
      case IndexCodes::Binary: return size_ * words() * 8 + dim_ * sizeof(float);
      default: return size_ * dim_ * sizeof(float);
    }
  }
  // Every byte the index holds for its rows: codes, float rows when kept, norms and labels.
  std::size_t memory_bytes() const noexcept {
    return code_bytes() + (opt_.codes != IndexCodes::Float && opt_.keep_float ? size_ * dim_ * sizeof(float) : 0) +
           norms_.size() * sizeof(double) + labels_.size() * sizeof(int);
  }
  // Refuses a model other than the index's, naming both (a no-op when either signature is empty).
  void check_model(std::string_view signature, const char* who = "search") const {
    if (!signature.empty() && !opt_.model_signature.empty() && signature != opt_.model_signature)
      throw ShapeError(std::string("siamese::EmbeddingIndex::") + who + ": the index holds embeddings of " +
                       opt_.model_signature + " but the queries come from " + std::string(signature));
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
    if (m == 0) return;
    if (opt_.codes != IndexCodes::Float && quant_.empty()) fit_quantizer(rows, m);
    if (opt_.keep_float) data_.resize(blocks(size_ + m) * dim_ * w, 0.0f);  // padding rows stay zero
    if (opt_.codes == IndexCodes::Int8) int8_.resize((size_ + m) * dim_);
    if (opt_.codes == IndexCodes::Binary) bits_.resize((size_ + m) * words(), 0);
    for (std::size_t i = 0; i < m; ++i) {
      const float* x = rows.data() + i * dim_;
      if (opt_.keep_float)
        for (std::size_t j = 0; j < dim_; ++j) data_[offset(size_ + i, j)] = x[j];
      if (opt_.codes == IndexCodes::Int8) encode_int8(x, int8_.data() + (size_ + i) * dim_);
      if (opt_.codes == IndexCodes::Binary) encode_bits(x, bits_.data() + (size_ + i) * words());
      norms_.push_back(opt_.codes == IndexCodes::Int8 ? int8_norm(size_ + i) : norm(x));
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
    if (opt_.keep_float) {
      for (std::size_t j = 0; j < dim_; ++j) row[j] = data_[offset(i, j)];
    } else if (opt_.codes == IndexCodes::Int8) {
      for (std::size_t j = 0; j < dim_; ++j) row[j] = quant_[j] * float(int8_[i * dim_ + j]);
    } else {  // binary: 1 above the dimension's mean, -1 below
      for (std::size_t j = 0; j < dim_; ++j) row[j] = (bits_[i * words() + j / 64] >> (j % 64)) & 1 ? 1.0f : -1.0f;
    }
    return row;
  }

  // The k nearest rows of each of queries.size() / dim queries; over codes, then rescored, as `opt` says.
  SearchResult search(std::span<const float> queries, std::size_t k, const SearchOptions& opt) const {
    check_model(opt.model_signature);
    if (opt_.codes == IndexCodes::Float) return search(queries, k);
    if (opt.rescore > 0 && !opt_.keep_float)
      throw std::invalid_argument("siamese::EmbeddingIndex::search: rescoring needs the float rows; build the index "
                                  "with IndexOptions::keep_float");
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
    const std::size_t depth = std::min(size_, std::max(res.k, opt.rescore));
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, res.queries, 4), [&](const auto& r) {
      std::vector<float> row(size_), decoded(dim_);
      std::vector<std::uint64_t> qbits(words());
      std::vector<std::pair<float, std::size_t>> heap;
      std::vector<std::size_t> cand(depth);
      std::vector<float> cand_d(depth);
      for (std::size_t qi = r.begin(); qi < r.end(); ++qi) {
        const float* q = queries.data() + qi * dim_;
        code_distances(q, row.data(), qbits.data());
        select(row.data(), depth, heap, cand.data(), cand_d.data());
        if (opt.rescore > 0) {
          heap.clear();
          for (std::size_t c = 0; c < depth; ++c) heap.emplace_back(float_distance(q, cand[c]), cand[c]);
          std::sort(heap.begin(), heap.end());
          for (std::size_t c = 0; c < depth; ++c) cand[c] = heap[c].second, cand_d[c] = heap[c].first;
        }
        std::copy_n(cand.begin(), res.k, res.indices.begin() + std::ptrdiff_t(qi * res.k));
        std::copy_n(cand_d.begin(), res.k, res.distances.begin() + std::ptrdiff_t(qi * res.k));
      }
    });
    return res;
  }

  // The k nearest rows of each of queries.size() / dim queries (over codes for an Int8 or Binary index).
  SearchResult search(std::span<const float> queries, std::size_t k) const {
    if (opt_.codes != IndexCodes::Float) return search(queries, k, SearchOptions{});
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

  // Writes the index to `path` atomically (io/atomic_write.hpp), little-endian, with a CRC32 of its bytes. A float
  // index without a model signature is written in format 1 (header, rows, labels), any other in format 2: header,
  // codes (u32), flags (u32, bit 0: float rows kept), signature length (u32) and bytes, the quantizer (dim floats:
  // Int8 scales or Binary means), the codes (n x dim bytes, or n x ceil(dim / 64) u64 words), the float rows when
  // kept, the labels.
  void save(const std::filesystem::path& path) const {
    if (opt_.codes != IndexCodes::Float || !opt_.model_signature.empty()) return save_codes(path);
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
    if (version == detail::index_version_codes) return load_codes(buf, name);
    if (version != detail::index_version)
      throw IndexFileError(name + " has version " + std::to_string(version) + ", expected " +
                           std::to_string(detail::index_version) + " or " +
                           std::to_string(detail::index_version_codes));
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

  std::size_t words() const noexcept { return (dim_ + 63) / 64; }

  // Int8: scale_j = max |x_j| / 127 (1 where the column is zero); Binary: the column means.
  void fit_quantizer(std::span<const float> rows, std::size_t m) {
    quant_.assign(dim_, 0.0f);
    std::vector<double> acc(dim_, 0.0);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < dim_; ++j) {
        const double v = rows[i * dim_ + j];
        if (opt_.codes == IndexCodes::Int8) acc[j] = std::max(acc[j], std::fabs(v));
        else acc[j] += v;
      }
    for (std::size_t j = 0; j < dim_; ++j)
      quant_[j] = opt_.codes == IndexCodes::Int8 ? (acc[j] > 0 ? float(acc[j] / 127.0) : 1.0f) : float(acc[j] / double(m));
  }
  void encode_int8(const float* x, std::int8_t* out) const {
    for (std::size_t j = 0; j < dim_; ++j)
      out[j] = static_cast<std::int8_t>(std::clamp(std::lround(x[j] / quant_[j]), -127L, 127L));
  }
  void encode_bits(const float* x, std::uint64_t* out) const {
    std::fill(out, out + words(), 0);
    for (std::size_t j = 0; j < dim_; ++j)
      if (x[j] > quant_[j]) out[j / 64] |= std::uint64_t{1} << (j % 64);
  }
  double int8_norm(std::size_t i) const {
    double s = 0;
    for (std::size_t j = 0; j < dim_; ++j) {
      const double v = double(quant_[j]) * int8_[i * dim_ + j];
      s += v * v;
    }
    return std::sqrt(s);
  }
  // The metric's distance of query q to every row, over the codes (Binary: Hamming distance).
  void code_distances(const float* q, float* row, std::uint64_t* qbits) const {
    if (opt_.codes == IndexCodes::Binary) {
      encode_bits(q, qbits);
      const std::size_t nw = words();
      for (std::size_t i = 0; i < size_; ++i) {
        const std::uint64_t* b = bits_.data() + i * nw;
        std::size_t h = 0;
        for (std::size_t t = 0; t < nw; ++t) h += std::size_t(std::popcount(qbits[t] ^ b[t]));
        row[i] = float(h);
      }
      return;
    }
    const float* sc = quant_.data();
    if (metric_ == Distance::Cosine) {
      const double qn = norm(q);
      for (std::size_t i = 0; i < size_; ++i) {
        const std::int8_t* c = int8_.data() + i * dim_;
        float dot = 0;
        for (std::size_t j = 0; j < dim_; ++j) dot += q[j] * (sc[j] * float(c[j]));
        const double nn = qn * norms_[i];
        row[i] = nn > 0 ? float(1.0 - dot / nn) : 1.0f;
      }
      return;
    }
    for (std::size_t i = 0; i < size_; ++i) {
      const std::int8_t* c = int8_.data() + i * dim_;
      float sq = 0;
      for (std::size_t j = 0; j < dim_; ++j) {
        const float t = q[j] - sc[j] * float(c[j]);
        sq += t * t;
      }
      row[i] = metric_ == Distance::Euclidean ? std::sqrt(sq) : sq;
    }
  }
  // The exact distance of query q to float row i (kept rows).
  float float_distance(const float* q, std::size_t i) const {
    double sq = 0, dot = 0, nn = 0;
    for (std::size_t j = 0; j < dim_; ++j) {
      const double x = data_[offset(i, j)];
      sq += (q[j] - x) * (q[j] - x);
      dot += q[j] * x;
      nn += x * x;
    }
    if (metric_ == Distance::Cosine) {
      const double d = norm(q) * std::sqrt(nn);
      return d > 0 ? float(1.0 - dot / d) : 1.0f;
    }
    return float(metric_ == Distance::Euclidean ? std::sqrt(sq) : sq);
  }

  void save_codes(const std::filesystem::path& path) const {
    std::vector<unsigned char> buf;
    buf.insert(buf.end(), detail::index_magic, detail::index_magic + 8);
    detail::le::append<std::uint32_t>(buf, detail::index_version_codes);
    detail::le::append<std::uint32_t>(buf, static_cast<std::uint32_t>(metric_));
    detail::le::append<std::uint64_t>(buf, size_);
    detail::le::append<std::uint64_t>(buf, dim_);
    detail::le::append<std::uint32_t>(buf, static_cast<std::uint32_t>(opt_.codes));
    detail::le::append<std::uint32_t>(buf, opt_.codes != IndexCodes::Float && opt_.keep_float ? 1u : 0u);
    detail::le::append<std::uint32_t>(buf, static_cast<std::uint32_t>(opt_.model_signature.size()));
    buf.insert(buf.end(), opt_.model_signature.begin(), opt_.model_signature.end());
    if (opt_.codes != IndexCodes::Float)
      for (std::size_t j = 0; j < dim_; ++j) detail::le::append<float>(buf, quant_.empty() ? 0.0f : quant_[j]);
    if (opt_.codes == IndexCodes::Int8)
      for (std::int8_t c : int8_) buf.push_back(static_cast<unsigned char>(c));
    if (opt_.codes == IndexCodes::Binary)
      for (std::uint64_t b : bits_) detail::le::append<std::uint64_t>(buf, b);
    if (opt_.keep_float)
      for (std::size_t i = 0; i < size_; ++i)
        for (std::size_t j = 0; j < dim_; ++j) detail::le::append<float>(buf, data_[offset(i, j)]);
    for (int l : labels_) detail::le::append<std::int32_t>(buf, l);
    detail::le::append<std::uint32_t>(buf, crc32_of(buf.data(), buf.size()));
    write_file_atomically<IndexFileError>(path, {reinterpret_cast<const char*>(buf.data()), buf.size()});
  }

  // Format 2 (see save); buf holds the whole file, whose header and length load() has checked the bounds of.
  static EmbeddingIndex load_codes(const std::vector<unsigned char>& buf, const std::string& name) {
    const auto metric = detail::le::load<std::uint32_t>(buf.data() + 12);
    const auto n = detail::le::load<std::uint64_t>(buf.data() + 16);
    const auto dim = detail::le::load<std::uint64_t>(buf.data() + 24);
    std::size_t at = detail::index_header_bytes;
    if (buf.size() < at + 12 + 4)
      throw IndexFileError(name + " is truncated: " + std::to_string(buf.size()) + " bytes, shorter than its header");
    const auto codes = detail::le::load<std::uint32_t>(buf.data() + at);
    const auto flags = detail::le::load<std::uint32_t>(buf.data() + at + 4);
    const auto sig_len = detail::le::load<std::uint32_t>(buf.data() + at + 8);
    at += 12;
    if (codes > static_cast<std::uint32_t>(IndexCodes::Binary))
      throw IndexFileError(name + " names unknown codes " + std::to_string(codes));
    if (flags > 1 || (codes == 0 && flags != 0))
      throw IndexFileError(name + " has unknown flags " + std::to_string(flags));
    if (sig_len > detail::index_max_signature)
      throw IndexFileError(name + " declares a model signature of " + std::to_string(sig_len) + " bytes, over " +
                           std::to_string(detail::index_max_signature));
    // Sizes, checked against the file length before anything is allocated from them.
    const std::uint64_t limit = std::uint64_t{1} << 40;
    if (dim == 0 || dim > (std::uint64_t{1} << 24) || n > limit / (dim + 1))
      throw IndexFileError(name + " declares an absurd size (" + std::to_string(n) + " x " + std::to_string(dim) + ")");
    const bool floats = codes == 0 || flags == 1;
    const std::uint64_t words = (dim + 63) / 64;
    const std::uint64_t code_size = codes == 1 ? n * dim : codes == 2 ? n * words * 8 : 0;
    const std::uint64_t expected = at + sig_len + (codes ? dim * 4 : 0) + code_size + (floats ? n * dim * 4 : 0) +
                                   n * 4 + 4;
    if (buf.size() != expected)
      throw IndexFileError(name + " is " + (buf.size() < expected ? "truncated" : "too long") + ": expected " +
                           std::to_string(expected) + " bytes for " + std::to_string(n) + " x " + std::to_string(dim) +
                           ", found " + std::to_string(buf.size()));
    const auto stored = detail::le::load<std::uint32_t>(buf.data() + buf.size() - 4);
    const auto computed = crc32_of(buf.data(), buf.size() - 4);
    if (stored != computed)
      throw IndexFileError(name + " is corrupt: CRC32 " + std::to_string(computed) + " does not match the stored " +
                           std::to_string(stored));
    IndexOptions o;
    o.codes = static_cast<IndexCodes>(codes);
    o.keep_float = floats;
    o.model_signature.assign(reinterpret_cast<const char*>(buf.data() + at), sig_len);
    at += sig_len;
    EmbeddingIndex idx(dim, static_cast<Distance>(metric), o);
    if (codes && n == 0) {
      at += dim * 4;  // an index nothing was added to has no quantizer yet
    } else if (codes) {
      idx.quant_.resize(dim);
      detail::le::load_floats(buf.data() + at, dim, idx.quant_.data());
      at += dim * 4;
      for (std::size_t j = 0; j < dim; ++j)
        if (!std::isfinite(idx.quant_[j]) || (codes == 1 && !(idx.quant_[j] > 0)))
          throw IndexFileError(name + ": the quantizer's value " + std::to_string(idx.quant_[j]) + " for column " +
                               std::to_string(j) + " is " + (codes == 1 ? "not a positive finite scale" : "not finite"));
    }
    if (codes == 1) {
      idx.int8_.resize(n * dim);
      for (std::size_t i = 0; i < n * dim; ++i) {
        idx.int8_[i] = static_cast<std::int8_t>(buf[at + i]);
        if (idx.int8_[i] == -128)
          throw IndexFileError(name + ": int8 code -128 at row " + std::to_string(i / dim) + ", column " +
                               std::to_string(i % dim) + " (codes lie in [-127, 127])");
      }
      at += n * dim;
    }
    if (codes == 2) {
      idx.bits_.resize(n * words);
      for (std::size_t i = 0; i < n * words; ++i) idx.bits_[i] = detail::le::load<std::uint64_t>(buf.data() + at + 8 * i);
      if (dim % 64)
        for (std::size_t i = 0; i < n; ++i)
          if (idx.bits_[i * words + words - 1] >> (dim % 64))
            throw IndexFileError(name + ": row " + std::to_string(i) + " sets bits past its " + std::to_string(dim) +
                                 " columns");
      at += n * words * 8;
    }
    std::vector<float> rows(floats ? n * dim : 0);
    if (floats) {
      detail::le::load_floats(buf.data() + at, rows.size(), rows.data());
      at += n * dim * 4;
      for (std::size_t i = 0; i < rows.size(); ++i)
        if (!std::isfinite(rows[i]))
          throw IndexFileError(name + ": row " + std::to_string(i / dim) + ", column " + std::to_string(i % dim) +
                               " is not finite");
      idx.data_.resize(blocks(n) * dim * w, 0.0f);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < dim; ++j) idx.data_[idx.offset(i, j)] = rows[i * dim + j];
    }
    idx.labels_.resize(n);
    for (std::size_t i = 0; i < n; ++i) idx.labels_[i] = detail::le::load<std::int32_t>(buf.data() + at + 4 * i);
    idx.size_ = n;
    for (std::size_t i = 0; i < n; ++i)
      idx.norms_.push_back(codes == 1 ? idx.int8_norm(i) : floats ? idx.norm(rows.data() + i * dim) : 0.0);
    return idx;
  }

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
  IndexOptions opt_;
  std::size_t size_ = 0;
  std::vector<float> quant_;           // Int8: per-column scales; Binary: per-column means
  std::vector<std::int8_t> int8_;      // Int8: n x dim
  std::vector<std::uint64_t> bits_;    // Binary: n x words()
  detail::AlignedFloats data_;  // blocks(size_) x dim_ x w, see offset()
  std::vector<double> norms_;
  std::vector<int> labels_;
};

}  // namespace siamese
