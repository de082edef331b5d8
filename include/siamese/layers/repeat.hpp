#pragma once
// Repeat<N, Layers...>: N copies of Sequential<Layers...> applied one after the other, each with its own
// parameters, e.g. a 6-layer transformer encoder as one line. The block is bound once and run N times
// at N parameter offsets, so a deep stack costs the compiler one block, not N.
#include <string>
#include <type_traits>
#include <vector>

#include "../core/random.hpp"
#include "../model/sequential.hpp"
#include "layer.hpp"

namespace siamese {

namespace detail {

/// Holds the check that a repeated block keeps its input shape; both shapes appear in the diagnostic.
template <class BlockInput, class BlockOutput>
struct require_shape_kept {
  static_assert(std::is_same_v<BlockInput, BlockOutput>,
                "Repeat<N, Layers...>: the block must keep its input shape so that its output can feed the next "
                "copy (see require_shape_kept<input, output>)");
  static constexpr bool value = std::is_same_v<BlockInput, BlockOutput>;
};

template <std::size_t N, class In, class Pos, class... Ls>
struct RepeatImpl {
  static_assert(N > 0, "Repeat needs at least one copy");
  using block = SequentialImpl<false, In, Pos, Ls...>;
  using in_shape = In;
  using out_shape = std::conditional_t<require_shape_kept<In, typename block::out_shape>::value, In, In>;
  static constexpr bool alias = false;
  static constexpr std::size_t block_params = block::param_count, block_states = block::state_count;
  static constexpr std::size_t param_count = N * block_params;
  static constexpr std::size_t state_count = N * block_states;
  static constexpr bool has_trainable_params = block::has_trainable_params;

  /// Per copy i: its output (the next copy's input; the last one writes into y) and its block scratch;
  /// then two gradient buffers that alternate going down.
  static std::size_t act_floats(std::size_t n) { return align_floats(n * In::size); }
  static std::size_t copy_floats(std::size_t n) { return act_floats(n) + align_floats(block::scratch(n)); }
  static std::size_t scratch(std::size_t n) { return N * copy_floats(n) + 2 * act_floats(n); }
  static float* act(float* s, std::size_t n, std::size_t i) { return s + i * copy_floats(n); }
  static float* block_scratch(float* s, std::size_t n, std::size_t i) { return act(s, n, i) + act_floats(n); }

  template <class B>
  static void forward(const Forward& f) {
    const float* x = f.x;
    for (std::size_t i = 0; i < N; ++i) {
      float* y = i + 1 == N ? f.y : act(f.scratch, f.n, i);
      block::template forward<B>(Forward{x, y, f.n, f.w + i * block_params, f.state + i * block_states,
                                         block_scratch(f.scratch, f.n, i), f.training, hash2(f.seed, i + 1), f.tokens,
                                         f.tokens_stride});
      x = y;
    }
  }

  template <class B>
  static void backward(const Backward& b) {
    float* grad[2] = {b.scratch + N * copy_floats(b.n), b.scratch + N * copy_floats(b.n) + act_floats(b.n)};
    const float* g = b.dy;
    for (std::size_t i = N; i-- > 0;) {
      const bool need_dx = i > 0 || b.dx != nullptr;
      if (!need_dx && (b.dw == nullptr || !has_trainable_params)) break;
      float* dst = !need_dx ? nullptr : i == 0 ? b.dx : grad[i % 2];
      const float* x = i == 0 ? b.x : act(b.scratch, b.n, i - 1);
      const float* y = i + 1 == N ? b.y : act(b.scratch, b.n, i);
      block::template backward<B>(Backward{x, y, g, dst, b.n, b.w + i * block_params,
                                           b.dw ? b.dw + i * block_params : nullptr, b.state + i * block_states,
                                           block_scratch(b.scratch, b.n, i), b.tokens, b.tokens_stride,
                                           b.training});
      g = dst;
    }
  }

  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    for (std::size_t i = 0; i < N; ++i)
      detail::collect<block>(out, prefix + std::to_string(i) + "/",
                             offset + i * (states ? block_states : block_params), trainable, states);
  }
  static std::string describe() { return "Repeat<" + std::to_string(N) + "," + block::describe() + ">"; }
};

}  // namespace detail

/// N copies of Sequential<Layers...> applied in order, each with its own parameters: copy i's are
/// named "<i>/..." and packed after copy i-1's. The block must map its input shape to itself
/// (checked at compile time, naming both shapes). Repeat<2, X> computes what Sequential<X, X> does
/// with the same parameters. Each copy keeps its own output and scratch for backward.
template <std::size_t N, class... Layers>
struct Repeat {
  static_assert(sizeof...(Layers) > 0, "Repeat needs at least one layer to repeat");
  template <class In, class Pos>
  using bind = detail::RepeatImpl<N, In, Pos, Layers...>;
};

}  // namespace siamese
