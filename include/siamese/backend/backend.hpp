#pragma once
// The backends: Reference (plain loops, the oracle), Cpu (xsimd + oneTBB, the default) and Cuda.
#include <type_traits>

#include "contract.hpp"
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
  if constexpr (backend::usable_here<B>) {
    static_assert(Backend<B>,
                  "the model's backend parameter is not a backend (backend::Cpu, backend::Reference, backend::Cuda, "
                  "or a type meeting the Backend concept of siamese/backend/contract.hpp)");
    // a type that means to be a backend hears which rule of backend/contract.hpp it breaks
    if constexpr (!Backend<B> && backend::detail::backend_members<B>) (void)backend::detail::honours_contract<B>();
  }
  return true;
}
template <class B>
constexpr bool usable_backend() {
  if constexpr (backend::usable_here<B>) return Backend<B>;
  else return false;
}
/// The backend to build with: after a failed check_backend, Reference stands in (no error cascade).
template <class B>
using checked_backend = std::conditional_t<usable_backend<B>(), B, backend::Reference>;
}  // namespace siamese::detail
