#!/usr/bin/env bash
# Checks project code with clang-format (the repo's .clang-format) and clang-tidy (the
# repo's .clang-tidy, on the compile database of the release preset). Exits non-zero on
# any finding. Usage: scripts/lint.sh [--format-only]
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
echo "lint: clang-format on ${#files[@]} files"
clang-format --dry-run -Werror "${files[@]}"

[ "${1:-}" = "--format-only" ] && exit 0

if [ ! -f build/release/compile_commands.json ]; then
  cmake --preset release >/dev/null
fi
mapfile -t sources < <(git ls-files 'src/*.cpp' | grep -v 'src/boost_impl.cpp')
echo "lint: clang-tidy on ${#sources[@]} sources"
printf '%s\n' "${sources[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p build/release --quiet \
    --extra-arg=-Wno-unknown-warning-option 2>/dev/null
echo "lint: clean"
