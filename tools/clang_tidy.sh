#!/usr/bin/env bash
# Opt-in clang-tidy over the project's own sources (not generated code), using the compile
# database of a build folder. Usage: tools/clang_tidy.sh [BUILD_DIR=build] [FILE_REGEX]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
regex=${2:-"$(pwd)/(src|test|bench)/.*\\.cc$"}
[[ -f "$build/compile_commands.json" ]] || { echo "no $build/compile_commands.json: configure first" >&2; exit 1; }
run-clang-tidy -quiet -p "$build" "$regex"
