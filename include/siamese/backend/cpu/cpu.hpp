#pragma once
// backend::Cpu: the fast host backend. It derives from Reference and replaces its kernels with
// vectorised (xsimd) and threaded (oneTBB) ones of the same signatures, one family per header; every
// replacement is tested against Reference.
#include <array>
#include <string_view>

#include "../contract.hpp"
#include "../reference/reference.hpp"
#include "attention.hpp"
#include "batchnorm.hpp"
#include "bert.hpp"
#include "conv.hpp"
#include "elementwise.hpp"
#include "features.hpp"
#include "gemm.hpp"
#include "losses.hpp"
#include "optim.hpp"
#include "pool.hpp"
#include "sequence.hpp"
#include "class_margin.hpp"
#include "similarity.hpp"

namespace siamese::backend {

namespace detail_cpu {
/// Stacks kernel families over a base: Overlay<Base, A, B>::type is B<A<Base>>, each family's kernels
/// hiding those of the families below it.
template <class Base, template <class> class... Families>
struct Overlay {
  using type = Base;
};
template <class Base, template <class> class F, template <class> class... Rest>
struct Overlay<Base, F, Rest...> {
  using type = typename Overlay<F<Base>, Rest...>::type;
};
}  // namespace detail_cpu

/// The default backend: host memory like Reference, kernels from siamese::cpu. Threads come from the
/// calling thread's oneTBB task arena (limit them with tbb::global_control or a tbb::task_arena); small
/// inputs stay on the calling thread. Scratch memory is grow-only and per calling thread, so repeated
/// steps at one batch size allocate nothing.
struct Cpu : detail_cpu::Overlay<Reference, cpu::ElementwiseKernels, cpu::GemmKernels, cpu::ConvKernels,
                                 cpu::PoolKernels, cpu::BatchNormKernels, cpu::FeatureKernels, cpu::LossKernels,
                                 cpu::SimilarityKernels, cpu::ClassMarginKernels, cpu::OptimKernels, cpu::SequenceKernels, cpu::BertKernels,
                                 cpu::AttentionKernels>::type {
  static constexpr const char* name = "Cpu";
  static constexpr Fusions fusions{.conv2d_forward_act = true, .conv2d_backward_act = true};
  /// The kernels Cpu takes from Reference unchanged: the host copies in and out, which are memcpy.
  /// contract.hpp checks that this is exactly the set Cpu inherits.
  static constexpr std::array<std::string_view, 2> reference_fallbacks{"to_device", "to_host"};
};

static_assert(detail::honours_contract<Cpu>());  // each rule with its own message
static_assert(Backend<Cpu>);

}  // namespace siamese::backend
