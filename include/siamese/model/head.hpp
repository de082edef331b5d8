#pragma once
// Head<Features..., Classifier<...>>: combines two embeddings into pair features, then classifies the
// pair with a small network ending in one logit (the probability is its sigmoid).
#include <array>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../layers/dense.hpp"
#include "../layers/dropout.hpp"
#include "features.hpp"
#include "sequential.hpp"

namespace siamese {

/// The network applied to the concatenated pair features; it must end in one unit (the logit).
template <class... Layers>
struct Classifier {
  using type = Sequential<Layers...>;
};
/// Dense 100 ReLU, Dropout 0.1, Dense 1: the classifier when a Head names none.
using DefaultClassifier = Classifier<Dense<100, ReLU>, Dropout<0.1f>, Dense<1>>;

namespace detail {
template <class T>
inline constexpr bool is_classifier_v = false;
template <class... L>
inline constexpr bool is_classifier_v<Classifier<L...>> = true;
template <class T>
concept FeatureType = PairFeatureType<T>;

template <class Cls, class... Ts>
struct pick_classifier {
  using type = Cls;
};
template <class Cls, class T, class... Ts>
struct pick_classifier<Cls, T, Ts...> {
  using type = typename pick_classifier<std::conditional_t<is_classifier_v<T>, T, Cls>, Ts...>::type;
};

template <std::size_t D, class Cls, class... Fs>
struct HeadImpl {
  static_assert(sizeof...(Fs) > 0, "Head needs at least one pair feature (SqDiff, DiffSq, Cosine, ...)");
  static constexpr std::size_t dim = D;
  static constexpr std::size_t count = sizeof...(Fs);
  static constexpr std::array<std::size_t, count> widths{Fs::template width<D>...};
  static constexpr std::size_t width = (Fs::template width<D> + ...);
  static constexpr std::array<std::size_t, count> offsets = [] {
    std::array<std::size_t, count> o{};
    for (std::size_t i = 1; i < count; ++i) o[i] = o[i - 1] + widths[i - 1];
    return o;
  }();
  using classifier = typename Cls::type::template bind<Shape<width>, LayerIndex<0>>;
  static_assert(std::is_same_v<typename classifier::out_shape, Shape<1>>,
                "Head: the classifier must end in a single unit (the logit), e.g. Dense<1>");
  static constexpr std::size_t param_count = classifier::param_count;
  static constexpr std::size_t state_count = classifier::state_count;

  /// Floats the head needs for n pairs: features, their gradient, the classifier's scratch.
  static std::size_t scratch(std::size_t n) { return 2 * align_floats(n * width) + classifier::scratch(n); }

  /// a, b: n x D embeddings; logits: n.
  template <class B>
  static void forward(const float* a, const float* b, float* logits, std::size_t n, const float* w, float* state,
                      float* s, bool training, std::uint64_t seed) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (B::template pair_feature_forward<Fs>({.a = a, .b = b, .out = s + offsets[I], .ld = width, .n = n, .d = D}), ...);
    }(std::index_sequence_for<Fs...>{});
    classifier::template forward<B>(
        Forward{s, logits, n, w, state, s + 2 * align_floats(n * width), training, seed});
  }
  /// da, db (n x D) receive the gradient of the loss; dlogits is its gradient at the logits.
  template <class B>
  static void backward(const float* a, const float* b, const float* logits, const float* dlogits, float* da, float* db,
                       std::size_t n, const float* w, float* dw, const float* state, float* s) {
    float* dfeat = s + align_floats(n * width);
    classifier::template backward<B>(
        Backward{s, logits, dlogits, dfeat, n, w, dw, state, s + 2 * align_floats(n * width)});
    B::fill(da, 0.0f, n * D);
    B::fill(db, 0.0f, n * D);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (B::template pair_feature_backward<Fs>(
           {.a = a, .b = b, .dout = dfeat + offsets[I], .ld = width, .da = da, .db = db, .n = n, .d = D}),
       ...);
    }(std::index_sequence_for<Fs...>{});
  }
  /// "Head[SqDiff,DiffSq,Cosine]" then the classifier: the features' names are part of the model's
  /// signature in weight files.
  static std::string describe() {
    std::string s = "Head[";
    ((s += std::string(s.size() > 5 ? "," : "") + Fs::name), ...);
    return s + "]" + classifier::describe();
  }
};

template <std::size_t D, class Cls, class Acc, class... Ts>
struct filter_features_impl;
template <std::size_t D, class Cls, class... Fs>
struct filter_features_impl<D, Cls, std::tuple<Fs...>> {
  using type = HeadImpl<D, Cls, Fs...>;
};
template <std::size_t D, class Cls, class... Fs, class T, class... Ts>
struct filter_features_impl<D, Cls, std::tuple<Fs...>, T, Ts...> {
  static_assert(is_classifier_v<T> || FeatureType<T>,
                "Head: each argument must be a pair feature (SqDiff, DiffSq, AbsDiff, AbsDiffSq, Product, Cosine, "
                "Euclidean, or a type of the form that backend/pair_feature.hpp describes) or a Classifier<...>");
  using type = typename filter_features_impl<
      D, Cls, std::conditional_t<is_classifier_v<T> || !FeatureType<T>, std::tuple<Fs...>, std::tuple<Fs..., T>>,
      Ts...>::type;
};
template <std::size_t D, class Cls, class... Ts>
using filter_features = filter_features_impl<D, Cls, std::tuple<>, Ts...>;
}  // namespace detail

/// The head of a Siamese model: pair features (SqDiff, DiffSq, AbsDiff, AbsDiffSq, Product, Cosine,
/// Euclidean, or a user's own: model/features.hpp) concatenated, then a Classifier<...>
/// (DefaultClassifier when none is named).
/// Head<SqDiff, DiffSq, Cosine, Classifier<Dense<64, ReLU>, Dropout<0.2f>, Dense<1>>>.
template <class... Ts>
struct Head {
  using classifier = typename detail::pick_classifier<DefaultClassifier, Ts...>::type;
  template <std::size_t D>
  using bind = typename detail::filter_features<D, classifier, Ts...>::type;
};

}  // namespace siamese
