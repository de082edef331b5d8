#pragma once
// Concat<Branches...>: parallel branches over the same input, outputs joined on the last axis
// (GlobalMaxPool2D and GlobalAvgPool2D side by side, as in the VGGFace Siamese encoder).
#include <algorithm>
#include <array>
#include <string>
#include <tuple>
#include <utility>

#include "../core/random.hpp"
#include "layer.hpp"

namespace siamese {

namespace detail {
template <class In, class Pos, class... Bs>
struct ConcatImpl {
  static_assert(sizeof...(Bs) >= 2, "Concat needs at least two branches");
  using branches = std::tuple<typename Bs::template bind<In, Pos>...>;
  static constexpr std::size_t count = sizeof...(Bs);
  template <std::size_t I>
  using branch = std::tuple_element_t<I, branches>;
  using first_out = typename branch<0>::out_shape;
  static constexpr std::size_t rows = leading_size<first_out>;
  static_assert(((leading_size<typename Bs::template bind<In, Pos>::out_shape> == rows &&
                  Bs::template bind<In, Pos>::out_shape::rank == first_out::rank) && ...),
                "Concat: the branches' outputs differ in shape before the last axis and cannot be joined");
  static constexpr std::array<std::size_t, count> widths{last_dim<typename Bs::template bind<In, Pos>::out_shape>...};
  static constexpr std::array<std::size_t, count> params_n{param_count_of<typename Bs::template bind<In, Pos>>()...};
  static constexpr std::array<std::size_t, count> states_n{state_count_of<typename Bs::template bind<In, Pos>>()...};
  static constexpr std::size_t width = [] {
    std::size_t s = 0;
    for (auto w : widths) s += w;
    return s;
  }();
  static constexpr auto offsets_of(const std::array<std::size_t, count>& a) {
    std::array<std::size_t, count> o{};
    for (std::size_t i = 1; i < count; ++i) o[i] = o[i - 1] + a[i - 1];
    return o;
  }
  static constexpr auto col_off = offsets_of(widths), param_off = offsets_of(params_n), state_off = offsets_of(states_n);
  static constexpr std::size_t param_count = param_off[count - 1] + params_n[count - 1];
  static constexpr std::size_t state_count = state_off[count - 1] + states_n[count - 1];
  static constexpr bool has_trainable_params = (has_trainable<typename Bs::template bind<In, Pos>>() || ...);
  static constexpr bool alias = false;

  using in_shape = In;
  using out_shape = decltype([]<std::size_t... I>(std::index_sequence<I...>) {
    return Shape<(I + 1 < first_out::rank ? first_out::dims[I] : width)...>{};
  }(std::make_index_sequence<first_out::rank>{}));

  // scratch: per branch [output | dy | own scratch], then one input-gradient buffer.
  static std::size_t scratch(std::size_t n) {
    std::size_t s = align_floats(n * In::size);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((s += 2 * align_floats(n * rows * widths[I]) + align_floats(branch<I>::scratch(n))), ...);
    }(std::make_index_sequence<count>{});
    return s;
  }
  template <std::size_t I>
  static float* slot(float* s, std::size_t n, int which) {  // 0 output, 1 dy, 2 scratch
    [&]<std::size_t... J>(std::index_sequence<J...>) {
      ((s += 2 * align_floats(n * rows * widths[J]) + align_floats(branch<J>::scratch(n))), ...);
    }(std::make_index_sequence<I>{});
    return s + which * align_floats(n * rows * widths[I]);
  }

  template <class B>
  static void forward(const Forward& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((branch<I>::template forward<B>(Forward{f.x, slot<I>(f.scratch, f.n, 0), f.n, f.w + param_off[I],
                                               f.state + state_off[I], slot<I>(f.scratch, f.n, 2), f.training,
                                               hash2(f.seed, I + 1), f.tokens, f.tokens_stride}),
        B::copy_cols({.dst = f.y + col_off[I],
                      .ld_dst = width,
                      .src = slot<I>(f.scratch, f.n, 0),
                      .ld_src = widths[I],
                      .rows = f.n * rows,
                      .cols = widths[I]})),
       ...);
    }(std::make_index_sequence<count>{});
  }
  template <class B>
  static void backward(const Backward& b) {
    float* tmp = b.scratch + scratch(b.n) - align_floats(b.n * In::size);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto one = [&]<std::size_t K>() {
        float* dyk = slot<K>(b.scratch, b.n, 1);
        B::copy_cols({.dst = dyk,
                      .ld_dst = widths[K],
                      .src = b.dy + col_off[K],
                      .ld_src = width,
                      .rows = b.n * rows,
                      .cols = widths[K]});
        float* dx = b.dx ? (K == 0 ? b.dx : tmp) : nullptr;
        branch<K>::template backward<B>(Backward{b.x, slot<K>(b.scratch, b.n, 0), dyk, dx, b.n, b.w + param_off[K],
                                                 b.dw ? b.dw + param_off[K] : nullptr, b.state + state_off[K],
                                                 slot<K>(b.scratch, b.n, 2), b.tokens, b.tokens_stride, b.training});
        if (b.dx && K > 0) B::add(b.dx, tmp, b.n * In::size);
      };
      (one.template operator()<I>(), ...);
    }(std::make_index_sequence<count>{});
  }
  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (detail::collect<branch<I>>(out, prefix + "branch" + std::to_string(I) + "/",
                                  offset + (states ? state_off[I] : param_off[I]), trainable, states),
       ...);
    }(std::make_index_sequence<count>{});
  }
  static std::string describe() {
    std::string s = "Concat[";
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((s += (I ? "|" : "") + branch<I>::describe()), ...);
    }(std::make_index_sequence<count>{});
    return s + "]";
  }
};
}  // namespace detail

/// Runs every branch on the same input and joins their outputs on the last axis; the outputs must
/// agree on every other axis. Concat<GlobalMaxPool2D, GlobalAvgPool2D> maps (H, W, C) to (2C).
template <class... Branches>
struct Concat {
  template <class In, class Pos>
  using bind = detail::ConcatImpl<In, Pos, Branches...>;
};

}  // namespace siamese
