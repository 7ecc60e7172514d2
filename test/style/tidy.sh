#!/usr/bin/env bash
# The clang-tidy check: the project's .clang-tidy over a few translation units chosen to include
# every public header (the library is header-only, so its headers are checked through the
# programs that use them; .clang-tidy's HeaderFilterRegex keeps warnings to include/cluster/ and
# the units themselves). Fails on any warning, and prints them.
#   tidy.sh <clang-tidy> <build dir with compile_commands.json> <source dir> <unit>...
# Exits 77, which CTest reports as skipped, when clang-tidy is not installed.
set -euo pipefail
tool=$1
build=$2
root=$3
shift 3
if ! command -v "$tool" >/dev/null 2>&1; then
  echo "tidy: clang-tidy not found, check skipped (scripts/install-deps installs it)"
  exit 77
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy: no $build/compile_commands.json; configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON"
  exit 1
fi
cd "$root"
status=0
# --quiet drops the count of warnings suppressed in other headers; "N warnings generated" is
# still printed for them, and dropped here.
output=$("$tool" -p "$build" --quiet --warnings-as-errors='*' "$@" 2>&1) || status=$?
output=$(grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' <<<"$output" || true)
if ((status != 0)); then
  echo "tidy: clang-tidy reported problems in $* :"
  echo "$output"
  exit 1
fi
echo "tidy: no warning in $*"
