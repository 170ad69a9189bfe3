#!/usr/bin/env bash
# Runs bench/long_text.py (hostile long texts: time, memory, cancel) against a
# dedicated cluster on the installed models. Run after scripts/test.sh or
# scripts/demo.sh (set-up and an installed extension).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO_ROOT"
bash scripts/pg_cluster.sh start bench-text 28818 "$(MODEL_INSTALL_DIR)"
trap 'bash scripts/pg_cluster.sh stop bench-text' EXIT
"$PY" bench/long_text.py --host "$CLIP_EMBED_HOME/bench-text/socket" --port 28818 "$@"
