#!/usr/bin/env bash
# The main job: sets everything up (idempotently), builds and installs the
# extension, starts a local PostgreSQL cluster, loads 60 generated images into a
# table with a generated embedding column and an HNSW index, runs text-to-image
# and image-to-image searches with the default model (clip-shapes), and writes
# an HTML page of the top hits. The cluster keeps running afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"
DEMO_PORT=28816

bash scripts/setup.sh
log "build and install the extension"
install_dev_extension
"$PY" tools/make_samples.py --out "$CLIP_EMBED_HOME/samples"
bash scripts/pg_cluster.sh start demo "$DEMO_PORT"
psql=(runuser -u postgres -- "$PG_BINDIR/psql" -h "$CLIP_EMBED_HOME/demo/socket" -p "$DEMO_PORT" -X)

"${psql[@]}" -qtA -c "CREATE EXTENSION IF NOT EXISTS vector" -c "CREATE EXTENSION IF NOT EXISTS clip_embed" postgres
description=$("${psql[@]}" -qtA -c "SELECT description FROM clip_models() WHERE is_default" postgres)
if [[ "$description" == *"random weights"* ]]; then
  cat <<'WARN'

  NOTE: the default model has seeded RANDOM weights: the pipeline below is real,
  but its rankings mean nothing.

WARN
fi
"${psql[@]}" -v samples="$CLIP_EMBED_HOME/samples" -f sql/demo.sql postgres

# The picture: psql writes the page to stdout; this shell (not the postgres user) owns the file.
report="$CLIP_EMBED_HOME/demo.html"
"${psql[@]}" -qtA -v ON_ERROR_STOP=1 -f sql/demo_report.sql postgres >"$report.tmp"
mv "$report.tmp" "$report"
chmod 644 "$report"
cat <<MSG

== the picture: the top 5 hits of every query above, with their similarities
   $report   (open it in a browser)

The default model, clip-shapes, is a small CLIP trained on synthetic coloured
shapes: it knows 8 colours, 6 shapes and the words of its captions, nothing
else (models/clip-shapes/MODEL_CARD.md). For photos install a real CLIP export
(README, "Models").
MSG
log "demo cluster left running (only root and the postgres OS user can connect): ${psql[*]} postgres"
log "stop it with: bash scripts/pg_cluster.sh stop demo"
