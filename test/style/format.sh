#!/usr/bin/env bash
# The format check: every C++ file of the project must be as clang-format (with the project's
# .clang-format) would write it. Lists the files that differ and the command that fixes them.
#   format.sh <clang-format> <source dir>
# Exits 77, which CTest reports as skipped, when clang-format is not installed.
set -euo pipefail
tool=$1
root=$2
if ! command -v "$tool" >/dev/null 2>&1; then
  echo "format: clang-format not found, check skipped (scripts/install-deps installs it)"
  exit 77
fi
cd "$root"
dirs=()
for d in include src test example bench; do
  [ -d "$d" ] && dirs+=("$d")
done
mapfile -t files < <(find "${dirs[@]}" -type f \
  \( -name '*.hpp' -o -name '*.ipp' -o -name '*.cpp' -o -name '*.h' -o -name '*.inc' \) | LC_ALL=C sort)
# One run for all files (a run per file is twenty times slower); each difference is
# reported as "FILE:LINE:COL: error: code should be clang-formatted".
status=0
report=$("$tool" --dry-run --Werror "${files[@]}" 2>&1) || status=$?
mapfile -t differ < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' \
  <<<"$report" | LC_ALL=C sort -u)
if ((status != 0 && ${#differ[@]} == 0)); then
  echo "format: $tool failed:"
  echo "$report"
  exit 1
fi
if ((${#differ[@]})); then
  echo "format: ${#differ[@]} of ${#files[@]} files differ from what clang-format writes:"
  printf '  %s\n' "${differ[@]}"
  echo "fix with: $tool -i ${differ[*]}"
  exit 1
fi
echo "format: ${#files[@]} files as clang-format writes them"
