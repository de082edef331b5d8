#pragma once
// Sequential<Layers...>: a flat list of layers whose shapes, parameter counts and buffer offsets are
// all derived at compile time. Frozen<Layers...> is the same list with its parameters held fixed.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/random.hpp"
#include "../layers/layer.hpp"
#include "../layers/reshape.hpp"

namespace siamese {

namespace detail {

template <class In, std::size_t I, class... Ls>
struct bind_chain {
  using type = std::tuple<>;
  using out = In;
};
/// Holds the check that a Sequential's element is a layer spec; the element's type appears in the diagnostic.
template <class L, class In, std::size_t I>
struct require_layer_spec {
  static_assert(LayerSpec<L, In>, "Sequential: this element is not a layer (a layer spec has a member template "
                                  "bind<InputShape, Position>, as Dense<N>, Conv2D<F, K> and the other layers do)");
  static constexpr bool value = LayerSpec<L, In>;
};
/// After a failed check, a pass-through stand-in keeps the compiler from piling further errors on top.
struct NotALayer {
  template <class In, class Pos>
  using bind = InputImpl<std::conditional_t<std::is_void_v<In>, Shape<1>, In>, In, Pos>;
};
template <class In, std::size_t I, class L, class... Rest>
struct bind_chain<In, I, L, Rest...> {
  using spec = std::conditional_t<require_layer_spec<L, In, I>::value, L, NotALayer>;
  using bound = typename spec::template bind<In, LayerIndex<I>>;
  static_assert(BoundLayer<bound>, "a layer's bind<In, Pos> must name a bound layer (see siamese/layers/layer.hpp)");
  using next = bind_chain<typename bound::out_shape, I + 1, Rest...>;
  using type = decltype(std::tuple_cat(std::declval<std::tuple<bound>>(), std::declval<typename next::type>()));
  using out = typename next::out;
};

/// "Dense<16,relu>" -> "dense": the prefix of a layer's parameter names.
inline std::string short_name(const std::string& describe) {
  std::string s = describe.substr(0, describe.find_first_of("<["));
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

/// A bound Frozen<...>: its layers count as the enclosing list's own in names and signatures.
template <class L>
concept FrozenGroup = requires { requires L::frozen_group; };

/// The bound form of Sequential and Frozen: the layers Ls bound one after the other, starting from In.
template <bool Frozen, class In, class Pos, class... Ls>
struct SequentialImpl {
  static_assert(sizeof...(Ls) > 0, "Sequential needs at least one layer");
  using chain = bind_chain<In, 0, Ls...>;
  using layers = typename chain::type;
  static constexpr std::size_t count = sizeof...(Ls);
  template <std::size_t I>
  using layer = std::tuple_element_t<I, layers>;

  using in_shape = typename layer<0>::in_shape;
  using out_shape = typename chain::out;
  static constexpr bool alias = false;

 private:
  template <class F>
  static constexpr auto per_layer(F f) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::size_t, count>{f.template operator()<layer<I>>()...};
    }(std::make_index_sequence<count>{});
  }
  static constexpr std::array<std::size_t, count> prefix(std::array<std::size_t, count> a) {
    std::size_t s = 0;
    for (auto& v : a) s += std::exchange(v, s);
    return a;
  }

 public:
  static constexpr auto param_sizes = per_layer([]<class L>() { return param_count_of<L>(); });
  static constexpr auto state_sizes = per_layer([]<class L>() { return state_count_of<L>(); });
  static constexpr auto out_sizes = per_layer([]<class L>() { return L::out_shape::size; });
  static constexpr auto aliases = per_layer([]<class L>() -> std::size_t { return L::alias; });
  static constexpr auto trainables = per_layer([]<class L>() -> std::size_t { return has_trainable<L>(); });
  static constexpr auto param_offsets = prefix(param_sizes);
  static constexpr auto state_offsets = prefix(state_sizes);
  static constexpr std::size_t param_count = param_offsets[count - 1] + param_sizes[count - 1];
  static constexpr std::size_t state_count = state_offsets[count - 1] + state_sizes[count - 1];
  static constexpr bool has_trainable_params =
      !Frozen && std::any_of(trainables.begin(), trainables.end(), [](std::size_t t) { return t != 0; });
  /// The lowest layer that has parameters to train: backward stops there when no input gradient is asked.
  static constexpr std::size_t first_trainable = [] {
    for (std::size_t i = 0; i < count; ++i)
      if (trainables[i] && !Frozen) return i;
    return count;
  }();
  /// The last layer that runs a kernel; it writes straight into the output.
  static constexpr std::size_t last_real = [] {
    for (std::size_t i = count; i-- > 0;)
      if (!aliases[i]) return i;
    return count;
  }();
  static constexpr std::size_t max_out = *std::max_element(out_sizes.begin(), out_sizes.end());

  /// Activation and scratch pointers of one batch: the same for forward and backward.
  template <class P>
  struct Plan {
    std::array<P, count + 1> act;
    std::array<float*, count> scratch;
    float* grad[2];
  };

  template <class P>
  static Plan<P> plan(const float* x, P y, std::size_t n, float* s) {
    Plan<P> p{};
    p.act[0] = const_cast<P>(x);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((p.act[I + 1] = aliases[I] ? p.act[I] : I == last_real ? y : std::exchange(s, s + align_floats(n * out_sizes[I]))),
       ...);
      ((p.scratch[I] = std::exchange(s, s + align_floats(layer<I>::scratch(n)))), ...);
    }(std::make_index_sequence<count>{});
    p.grad[0] = s;
    p.grad[1] = s + align_floats(n * max_out);
    return p;
  }

  static std::size_t scratch(std::size_t n) {
    std::size_t s = 2 * align_floats(n * max_out);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((s += (aliases[I] || I == last_real ? 0 : align_floats(n * out_sizes[I])) + align_floats(layer<I>::scratch(n))),
       ...);
    }(std::make_index_sequence<count>{});
    return s;
  }

  template <class B>
  static void forward(const Forward& f) {
    auto p = plan<float*>(f.x, f.y, f.n, f.scratch);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (layer<I>::template forward<B>(Forward{p.act[I], p.act[I + 1], f.n, f.w + param_offsets[I],
                                             f.state + state_offsets[I], p.scratch[I], f.training && !Frozen,
                                             hash2(f.seed, I + 1), f.tokens, f.tokens_stride}),
       ...);
    }(std::make_index_sequence<count>{});
    if (p.act[count] != f.y) B::copy(f.y, p.act[count], f.n * out_shape::size);
  }

  template <class B>
  static void backward(const Backward& b) {
    auto p = plan<float*>(b.x, const_cast<float*>(b.y), b.n, b.scratch);
    const std::size_t lo = b.dx ? 0 : first_trainable;
    if (lo >= count) return;
    const float* g = b.dy;
    int t = 0;
    float* dw = Frozen ? nullptr : b.dw;
    [&]<std::size_t... J>(std::index_sequence<J...>) {
      auto step = [&]<std::size_t I>() {
        if (I < lo || aliases[I]) return;
        const bool need_dx = I > lo || b.dx;
        float* dst = nullptr;
        if (need_dx) {
          bool lowest = true;
          for (std::size_t k = 0; k < I; ++k) lowest = lowest && aliases[k];
          dst = lowest && b.dx ? b.dx : p.grad[t];
          if (dst == p.grad[t]) t ^= 1;
        }
        layer<I>::template backward<B>(Backward{p.act[I], p.act[I + 1], g, dst, b.n, b.w + param_offsets[I],
                                                 dw ? dw + param_offsets[I] : nullptr, b.state + state_offsets[I],
                                                 p.scratch[I], b.tokens, b.tokens_stride,
                                                 b.training && !Frozen});
        if (need_dx) g = dst;
        if (b.final_listener && dw) b.final_listener->gradients_final_from(dw + param_offsets[I]);
      };
      (step.template operator()<count - 1 - J>(), ...);
    }(std::make_index_sequence<count>{});
    if (b.dx && g != b.dx) B::copy(b.dx, g, b.n * in_shape::size);
  }

  // Freezing changes what trains, nothing else: a Frozen group's layers are named and described as if they
  // stood in the enclosing list themselves, so a file of a partly frozen network loads into the same network
  // unfrozen (and back). `frozen_group` marks the group; `positions` is how many entries of a list it fills.
  static constexpr bool frozen_group = Frozen;
  template <class L>
  static constexpr std::size_t positions_of() {
    if constexpr (FrozenGroup<L>) return L::positions;
    else return 1;
  }
  static constexpr std::size_t positions = [] {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (positions_of<layer<I>>() + ...);
    }(std::make_index_sequence<count>{});
  }();

  /// Appends the parameters (or states) of the layers, numbered from `first` under `prefix`.
  static void collect_items(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t first,
                            std::size_t offset, bool trainable, bool states) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::size_t at = first;
      auto one = [&]<std::size_t J>() {
        using L = layer<J>;
        const std::size_t base = offset + (states ? state_offsets[J] : param_offsets[J]);
        if constexpr (FrozenGroup<L>)
          L::collect_items(out, prefix, at, base, trainable && !Frozen, states);
        else
          detail::collect<L>(out, prefix + std::to_string(at) + "_" + short_name(L::describe()) + "/", base,
                             trainable && !Frozen, states);
        at += positions_of<L>();
      };
      (one.template operator()<I>(), ...);
    }(std::make_index_sequence<count>{});
  }
  static void collect(std::vector<ParamInfo>& out, const std::string& prefix, std::size_t offset, bool trainable,
                      bool states) {
    collect_items(out, prefix, 0, offset, trainable, states);
  }

  /// Appends "Layer(shape)" for each layer, '>' between them.
  static void describe_items(std::string& s, bool& first) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto one = [&]<std::size_t J>() {
        using L = layer<J>;
        if constexpr (FrozenGroup<L>) {
          L::describe_items(s, first);
        } else {
          s += (first ? "" : ">") + L::describe() + "(" + L::out_shape::str() + ")";
          first = false;
        }
      };
      (one.template operator()<I>(), ...);
    }(std::make_index_sequence<count>{});
  }
  /// "Sequential[...]", a Frozen group's the same as the Sequential of its layers.
  static std::string describe() {
    std::string s = "Sequential[";
    bool first = true;
    describe_items(s, first);
    return s + "]";
  }
};

template <class T>
inline constexpr bool is_input_v = false;
template <std::size_t... D>
inline constexpr bool is_input_v<Input<D...>> = true;
}  // namespace detail

/// A flat list of layers applied in order. As a model it starts with Input<...>, which fixes every
/// shape; nested inside another list (a Concat branch, a Head classifier) it takes the shape that
/// reaches it. A shape mismatch stops compilation at the layer that does not fit.
template <class... Layers>
struct Sequential {
  template <class In, class Pos>
  using bind = detail::SequentialImpl<false, In, Pos, Layers...>;
};

/// Layers whose parameters are not trained: no parameter gradients, and no backward pass at all
/// below the lowest trainable layer of the model. The group runs in inference mode, as a frozen Keras
/// layer does: BatchNorm normalises with its moving statistics and leaves them unchanged, Dropout passes
/// its input through. Only training changes: inside a Sequential the group's
/// layers keep the names and the place in the architecture signature they would have without it, so
/// weight files and checkpoints move between a network and its partly frozen form.
template <class... Layers>
struct Frozen {
  template <class In, class Pos>
  using bind = detail::SequentialImpl<true, In, Pos, Layers...>;
};

namespace detail {
// After a failed check, a one-layer stand-in keeps the compiler from piling further errors on top.
using StandIn = SequentialImpl<false, void, LayerIndex<0>, Input<1>>;
template <class Model>
struct bind_model_impl {
  static_assert(sizeof(Model) == 0, "an encoder must be a Sequential<Input<...>, ...>");
  using type = StandIn;
};
template <class First, class... Rest>
struct bind_model_impl<Sequential<First, Rest...>> {
  static_assert(is_input_v<First>, "Sequential used as a model must start with Input<...> (the per-sample shape)");
  using type = std::conditional_t<is_input_v<First>, SequentialImpl<false, void, LayerIndex<0>, First, Rest...>, StandIn>;
};

/// Holds the check that an encoder ends in a flat embedding; the shape appears in the diagnostic.
template <class EmbeddingShape>
struct require_flat_embedding {
  static_assert(EmbeddingShape::rank == 1,
                "the encoder must end in a flat embedding (rank 1); add Flatten, Dense or global pooling");
  static constexpr bool value = true;
};
}  // namespace detail

/// The bound form of a model Sequential<Input<...>, ...>.
template <class Model>
using bind_model = typename detail::bind_model_impl<Model>::type;

}  // namespace siamese
