#pragma once
// The Backend concept: what a type must provide for layers, losses and optimizers to run on it. A backend is a
// struct of static kernels over raw pointers in its own memory space (host for Reference and Cpu, the device's
// for Cuda), with a Buffer type that owns such memory. The kernels and the rules are those of
// backend/contract.hpp; each backend header static_asserts detail::honours_contract<itself>() (one message per
// broken rule) and Backend<itself>.
#include "contract.hpp"

namespace siamese {

/// A backend: a Buffer type, a name, its fusions, and every kernel of backend::kernel_table (the interface of
/// backend::Reference), each taking its argument struct (backend/args.hpp), with reference_fallbacks naming
/// exactly the kernels it takes from Reference unchanged. Satisfied exactly by the types that
/// backend::detail::honours_contract accepts.
template <class B>
concept Backend = backend::detail::backend_members<B> && backend::detail::contract_holds<B>();

}  // namespace siamese
