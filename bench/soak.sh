#!/usr/bin/env bash
# The long soak: tests/soak/soak.py with 16 clients for 10 minutes (the suite
# runs 4 for 60 s) on the default model, against a dedicated cluster. Run after
# scripts/test.sh or scripts/demo.sh. Extra arguments go to soak.py.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO_ROOT"
bash scripts/pg_cluster.sh start bench-soak 28819 "$(MODEL_INSTALL_DIR)"
trap 'bash scripts/pg_cluster.sh stop bench-soak' EXIT
"$PY" tests/soak/soak.py --host "$CLIP_EMBED_HOME/bench-soak/socket" --port 28819 --clients 16 --seconds 600 "$@"
