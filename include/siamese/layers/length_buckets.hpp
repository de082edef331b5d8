#pragma once
// LengthBuckets<Body, Lengths...>: a token-id encoder compiled for a few static sequence lengths that share one
// set of parameters; each batch runs in the shortest length that holds its longest sequence.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/buffer.hpp"
#include "../model/sequential.hpp"
#include "layer.hpp"

namespace siamese {

namespace detail {

/// Holds the checks of one bucket against the full-length body; the two types appear in the diagnostic.
template <class Short, class Full>
struct require_same_body {
  static_assert(Short::param_count == Full::param_count && Short::state_count == Full::state_count,
                "LengthBuckets: the body's parameters and states must not depend on the sequence length (a "
                "position table sized by a maximum length, not by the bucket's)");
  static_assert(std::is_same_v<typename Short::out_shape, typename Full::out_shape>,
                "LengthBuckets: the body must end in an output whose shape does not depend on the length (pool "
                "over the positions)");
  static constexpr bool value = true;
};

/// The token vocabulary of a layer's first layer that reads ids, looking into nested lists (Frozen, Sequential).
template <class L>
constexpr std::size_t first_token_vocab() {
  if constexpr (requires { L::token_vocab; }) return L::token_vocab;
  else if constexpr (requires { typename L::template layer<0>; }) return first_token_vocab<typename L::template layer<0>>();
  else return 0;
}

template <class Body, class In, class Pos, std::size_t... Ls>
struct LengthBucketsImpl {
  static_assert(In::rank == 1, "LengthBuckets expects token ids: Input<MaxLength> before it");
  static constexpr std::size_t T = In::size;
  /// The bucket lengths below T, in the order given, then T itself.
  static constexpr std::size_t kept = ((Ls < T ? 1 : 0) + ... + 0);
  static constexpr std::array<std::size_t, kept + 1> lengths = [] {
    std::array<std::size_t, kept + 1> a{};
    std::size_t i = 0;
    ((Ls < T ? (a[i++] = Ls, 0) : 0), ...);
    a[kept] = T;
    return a;
  }();
  static_assert([] {
    for (std::size_t i = 0; i + 1 < lengths.size(); ++i)
      if (lengths[i] == 0 || lengths[i] >= lengths[i + 1]) return false;
    return true;
  }(), "LengthBuckets: the bucket lengths must be positive and rise strictly");

  template <std::size_t L>
  using body = typename Body::template bind<Shape<L>, Pos>;
  using full = body<T>;
  static_assert([]<std::size_t... I>(std::index_sequence<I...>) {
    return (require_same_body<body<lengths[I]>, full>::value && ...);
  }(std::make_index_sequence<kept>{}));

  using in_shape = In;
  using out_shape = typename full::out_shape;
  static constexpr bool alias = false;
  static constexpr std::size_t param_count = full::param_count;
  static constexpr std::size_t state_count = full::state_count;
  static constexpr bool has_trainable_params = full::has_trainable_params;
  static constexpr std::size_t token_vocab = first_token_vocab<full>();
  static_assert(token_vocab > 0, "LengthBuckets: the body must start with a layer that reads token ids (Embedding, "
                                 "BertEmbeddings)");

  /// The bucket's compacted ids, then the body's own scratch: sized for the largest of them.
  static std::size_t scratch(std::size_t n) {
    std::size_t s = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((s = std::max(s, align_floats(n * lengths[I]) + body<lengths[I]>::scratch(n))), ...);
    }(std::make_index_sequence<lengths.size()>{});
    return s;
  }

  /// The length the batch needs: one past its last non-padding id (at least 1).
  template <class B>
  static std::size_t needed_length(const float* ids, std::size_t n) {
    const float* host = ids;
    if constexpr (!std::is_same_v<typename B::Buffer, HostBuffer>) {
      thread_local std::vector<float> copy;
      copy.resize(n * T);
      B::to_host(copy.data(), ids, n * T);
      host = copy.data();
    }
    std::size_t need = 1;
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t t = T; t > need; --t)
        if (host[b * T + t - 1] != 0.0f) {
          need = t;
          break;
        }
    return need;
  }
  /// The index of the shortest bucket of at least `need` positions.
  static std::size_t bucket_for(std::size_t need) {
    for (std::size_t i = 0; i < lengths.size(); ++i)
      if (lengths[i] >= need) return i;
    return lengths.size() - 1;
  }

  template <class F>
  static void dispatch(std::size_t bucket, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((bucket == I ? (f.template operator()<lengths[I]>(), 0) : 0), ...);
    }(std::make_index_sequence<lengths.size()>{});
  }

  template <class B>
  static void forward(const Forward& f) {
    dispatch(bucket_for(needed_length<B>(f.x, f.n)), [&]<std::size_t L>() {
      const float* ids = f.x;
      float* s = f.scratch;
      if constexpr (L != T) {
        B::copy_cols({.dst = f.scratch, .ld_dst = L, .src = f.x, .ld_src = T, .rows = f.n, .cols = L});
        ids = f.scratch;
        s += align_floats(f.n * L);
      }
      body<L>::template forward<B>(Forward{ids, f.y, f.n, f.w, f.state, s, f.training, f.seed, ids, L});
    });
  }
  template <class B>
  static void backward(const Backward& b) {
    dispatch(bucket_for(needed_length<B>(b.x, b.n)), [&]<std::size_t L>() {
      const float* ids = b.x;
      float* s = b.scratch;
      if constexpr (L != T) {
        ids = b.scratch;  // compacted by forward, unchanged since
        s += align_floats(b.n * L);
      }
      body<L>::template backward<B>(Backward{ids, b.y, b.dy, nullptr, b.n, b.w, b.dw, b.state, s, ids, L, b.training});
    });
    if (b.dx) B::fill(b.dx, 0.0f, b.n * T);  // token ids are discrete: no gradient flows back to them
  }
  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    full::collect(out, prefix, offset, trainable, states);
  }
  /// The description of the full-length body, so that a model saved with buckets loads without them and back.
  static std::string describe() { return full::describe(); }
};
}  // namespace detail

/// An encoder over token ids (Input<MaxLength>) compiled for the lengths Lengths... below MaxLength (longer ones
/// are left out, so one list serves every maximum) and MaxLength itself, all sharing one set of parameters. Body
/// is a Sequential<...> without Input whose first layer reads the ids (Embedding, BertEmbeddings) and which pools
/// over the positions; it is bound to Shape<L> for each length L. Each batch runs in the shortest length that holds
/// its longest sequence (ids are padded with 0 at the end), so short sentences do not pay for the maximum length;
/// the results equal those at the maximum length. Sort or group a data set by length to make the most of it.
/// Parameters, names and weight files are those of Body at the maximum length.
template <class Body, std::size_t... Lengths>
struct LengthBuckets {
  template <class In, class Pos>
  using bind = detail::LengthBucketsImpl<Body, In, Pos, Lengths...>;
};

}  // namespace siamese
