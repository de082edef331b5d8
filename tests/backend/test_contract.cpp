// The kernel contract of backend/contract.hpp as trait checks: every backend has every kernel with
// Reference's signature, reference_fallbacks names exactly what a backend inherits, and fusions are
// declared exactly when their kernels exist. Backends that break each rule are refused, each by its own
// check, and by the Backend concept, which holds exactly where honours_contract does.
#include <doctest/doctest.h>

#include <siamese/backend/backend.hpp>
#include <siamese/backend/concept.hpp>
#include <siamese/backend/contract.hpp>

#include <string_view>
#include <vector>

using namespace siamese::backend;

namespace {
/// Replaces one kernel but does not say that it inherits the rest: its list is stale.
struct StaleList : Reference {
  static void batchnorm_forward(const BatchNormArgs&) {}
  static constexpr std::array<std::string_view, 0> reference_fallbacks{};
};
/// Says it falls back for a kernel that it replaces.
struct WrongList : Reference {
  static void gemm(const GemmArgs&) {}
  static constexpr auto reference_fallbacks = [] {
    std::array<std::string_view, kernel_table<Reference>().size()> all{};
    const auto t = kernel_table<Reference>();
    for (std::size_t i = 0; i < t.size(); ++i) all[i] = t[i].name;
    return all;
  }();
};
/// A kernel whose signature drifted (the old positional form).
struct Drifted : Reference {
  static void add_bias(float*, const float*, std::size_t, std::size_t) {}
};
/// Declares a fusion it lacks; has a fusion it does not declare; has one with the wrong struct.
struct DeclaredOnly : Reference {
  static constexpr Fusions fusions{.conv2d_forward_act = true};
};
struct Undeclared : Reference {
  static void conv2d_backward_act(const ConvActGradArgs&) {}
};
struct WrongFusion : Reference {
  static constexpr Fusions fusions{.conv2d_forward_act = true};
  static void conv2d_forward_act(const ConvArgs&) {}
};
/// A backend of its own (not derived from Reference) with every declaration but no kernel.
struct Standalone {
  using Buffer = siamese::HostBuffer;
  static constexpr const char* name = "Standalone";
  static constexpr Fusions fusions{};
  static constexpr std::array<std::string_view, 0> reference_fallbacks{};
};
/// Derives from Reference, replaces a kernel, and declares no reference_fallbacks at all.
struct NoList : Reference {
  static void gemm(const GemmArgs&) {}
};
/// An overload set where a kernel should be: not one kernel.
struct Overloaded : Cpu {
  using Cpu::gelu_backward;
  static void gelu_backward(const GeluBackwardArgs&, int) {}
};
}  // namespace

static_assert(detail::honours_contract<Cpu>() && detail::fusions_declared_truly<Reference>());
static_assert(kernel_table<Reference>().size() == 58);
static_assert(!detail::fallbacks_exact<StaleList>() && detail::signatures_match<StaleList>());
static_assert(kernel_table<WrongList>().size() == WrongList::reference_fallbacks.size());
static_assert(!detail::fallbacks_exact<WrongList>());
static_assert(!detail::signatures_match<Drifted>());
static_assert(!detail::fusions_declared_truly<DeclaredOnly>());
static_assert(!detail::fusions_declared_truly<Undeclared>());
static_assert(!detail::fusions_declared_truly<WrongFusion>());
static_assert(detail::fusions_declared_truly<Cpu>() && Cpu::fusions.conv2d_forward_act && Cpu::fusions.conv2d_backward_act);
static_assert(!detail::kernels_present<Standalone>() && detail::signatures_match<Standalone>());
static_assert(detail::kernels_present<Cpu>() && detail::kernels_present<Reference>());
static_assert(!detail::lists_fallbacks<NoList>() && detail::lists_fallbacks<Reference>());
static_assert(!detail::kernels_present<Overloaded>());

// The Backend concept accepts exactly what honours_contract accepts.
static_assert(siamese::Backend<Reference> && siamese::Backend<Cpu>);
static_assert(!siamese::Backend<int> && !siamese::Backend<Standalone> && !siamese::Backend<NoList>);
static_assert(!siamese::Backend<StaleList> && !siamese::Backend<WrongList> && !siamese::Backend<Drifted>);
static_assert(!siamese::Backend<DeclaredOnly> && !siamese::Backend<Undeclared> && !siamese::Backend<WrongFusion>);
static_assert(!siamese::Backend<Overloaded>);

TEST_CASE("Reference inherits every kernel from itself; Cpu only the host copies") {
  CHECK(detail::inherited_kernels<Reference>().size() == kernel_table<Reference>().size());
  const auto cpu = detail::inherited_kernels<Cpu>();
  CHECK(std::vector<std::string_view>(cpu.begin(), cpu.end()) == std::vector<std::string_view>{"to_device", "to_host"});
}

TEST_CASE("the kernel table names each kernel once") {
  const auto t = kernel_table<Reference>();
  for (std::size_t i = 0; i < t.size(); ++i)
    for (std::size_t j = i + 1; j < t.size(); ++j) {
      CAPTURE(t[i].name);
      CHECK(t[i].name != t[j].name);
    }
}
