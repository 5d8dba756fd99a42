#!/usr/bin/env bash
# Install (if needed) and run the main job on the built-in demo corpus; extra arguments are Hydra overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python train.py "$@"
