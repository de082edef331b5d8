#!/usr/bin/env bash
# Only the xtensor part's headers may include xtensor, and no other header may include them: with
# XTENSOR_USE_XSIMD the type xt::xtensor<float, N> changes with each translation unit's ISA flags (TOOLCHAIN.md), so
# a library header naming it would break the one-definition rule between units built with different flags, and
# siamese.pc needs no xtensor.
# usage: check_xtensor_headers.sh INCLUDE_DIR
set -u
cd "$1/siamese" || exit 1
allowed="xtensor.hpp data/idx_xtensor.hpp data/images_xtensor.hpp"
fail=0
for f in $(grep -rlE '#include <xtensor/' --include='*.hpp' --include='*.cuh' .); do
  f=${f#./}
  case " $allowed " in *" $f "*) ;; *) echo "FAIL: $f includes xtensor"; fail=1 ;; esac
done
pattern='#include "([./]*)(xtensor|idx_xtensor|images_xtensor)\.hpp"'
for f in $(grep -rlE "$pattern" --include='*.hpp' --include='*.cuh' .); do
  f=${f#./}
  case " $allowed " in *" $f "*) ;; *) echo "FAIL: $f includes an xtensor header of the library"; fail=1 ;; esac
done
[ $fail -eq 0 ] && echo "only $allowed include xtensor"
exit $fail
