#pragma once
// The backends: Reference (plain loops, the oracle), Cpu (xsimd + oneTBB, the default) and Cuda.
#include <type_traits>

#include "cpu/cpu.hpp"
#include "reference/reference.hpp"

namespace siamese::backend {

/// The NVIDIA GPU backend; its kernels are compiled by nvcc (include siamese/backend/cuda/cuda.cuh).
struct Cuda;

template <class B>
inline constexpr bool usable_here = true;
#ifndef __CUDACC__
template <>
inline constexpr bool usable_here<Cuda> = false;
#endif

}  // namespace siamese::backend

namespace siamese::detail {
template <class B>
inline constexpr bool check_backend() {
  static_assert(backend::usable_here<B>,
                "backend::Cuda can only be used in a translation unit compiled by nvcc (a .cu file)");
  return true;
}
/// The backend to build with: after a failed check_backend, Reference stands in (no error cascade).
template <class B>
using checked_backend = std::conditional_t<backend::usable_here<B>, B, backend::Reference>;
}  // namespace siamese::detail
