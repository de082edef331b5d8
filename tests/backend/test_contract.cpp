// The kernel contract of backend/contract.hpp as trait checks: every backend's kernels have Reference's
// signatures, reference_fallbacks names exactly what a backend inherits, and fusions are declared
// exactly when their kernels exist. Backends that break each rule are refused, each by its own check.
#include <doctest/doctest.h>

#include <siamese/backend/backend.hpp>
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
    std::array<std::string_view, 43> all{};
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
}  // namespace

static_assert(detail::honours_contract<Cpu>() && detail::fusions_declared_truly<Reference>());
static_assert(kernel_table<Reference>().size() == 43);
static_assert(!detail::fallbacks_exact<StaleList>() && detail::signatures_match<StaleList>());
static_assert(kernel_table<WrongList>().size() == WrongList::reference_fallbacks.size());
static_assert(!detail::fallbacks_exact<WrongList>());
static_assert(!detail::signatures_match<Drifted>());
static_assert(!detail::fusions_declared_truly<DeclaredOnly>());
static_assert(!detail::fusions_declared_truly<Undeclared>());
static_assert(!detail::fusions_declared_truly<WrongFusion>());
static_assert(detail::fusions_declared_truly<Cpu>() && Cpu::fusions.conv2d_forward_act && Cpu::fusions.conv2d_backward_act);

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
