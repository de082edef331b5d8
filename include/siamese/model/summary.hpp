#pragma once
// summary(): the table of a model's layers (type, output shape, parameters trainable and not, activations), as
// Keras' model.summary() prints it. The table is a constexpr value derived from the model's type
// (`Model::summary_table`); only its text is built at run time.
//
// Counting follows Keras: "Param #" is every value a layer saves, BatchNorm's moving mean and variance included;
// those moving statistics and the parameters of Frozen layers are non-trainable. Nested Sequentials and Frozen
// groups are listed layer by layer; other combinators (ResidualBlock, Concat, Repeat, Bidirectional) are one row
// each, with the totals of what they hold.
#include <array>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../backend/kinds.hpp"
#include "../layers/layer.hpp"

namespace siamese {

/// One row of a summary table: a layer of the encoder ('e') or of a Siamese head ('h'), or the loss's parameters
/// ('l': an Embedder's ClassWeights, whose output is the per-sample class logits).
struct SummaryRow {
  std::array<char, 40> type{};          // "Conv2D", "MaxPool2D", "ResidualBlock", ... (NUL-terminated)
  std::array<std::size_t, 4> shape{};   // per-sample output shape
  std::size_t rank = 0;
  std::size_t trainable = 0;            // trainable parameters
  std::size_t non_trainable = 0;        // frozen parameters and saved states (BatchNorm's moving statistics)
  std::size_t activations = 0;          // floats per input row written by the layer (those inside it included)
  char part = 'e';
  constexpr std::size_t params() const { return trainable + non_trainable; }
  constexpr std::string_view name() const { return {type.data(), std::char_traits<char>::length(type.data())}; }
};

/// A model's summary: its rows and totals, all known at compile time.
template <std::size_t N>
struct ModelSummary {
  std::array<char, 16> model{};          // "Siamese", "Triplet", "Embedder"
  std::size_t inputs_per_sample = 1;     // encoder rows per training sample: 2 for a pair, 3 for a triplet
  std::array<SummaryRow, N> rows{};
  std::size_t trainable = 0, non_trainable = 0;
  std::size_t encoder_activations = 0;   // floats per encoder input (every layer's output, kept for backward)
  std::size_t head_activations = 0;      // floats per pair in the head (features and classifier)

  static constexpr std::size_t size() { return N; }
  constexpr std::size_t total() const { return trainable + non_trainable; }
  /// Bytes of the parameters and states (float32).
  constexpr std::size_t parameter_bytes() const { return 4 * total(); }
  /// Bytes of activations per training sample (a pair: both encoder passes and the head).
  constexpr std::size_t activation_bytes_per_sample() const {
    return 4 * (inputs_per_sample * encoder_activations + head_activations);
  }

  /// The table as text, Keras' layout: one line per layer, then the totals.
  std::string str() const;
};

namespace detail {

// ---- compile-time text ----------------------------------------------------------------------------------------
template <std::size_t M>
constexpr void put(std::array<char, M>& dst, std::string_view s) {
  std::size_t i = 0;
  for (; i < s.size() && i + 1 < M; ++i) dst[i] = s[i];
  for (; i < M; ++i) dst[i] = '\0';
}

template <class T>
constexpr std::string_view pretty_name() {
  return __PRETTY_FUNCTION__;
}
/// "siamese::detail::Conv2DImpl<...>" -> "Conv2D": the type's own name without namespace, arguments and "Impl".
template <class T>
constexpr std::string_view impl_name() {
  std::string_view p = pretty_name<T>();
  const std::size_t at = p.find("T = ");
  if (at == std::string_view::npos) return "Layer";
  p = p.substr(at + 4);
  p = p.substr(0, p.find_first_of("<;]"));
  if (const std::size_t c = p.rfind("::"); c != std::string_view::npos) p = p.substr(c + 2);
  if (p.size() > 4 && p.substr(p.size() - 4) == "Impl") p = p.substr(0, p.size() - 4);
  return p;
}

// The bound layers whose names say less than the spec the user wrote (declared here, defined in layers/).
template <Act A, class In, class Pos> struct ActivationImpl;
template <bool IsMax, std::size_t K, std::size_t S, Padding P, class In, class Pos> struct Pool2DImpl;
template <bool IsMax, class In, class Pos> struct GlobalPoolImpl;
template <bool IsMax, class In, class Pos> struct TimePoolImpl;
template <std::size_t F, std::size_t K, std::size_t S, Padding P, Act A, bool UseBias, class In, class Pos>
struct Conv2DImpl;
template <class In, class Mn, class Sc, Act A, bool Block> struct ResidualImpl;
template <class Cell, bool Seq, bool Masked, bool Reverse, class In, class Pos> struct RecurrentImpl;
template <std::size_t Dim, std::size_t Heads, class In, class Pos> struct AttentionImpl;
template <class Declared, class In, class Pos> struct InputImpl;
template <bool Frozen, class In, class Pos, class... Ls> struct SequentialImpl;

template <class L>
struct layer_type {
  static constexpr std::string_view value = impl_name<L>();
};
template <Act A, class In, class Pos>
struct layer_type<ActivationImpl<A, In, Pos>> {
  static constexpr std::string_view value = A == Act::ReLU      ? "ReLU"
                                            : A == Act::Sigmoid ? "Sigmoid"
                                            : A == Act::Tanh    ? "Tanh"
                                            : A == Act::GELU    ? "GELU"
                                                                : "Activation";
};
template <bool IsMax, std::size_t K, std::size_t S, Padding P, class In, class Pos>
struct layer_type<Pool2DImpl<IsMax, K, S, P, In, Pos>> {
  static constexpr std::string_view value = IsMax ? "MaxPool2D" : "AvgPool2D";
};
template <bool IsMax, class In, class Pos>
struct layer_type<GlobalPoolImpl<IsMax, In, Pos>> {
  static constexpr std::string_view value = IsMax ? "GlobalMaxPool2D" : "GlobalAvgPool2D";
};
template <bool IsMax, class In, class Pos>
struct layer_type<TimePoolImpl<IsMax, In, Pos>> {
  static constexpr std::string_view value = IsMax ? "GlobalMaxPool1D" : "GlobalAvgPool1D";
};
template <std::size_t F, std::size_t K, std::size_t S, Padding P, Act A, bool UseBias, class In, class Pos>
struct layer_type<Conv2DImpl<F, K, S, P, A, UseBias, In, Pos>> {
  static constexpr std::string_view value = UseBias ? "Conv2D" : "Conv2DNoBias";
};
template <class In, class Mn, class Sc, Act A, bool Block>
struct layer_type<ResidualImpl<In, Mn, Sc, A, Block>> {
  static constexpr std::string_view value = Block ? "ResidualBlock" : "Residual";
};
template <class Cell, bool Seq, bool Masked, bool Reverse, class In, class Pos>
struct layer_type<RecurrentImpl<Cell, Seq, Masked, Reverse, In, Pos>> {
  static constexpr std::string_view value = Cell::name;
};
template <std::size_t Dim, std::size_t Heads, class In, class Pos>
struct layer_type<AttentionImpl<Dim, Heads, In, Pos>> {
  static constexpr std::string_view value = "MultiHeadSelfAttention";
};
template <class Declared, class In, class Pos>
struct layer_type<InputImpl<Declared, In, Pos>> {
  static constexpr std::string_view value = "InputLayer";
};

// ---- compile-time counting ------------------------------------------------------------------------------------
template <class L>
inline constexpr bool is_sequential_impl = false;
template <bool F, class In, class Pos, class... Ls>
inline constexpr bool is_sequential_impl<SequentialImpl<F, In, Pos, Ls...>> = true;
/// LengthBuckets: a body compiled for several lengths, listed as the body at full length.
template <class L>
constexpr bool wraps_sequential() {
  if constexpr (requires { typename L::full; }) return is_sequential_impl<typename L::full>;
  else return false;
}

/// Parameters of L that train (0 inside a Frozen group), looking into combinators.
template <class L>
constexpr std::size_t trainable_params(bool frozen) {
  if (frozen) return 0;
  if constexpr (is_sequential_impl<L>) {
    if constexpr (L::frozen_group) return 0;
    else
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (std::size_t{0} + ... + trainable_params<typename L::template layer<I>>(false));
      }(std::make_index_sequence<L::count>{});
  } else if constexpr (requires { typename L::main; typename L::shortcut; }) {
    return trainable_params<typename L::main>(false) + trainable_params<typename L::shortcut>(false);
  } else if constexpr (requires { typename L::branches; }) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (std::size_t{0} + ... + trainable_params<std::tuple_element_t<I, typename L::branches>>(false));
    }(std::make_index_sequence<std::tuple_size_v<typename L::branches>>{});
  } else if constexpr (requires { typename L::block; L::block_params; }) {
    if constexpr (L::block_params == 0) return 0;
    else return L::param_count / L::block_params * trainable_params<typename L::block>(false);
  } else if constexpr (requires { typename L::full; }) {
    return trainable_params<typename L::full>(false);
  } else {
    return has_trainable<L>() ? param_count_of<L>() : 0;
  }
}

/// Floats per input row that L's forward pass writes and keeps: every output of a layer that runs a kernel,
/// those inside combinators included.
template <class L>
constexpr std::size_t activation_floats() {
  if constexpr (is_sequential_impl<L>) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (std::size_t{0} + ... + activation_floats<typename L::template layer<I>>());
    }(std::make_index_sequence<L::count>{});
  } else if constexpr (L::alias) {
    return 0;
  } else if constexpr (requires { typename L::main; typename L::shortcut; }) {
    return activation_floats<typename L::main>() + activation_floats<typename L::shortcut>() + L::out_shape::size;
  } else if constexpr (requires { typename L::branches; }) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (L::out_shape::size + ... + activation_floats<std::tuple_element_t<I, typename L::branches>>());
    }(std::make_index_sequence<std::tuple_size_v<typename L::branches>>{});
  } else if constexpr (requires { typename L::block; L::block_params; }) {
    constexpr std::size_t per = activation_floats<typename L::block>();
    if constexpr (L::block_params == 0) return per;
    else return L::param_count / L::block_params * per;
  } else if constexpr (requires { typename L::full; }) {
    return activation_floats<typename L::full>();
  } else {
    return L::out_shape::size;
  }
}

/// Rows L fills: a Sequential or Frozen group lists its layers, anything else is one row.
template <class L>
constexpr std::size_t summary_rows() {
  if constexpr (is_sequential_impl<L>)
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (std::size_t{0} + ... + summary_rows<typename L::template layer<I>>());
    }(std::make_index_sequence<L::count>{});
  else if constexpr (wraps_sequential<L>())
    return summary_rows<typename L::full>();
  else
    return 1;
}

template <class L, std::size_t N>
constexpr void fill_rows(std::array<SummaryRow, N>& rows, std::size_t& at, bool frozen, char part) {
  if constexpr (is_sequential_impl<L>) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (fill_rows<typename L::template layer<I>>(rows, at, frozen || L::frozen_group, part), ...);
    }(std::make_index_sequence<L::count>{});
  } else if constexpr (wraps_sequential<L>()) {
    fill_rows<typename L::full>(rows, at, frozen, part);
  } else {
    SummaryRow& r = rows[at++];
    put(r.type, layer_type<L>::value);
    using S = typename L::out_shape;
    r.rank = S::rank;
    for (std::size_t i = 0; i < S::rank && i < 4; ++i) r.shape[i] = S::dims[i];
    r.trainable = trainable_params<L>(frozen);
    r.non_trainable = param_count_of<L>() - r.trainable + state_count_of<L>();
    r.activations = activation_floats<L>();
    r.part = part;
  }
}

/// Rows of a model's summary: `Enc` is the bound encoder, `Head` the bound Siamese head or void.
template <class Enc, class Head>
constexpr std::size_t summary_size() {
  if constexpr (std::is_void_v<Head>) return summary_rows<Enc>();
  else return summary_rows<Enc>() + 1 + summary_rows<typename Head::classifier>();
}

/// The summary of a model (the models' summary_table; its initializer is instantiated only where it is used).
template <class Enc, class Head>
constexpr auto make_summary(std::string_view model, std::size_t inputs_per_sample) {
  ModelSummary<summary_size<Enc, Head>()> s;
  put(s.model, model);
  s.inputs_per_sample = inputs_per_sample;
  std::size_t at = 0;
  fill_rows<Enc>(s.rows, at, false, 'e');
  s.encoder_activations = activation_floats<Enc>();
  if constexpr (!std::is_void_v<Head>) {
    SummaryRow& f = s.rows[at++];
    put(f.type, "PairFeatures");
    f.rank = 1;
    f.shape[0] = Head::width;
    f.activations = Head::width;
    f.part = 'h';
    fill_rows<typename Head::classifier>(s.rows, at, false, 'h');
    s.head_activations = Head::width + activation_floats<typename Head::classifier>();
  }
  for (const auto& r : s.rows) {
    s.trainable += r.trainable;
    s.non_trainable += r.non_trainable;
  }
  return s;
}

inline std::string group_digits(std::size_t v) {
  std::string s = std::to_string(v);
  for (std::size_t i = s.size(); i > 3; i -= 3) s.insert(i - 3, ",");
  return s;
}
inline std::string human_bytes(std::size_t b) {
  char buf[32];
  if (b >= (std::size_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GB", double(b) / double(1u << 30));
  else if (b >= (std::size_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MB", double(b) / double(1u << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.2f KB", double(b) / 1024.0);
  else std::snprintf(buf, sizeof buf, "%zu B", b);
  return buf;
}
}  // namespace detail

template <std::size_t N>
std::string ModelSummary<N>::str() const {
  const std::string model_name(model.data());
  const auto pad = [](std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
  };
  const auto lpad = [](std::string s, std::size_t w) {
    if (s.size() < w) s.insert(0, w - s.size(), ' ');
    return s;
  };
  const std::size_t w0 = 28, w1 = 20, w2 = 13, w3 = 15;
  const std::string rule(w0 + w1 + w2 + w3 + 1, '-');
  std::string out = "Model: \"" + model_name + "\"\n" + rule + "\n";
  out += pad("Layer (type)", w0) + pad("Output Shape", w1) + lpad("Param #", w2) + lpad("Non-trainable", w3) + "\n";
  out += std::string(rule.size(), '=') + "\n";
  char last_part = 'e';
  std::size_t index = 0;
  for (const SummaryRow& r : rows) {
    if (r.part != last_part) {
      out += rule + "\n";
      index = 0;
      last_part = r.part;
    }
    std::string shape = "(None";
    for (std::size_t i = 0; i < r.rank; ++i) shape += ", " + std::to_string(r.shape[i]);
    shape += ")";
    const std::string label = (r.part == 'h' ? "head/" : r.part == 'l' ? "loss/" : "") + std::to_string(index++) + " (" +
                              std::string(r.name()) + ")";
    out += pad(label, w0) + pad(shape, w1) + lpad(detail::group_digits(r.params()), w2) +
           lpad(r.non_trainable ? detail::group_digits(r.non_trainable) : std::string("-"), w3) + "\n";
  }
  out += std::string(rule.size(), '=') + "\n";
  out += "Total params: " + detail::group_digits(total()) + " (" + detail::human_bytes(parameter_bytes()) + ")\n";
  out += "Trainable params: " + detail::group_digits(trainable) + " (" + detail::human_bytes(4 * trainable) + ")\n";
  out += "Non-trainable params: " + detail::group_digits(non_trainable) + " (" + detail::human_bytes(4 * non_trainable) +
         ")\n";
  out += "Activations per sample: " + detail::human_bytes(activation_bytes_per_sample());
  if (inputs_per_sample > 1)
    out += " (" + std::to_string(inputs_per_sample) + " encoder passes of " +
           detail::human_bytes(4 * encoder_activations) + (head_activations ? " and the head" : "") + ")";
  out += "\n" + rule + "\n";
  return out;
}

}  // namespace siamese
