#!/usr/bin/env bash
# The main job: sets everything up (idempotently), builds and installs the
# extension, starts a local PostgreSQL cluster, loads sample images into a table
# with a generated embedding column and an HNSW index, and runs a text-to-image
# and an image-to-image search. The cluster keeps running afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"
DEMO_PORT=28816

bash scripts/setup.sh
log "build and install the extension"
cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null
"$PY" tools/make_samples.py --out "$CLIP_EMBED_HOME/samples"
bash scripts/pg_cluster.sh start demo "$DEMO_PORT"
psql=(runuser -u postgres -- "$PG_BINDIR/psql" -h "$CLIP_EMBED_HOME/demo/socket" -p "$DEMO_PORT" -X)

description=$("${psql[@]}" -qtA -c "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS clip_embed;" \
  -c "SELECT description FROM clip_models() WHERE is_default" postgres | tail -1)
if [[ "$description" == *"random weights"* ]]; then
  cat <<'WARN'

  NOTE: the default model has seeded RANDOM weights (no registry reachable here
  ships real CLIP weights). The pipeline below is real, but its rankings mean
  nothing. Install a real CLIP export (see README, "Models") for real search.

WARN
fi
"${psql[@]}" -v samples="$CLIP_EMBED_HOME/samples" -f sql/demo.sql postgres
log "demo cluster left running: ${psql[*]} postgres"
