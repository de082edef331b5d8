#pragma once
// TrainLast<K, Sequential<...>>: the same network with every layer but the last K wrapped in Frozen,
// as Keras users write `for layer in model.layers[:-K]: layer.trainable = False`.
#include <cstddef>
#include <tuple>

#include "../layers/reshape.hpp"
#include "sequential.hpp"

namespace siamese {

namespace detail {
/// Moves the first N types of Rest to the end of Front.
template <std::size_t N, class Front, class Rest>
struct split_front {
  using front = Front;
  using rest = Rest;
};
template <std::size_t N, class... F, class R, class... Rs>
  requires(N > 0)
struct split_front<N, std::tuple<F...>, std::tuple<R, Rs...>> : split_front<N - 1, std::tuple<F..., R>, std::tuple<Rs...>> {};

/// Frozen<front...> followed by the rest; no Frozen at all when the front is empty.
template <class Front, class Rest, class... Lead>
struct freeze_front;
template <class... Rs, class... Lead>
struct freeze_front<std::tuple<>, std::tuple<Rs...>, Lead...> {
  using type = Sequential<Lead..., Rs...>;
};
template <class F0, class... Fs, class... Rs, class... Lead>
struct freeze_front<std::tuple<F0, Fs...>, std::tuple<Rs...>, Lead...> {
  using type = Sequential<Lead..., Frozen<F0, Fs...>, Rs...>;
};

template <std::size_t K, class Net>
struct train_last {
  static_assert(sizeof(Net) == 0, "TrainLast<K, Net>: Net must be a Sequential<...>");
  using type = Net;
};
template <std::size_t K, class... Ls>
struct train_last<K, Sequential<Ls...>> {
  static constexpr std::size_t n = sizeof...(Ls);
  using split = split_front<(K < n ? n - K : 0), std::tuple<>, std::tuple<Ls...>>;
  using type = typename freeze_front<typename split::front, typename split::rest>::type;
};
// A model's Input<...> stays first and outside Frozen: it fixes the shapes and has nothing to train.
template <std::size_t K, std::size_t... D, class... Ls>
struct train_last<K, Sequential<Input<D...>, Ls...>> {
  static constexpr std::size_t n = sizeof...(Ls);
  using split = split_front<(K < n ? n - K : 0), std::tuple<>, std::tuple<Ls...>>;
  using type = typename freeze_front<typename split::front, typename split::rest, Input<D...>>::type;
};
}  // namespace detail

/// The network Net (a Sequential<...>) with only its last K layers trainable: the layers before them
/// are grouped into one Frozen<...>, so they get no gradients and backward never runs through them.
/// K counts the entries of the list (pooling and activation layers too), not counting a leading
/// Input<...>; K = 0 freezes everything, K >= the number of layers freezes nothing.
/// Parameter names and the architecture signature stay those of Net, so Net's weight files and
/// checkpoints load into TrainLast<K, Net> and back.
template <std::size_t K, class Net>
using TrainLast = typename detail::train_last<K, Net>::type;

}  // namespace siamese
