#!/usr/bin/env bash
# The kit's main job on the embedded default (local backend, no Docker): install praas-kit into
# .venv, then run the runtime micro-benchmarks in quick mode. Results: results/quick/core.csv + .meta.json
# (the committed full-run results in results/ are left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec .venv/bin/praas bench --quick "$@"
