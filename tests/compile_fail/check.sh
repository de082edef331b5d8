#!/usr/bin/env bash
# Compile-fail test: the source must NOT compile, and the compiler's output must contain every text
# given on a line "// expect: TEXT" of the source, within at most 3 errors (a readable diagnostic).
# A source that mentions SIAMESE_TWIN also holds its twin: with -DSIAMESE_TWIN it must compile cleanly, which shows
# that the rejection comes from the one mistake the test is about, not from anything else in the file.
# A source with the line "// must-compile" is the twin of such tests: it must compile.
# usage: check.sh SOURCE INCLUDE_DIR COMPILER [FLAGS...]
set -u
src=$1 inc=$2
shift 2
if grep -q SIAMESE_TWIN "$src"; then
  if ! twin=$("$@" -std=c++20 -fsyntax-only -DSIAMESE_TWIN -I"$inc" "$src" 2>&1); then
    echo "FAIL: the twin of $src (-DSIAMESE_TWIN) must compile, but:"
    echo "$twin" | head -40
    exit 1
  fi
  echo "twin compiles"
fi
out=$("$@" -std=c++20 -fsyntax-only -I"$inc" "$src" 2>&1)
status=$?
if grep -qx '// must-compile' "$src"; then
  if [ $status -ne 0 ]; then
    echo "FAIL: $src must compile"
    echo "$out" | head -40
    exit 1
  fi
  echo "compiled as intended"
  exit 0
fi
if [ $status -eq 0 ]; then
  echo "FAIL: $src compiled, but it must be rejected"
  exit 1
fi
fail=0
while IFS= read -r want; do
  if ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: the diagnostic lacks: $want"
    fail=1
  fi
done < <(sed -n 's|^// expect: ||p' "$src")
errors=$(grep -c 'error:' <<<"$out")
if [ "$errors" -gt 3 ]; then
  echo "FAIL: $errors errors; a wrong model must give one clear error"
  fail=1
fi
if [ $fail -ne 0 ]; then
  echo "---- compiler output ----"
  echo "$out" | head -40
  exit 1
fi
echo "rejected as intended ($errors error(s)):"
grep 'error:' <<<"$out" | sed 's/^.*error: /  /'
