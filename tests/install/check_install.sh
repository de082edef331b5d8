#!/usr/bin/env bash
# Installs the library into a temporary prefix, then builds an outside project against it three ways:
# pkg-config, CMake find_package, and as a Meson subproject; each way the library alone (main.cpp) and its
# optional parts: images (libpng, libjpeg) and xtensor.
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
export PKG_CONFIG_PATH=$pc
# The library alone needs neither image codecs nor xtensor: only its optional parts do.
for pkg in libpng libjpeg xtensor; do
  if pkg-config --print-requires siamese | grep -qw "$pkg"; then
    echo "siamese.pc requires $pkg, which only an optional part needs"; exit 1
  fi
done
if pkg-config --libs siamese | grep -Eq -- '-lpng|-ljpeg'; then
  echo "siamese.pc links libpng or libjpeg: $(pkg-config --libs siamese)"; exit 1
fi
pkg-config --print-requires siamese-images | grep -qw libpng
pkg-config --print-requires siamese-xtensor | grep -qw xtensor
build_pc() {  # build_pc PACKAGE SOURCE OUTPUT
  # shellcheck disable=SC2046
  g++ -O2 $(pkg-config --cflags "$1") "$src/tests/install/consumer/$2" -o "$work/$3" $(pkg-config --libs "$1")
  "$work/$3"
}
build_pc siamese main.cpp consumer_pc
build_pc siamese-images images.cpp consumer_images_pc
build_pc siamese-xtensor xtensor.cpp consumer_xtensor_pc
unset PKG_CONFIG_PATH

echo "== cmake find_package"
cmake -S "$src/tests/install/consumer" -B "$work/cmake_build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake_build" >/dev/null
for exe in consumer consumer_images consumer_xtensor; do "$work/cmake_build/$exe"; done
# An unknown component is refused with its name.
mkdir -p "$work/cmake_bad"
printf 'cmake_minimum_required(VERSION 3.20)\nproject(bad CXX)\nfind_package(siamese REQUIRED COMPONENTS plots)\n' \
    >"$work/cmake_bad/CMakeLists.txt"
if cmake -S "$work/cmake_bad" -B "$work/cmake_bad/build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake_bad.log" 2>&1; then
  echo "find_package(siamese COMPONENTS plots) succeeded"; exit 1
fi
grep -q "siamese has no component 'plots'" "$work/cmake_bad.log"

echo "== meson subproject"
cp -r "$src/tests/install/consumer" "$work/sub"
mkdir -p "$work/sub/subprojects"
ln -s "$src" "$work/sub/subprojects/siamese"
meson setup "$work/sub/build" "$work/sub" >/dev/null
ninja -C "$work/sub/build" >/dev/null
for exe in consumer consumer_images consumer_xtensor; do "$work/sub/build/$exe"; done
echo "install check: 3 passed, 0 failed"
