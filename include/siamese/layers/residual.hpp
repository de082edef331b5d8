#pragma once
// Residual<Layers...>: y = x + f(x); ResidualBlock<Main<...>, Shortcut<...>, Act>: y = act(main(x) + shortcut(x)),
// the projection shortcut of ResNet. Both are one implementation; branches are nested Sequentials.
#include <array>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../backend/args/bert_layers.hpp"
#include "../core/random.hpp"
#include "../model/sequential.hpp"
#include "activation.hpp"

namespace siamese {

/// The main branch of a ResidualBlock: layers applied in order, as in Sequential.
template <class... Layers>
struct Main {
  template <class In, class Pos>
  using bind = detail::SequentialImpl<false, In, Pos, Layers...>;
};
/// The shortcut branch of a ResidualBlock; Shortcut<> (no layers) is the identity.
template <class... Layers>
struct Shortcut {
  template <class In, class Pos>
  using bind = detail::SequentialImpl<false, In, Pos, Layers...>;
};

namespace detail {

/// The identity shortcut: no parameters, no kernel.
template <class In>
struct IdentityBranch : LayerDefaults {
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t param_count = 0, state_count = 0;
  static constexpr bool has_trainable_params = false;
  static void collect(std::vector<ParamInfo>&, const std::string&, std::size_t, bool, bool) {}
  static std::string describe() { return "Identity"; }
};

/// Holds the shape check of Residual; both shapes appear in the diagnostic's "In instantiation of".
template <class Input, class Output>
struct residual_keeps_shape {
  static_assert(std::is_same_v<Input, Output>,
                "Residual<Layers...>: y = x + f(x) needs f to keep the shape, but f maps the first shape below "
                "(its input) to the second (its output); end f with a layer of the input's width, or use "
                "ResidualBlock<Main<...>, Shortcut<...>> with a projection shortcut");
  static constexpr bool value = true;
};
/// Holds the shape check of ResidualBlock: main branch's output first, shortcut's second.
template <class MainOut, class ShortcutOut>
struct residual_branches_match {
  static_assert(std::is_same_v<MainOut, ShortcutOut>,
                "ResidualBlock: the main branch's output (first shape below) and the shortcut's output (second "
                "shape below) differ, so they cannot be added; give the shortcut a projection to the main "
                "branch's shape, e.g. Shortcut<Dense<N>> or Shortcut<Conv2D<F, 1, S>>");
  static constexpr bool value = true;
};

/// The bound form: Mn and Sc are the bound branches (Sc = IdentityBranch<In> for an identity shortcut).
template <class In, class Mn, class Sc, Act A, bool Block>
struct ResidualImpl {
  static constexpr bool projection = !std::is_same_v<Sc, IdentityBranch<In>>;
  using main = Mn;
  using shortcut = Sc;
  using in_shape = In;
  using out_shape = typename Mn::out_shape;
  static constexpr std::size_t out_size = out_shape::size;
  static constexpr std::size_t main_params = param_count_of<Mn>(), main_states = state_count_of<Mn>();
  static constexpr std::size_t param_count = main_params + param_count_of<Sc>();
  static constexpr std::size_t state_count = main_states + state_count_of<Sc>();
  static constexpr bool has_trainable_params = has_trainable<Mn>() || has_trainable<Sc>();
  static constexpr bool alias = false;

  // scratch: [main output | main scratch | shortcut output | shortcut scratch | pre-activation | dz | dx temp]
  static std::array<std::size_t, 7> part_sizes(std::size_t n) {
    return {align_floats(n * out_size),
            align_floats(Mn::scratch(n)),
            align_floats(projection ? n * out_size : 0),
            align_floats(projection ? Sc::scratch(n) : 0),
            align_floats(A == Act::GELU ? n * out_size : 0),
            align_floats(A != Act::Linear ? n * out_size : 0),
            align_floats(projection ? n * In::size : 0)};
  }
  struct Parts {
    float *main_out, *main_scratch, *short_out, *short_scratch, *pre, *dz, *dx_tmp;
  };
  static Parts parts(float* s, std::size_t n) {
    const auto z = part_sizes(n);
    Parts p{};
    float** fields[] = {&p.main_out, &p.main_scratch, &p.short_out, &p.short_scratch, &p.pre, &p.dz, &p.dx_tmp};
    for (std::size_t i = 0; i < z.size(); ++i) *fields[i] = std::exchange(s, s + z[i]);
    return p;
  }
  static std::size_t scratch(std::size_t n) {
    std::size_t s = 0;
    for (std::size_t z : part_sizes(n)) s += z;
    return s;
  }

  template <class B>
  static void forward(const Forward& f) {
    const Parts p = parts(f.scratch, f.n);
    Mn::template forward<B>(Forward{f.x, p.main_out, f.n, f.w, f.state, p.main_scratch, f.training, hash2(f.seed, 1),
                                    f.tokens, f.tokens_stride});
    if constexpr (projection) {
      Sc::template forward<B>(Forward{f.x, p.short_out, f.n, f.w + main_params, f.state + main_states,
                                      p.short_scratch, f.training, hash2(f.seed, 2), f.tokens, f.tokens_stride});
      B::copy(f.y, p.short_out, f.n * out_size);
    } else {
      B::copy(f.y, f.x, f.n * out_size);
    }
    B::add(f.y, p.main_out, f.n * out_size);
    if constexpr (A == Act::GELU)
      B::gelu_forward({.x = f.y, .y = f.y, .pre = p.pre, .bias = nullptr, .rows = f.n, .cols = out_size});
    else if constexpr (A != Act::Linear) B::activation({.act = A, .x = f.y, .y = f.y, .n = f.n * out_size});
  }

  template <class B>
  static void backward(const Backward& b) {
    const Parts p = parts(b.scratch, b.n);
    const float* dz = b.dy;
    if constexpr (A == Act::GELU) {
      B::gelu_backward({.pre = p.pre, .dy = b.dy, .dx = p.dz, .n = b.n * out_size});
      dz = p.dz;
    } else if constexpr (A != Act::Linear) {
      B::activation_backward({.act = A, .y = b.y, .dy = b.dy, .dx = p.dz, .n = b.n * out_size});
      dz = p.dz;
    }
    Mn::template backward<B>(Backward{b.x, p.main_out, dz, b.dx, b.n, b.w, b.dw, b.state, p.main_scratch, b.tokens,
                                      b.tokens_stride, b.training});
    if constexpr (projection) {
      Sc::template backward<B>(Backward{b.x, p.short_out, dz, b.dx ? p.dx_tmp : nullptr, b.n, b.w + main_params,
                                        b.dw ? b.dw + main_params : nullptr, b.state + main_states, p.short_scratch,
                                        b.tokens, b.tokens_stride, b.training});
      if (b.dx) B::add(b.dx, p.dx_tmp, b.n * In::size);
    } else {
      if (b.dx) B::add(b.dx, dz, b.n * In::size);
    }
  }

  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    if constexpr (Block) {
      detail::collect<Mn>(out, prefix + "main/", offset, trainable, states);
      detail::collect<Sc>(out, prefix + "shortcut/", offset + (states ? main_states : main_params), trainable, states);
    } else {
      detail::collect<Mn>(out, prefix, offset, trainable, states);
    }
  }
  static std::string describe() {
    const auto inner = [](const std::string& s) { return s.substr(s.find('[')); };  // "Sequential[...]" -> "[...]"
    if constexpr (!Block) return "Residual" + inner(Mn::describe());
    else
      return "ResidualBlock[main" + inner(Mn::describe()) + ",shortcut" +
             (projection ? inner(Sc::describe()) : std::string("[identity]")) + "," + act_name(A) + "]";
  }
};

template <class In, class Pos, class... Ls>
struct bind_residual {
  using mn = SequentialImpl<false, In, Pos, Ls...>;
  static_assert(residual_keeps_shape<In, typename mn::out_shape>::value);
  using type = ResidualImpl<In, mn, IdentityBranch<In>, Act::Linear, false>;
};

template <class M, class S, class In, class Pos>
struct bind_residual_block {
  static_assert(sizeof(M) == 0, "ResidualBlock's branches are spelled ResidualBlock<Main<Layers...>, Shortcut<Layers...>>");
};
template <class... Ms, class... Ss, class In, class Pos>
struct bind_residual_block<Main<Ms...>, Shortcut<Ss...>, In, Pos> {
  using mn = SequentialImpl<false, In, Pos, Ms...>;
  template <bool Identity, class = void>
  struct pick {
    using type = IdentityBranch<In>;
  };
  template <class V>
  struct pick<false, V> {
    using type = SequentialImpl<false, In, Pos, Ss...>;
  };
  using sc = typename pick<sizeof...(Ss) == 0>::type;
  static_assert(residual_branches_match<typename mn::out_shape, typename sc::out_shape>::value);
};

}  // namespace detail

/// A residual connection y = x + f(x), f = Sequential<Layers...> bound to the input's shape, which it must keep
/// (checked at compile time; the error names both shapes). The input gradient is f's plus dy. Parameters are
/// named as those of a nested Sequential ("2_residual/0_dense/kernel"); Frozen<Residual<...>> freezes them.
template <class... Layers>
struct Residual {
  static_assert(sizeof...(Layers) > 0, "Residual needs at least one layer");
  template <class In, class Pos>
  using bind = typename detail::bind_residual<In, Pos, Layers...>::type;
};

/// y = act(main(x) + shortcut(x)): ResNet's block with a projection shortcut (Shortcut<Conv2D<F, 1, 2>>, say),
/// or with the identity (Shortcut<>). Both branches see the same input and must give the same shape (checked at
/// compile time; the error names both). Act (Linear by default) follows the sum, as ResNet's ReLU does.
/// Parameters: main's first ("main/0_conv2d/kernel"), then the shortcut's ("shortcut/0_conv2d/kernel").
template <class MainBranch, class ShortcutBranch = Shortcut<>, detail::ActivationType A = Linear>
struct ResidualBlock {
  template <class In, class Pos>
  using bind = detail::ResidualImpl<In, typename detail::bind_residual_block<MainBranch, ShortcutBranch, In, Pos>::mn,
                                    typename detail::bind_residual_block<MainBranch, ShortcutBranch, In, Pos>::sc,
                                    A::act, true>;
};

}  // namespace siamese
