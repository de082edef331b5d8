#!/usr/bin/env bash
# Installs the library into a temporary prefix, then builds an outside project against it three ways:
# pkg-config, CMake find_package, and as a Meson subproject.
# usage: check_install.sh SOURCE_ROOT
set -euo pipefail
src=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

meson setup "$work/build" "$src" --prefix="$prefix" -Dtests=false -Dexamples=false >/dev/null
meson install -C "$work/build" >/dev/null
test -f "$prefix/include/siamese/siamese.hpp"
pc=$(dirname "$(find "$prefix" -name siamese.pc | head -1)")
cmakedir=$(dirname "$(find "$prefix" -name siameseConfig.cmake | head -1)")
echo "installed: headers, $(basename "$pc")/siamese.pc, cmake/siamese/siameseConfig.cmake"

echo "== pkg-config"
# shellcheck disable=SC2046
g++ -O2 $(PKG_CONFIG_PATH=$pc pkg-config --cflags siamese) "$src/tests/install/consumer/main.cpp" \
    -o "$work/consumer_pc" $(PKG_CONFIG_PATH=$pc pkg-config --libs siamese)
"$work/consumer_pc"

echo "== cmake find_package"
cmake -S "$src/tests/install/consumer" -B "$work/cmake_build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake_build" >/dev/null
"$work/cmake_build/consumer"

echo "== meson subproject"
cp -r "$src/tests/install/consumer" "$work/sub"
mkdir -p "$work/sub/subprojects"
ln -s "$src" "$work/sub/subprojects/siamese"
meson setup "$work/sub/build" "$work/sub" >/dev/null
ninja -C "$work/sub/build" >/dev/null
"$work/sub/build/consumer"
echo "install check: 3 passed, 0 failed"
