#!/usr/bin/env bash
# The whole test suite, cheapest first. `.ci/run` runs exactly this.
#   1. set-up (idempotent)            5. pg_regress SQL files against expected output
#   2. cargo fmt / clippy             6. reference parity (Python pipeline vs SQL): OpenAI-layout models,
#   3. pure-Rust core tests              and each downloaded layout against its own family's pipeline
#   4. #[pg_test]s (cargo pgrx test)  7. semantic: clip-shapes' held-out figures through SQL = Python's
#                                     8. soak: 4 clients for 60 s, cancel and terminate mid-run
#                                     9. install_model.sh: installs a good folder, refuses a broken one;
#                                        get_model.sh against a local stand-in for the Hugging Face hub
#                                    10. a hot standby (pg_basebackup -R) serves the same vectors and k-NN
#                                    11. hostile: an ordinary role's attacks, faults, a crowd (own cluster);
#                                        preload: clip_embed.preload_models in the postmaster (own cluster)
#                                    12. the SQL examples of README.md and docs/*.md, verbatim
#                                    13. Citus: generated column, HNSW and k-NN on shards, the surprises
#                                    14. PostgreSQL 18: pg_regress and the README's SQL on that major
#                                    15. release packages for 15 and 18: built, installed with dpkg,
#                                        tested on a fresh cluster of each major, removed
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"
started=$SECONDS
REGRESS_PORT=28815

bash scripts/setup.sh
bash scripts/make_test_models.sh

log "cargo fmt --check"
cargo fmt --all -- --check

log "clippy (-D warnings)"
cargo clippy --locked --workspace --all-targets --features pg_test -- -D warnings

log "core layering: no import cycle, no import up the order of crates/clip_embed_core/src/lib.rs"
python3 tools/module_graph.py
log "the ftfy port's generated tables are what ftfy 6.3.1 and CPython give (tools/ftfy_tables.py)"
"$PY" tools/ftfy_tables.py --check
log "the BMP fixture is what OpenCV 4.10's imdecode gives (tools/bmp_cases.py)"
OPENCV_LOG_LEVEL=SILENT "$PY" tools/bmp_cases.py --check
log "the TIFF fixture is what OpenCV 4.10's imdecode gives (tools/tiff_cases.py)"
OPENCV_LOG_LEVEL=SILENT "$PY" tools/tiff_cases.py --check
log "the JPEG orientation fixture is what OpenCV 4.10's imdecode gives (tools/jpeg_orientation_cases.py)"
OPENCV_LOG_LEVEL=SILENT "$PY" tools/jpeg_orientation_cases.py --check

log "core unit tests (no Postgres)"
cargo test --locked -p clip_embed_core

log "#[pg_test] (cargo pgrx test, cluster run as postgres)"
mkdir -p "$CLIP_EMBED_HOME/pgrx-test"
chown postgres "$CLIP_EMBED_HOME/pgrx-test"
CARGO_PGRX_TEST_RUNAS=postgres CARGO_PGRX_TEST_PGDATA="$CLIP_EMBED_HOME/pgrx-test/data" \
  cargo pgrx test pg15

log "install the extension (dev profile, shares cargo pgrx test's dependency builds)"
# The guard that keeps a release install (a package's: stripped) from being
# replaced by this dev build: a stripped library counts as one, ours does not.
stripped_so="$(mktemp)"
strip -o "$stripped_so" "$(ldconfig -p | sed -n 's/.*libc\.so\.6 (libc6,x86-64) => //p' | head -1)"
dev_install_would_replace_release "$stripped_so" || { echo "a stripped library not seen as a release install" >&2; exit 1; }
rm -f "$stripped_so"
install_dev_extension
! dev_install_would_replace_release "$(pg_pkglibdir)/clip_embed.so" ||
  { echo "the dev build just installed looks like a release install" >&2; exit 1; }

log "pg_regress"
# Every SQL object is declared once: the upgrade script is derived from the
# install script pgrx wrote (run_pg_regress fails if the committed one is stale).
bash scripts/pg_cluster.sh start regress "$REGRESS_PORT" "$CLIP_EMBED_HOME/test-models"
trap 'bash scripts/pg_cluster.sh stop regress' EXIT
# Only the cluster's owners (root, postgres) get in: any other OS user is refused.
if runuser -u nobody -- "$PG_BINDIR/psql" -h "$CLIP_EMBED_HOME/regress/socket" -p "$REGRESS_PORT" -U postgres \
  -XAtc 'SELECT 1' postgres >/dev/null 2>&1; then
  echo "the OS user nobody entered the test cluster" >&2
  exit 1
fi
run_pg_regress "$CLIP_EMBED_HOME/regress/socket" "$REGRESS_PORT" "$CLIP_EMBED_HOME/regress/out"

# tiny-random has a row per token id (the tokenizer's check); clip-shapes is trained,
# so its image embeddings react to small pixel differences more than random weights do;
# torch-export bakes the length in; mask-export takes clip-as-service's attention_mask.
for model in tiny-random clip-shapes torch-export mask-export; do
  log "reference parity: $model"
  "$PY" tests/parity/parity.py --host "$CLIP_EMBED_HOME/regress/socket" --port "$REGRESS_PORT" \
    --model-dir "$CLIP_EMBED_HOME/test-models" --bpe "$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz" --model "$model"
done

log "layout parity: HF/transformers.js, Immich/open_clip and SigLIP folders against their own pipelines"
"$PY" tests/parity/layouts.py --host "$CLIP_EMBED_HOME/regress/socket" --port "$REGRESS_PORT" \
  --model-dir "$CLIP_EMBED_HOME/test-models"

log "semantic: clip-shapes on held-out images, through SQL and pgvector"
"$PY" tests/semantic/semantic_sql.py --host "$CLIP_EMBED_HOME/regress/socket" --port "$REGRESS_PORT" \
  --model-dir "$CLIP_EMBED_HOME/test-models" --bpe "$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz"

log "soak: 4 clients for 60 s on the default model, with a cancel and a terminate"
"$PY" tests/soak/soak.py --host "$CLIP_EMBED_HOME/regress/socket" --port "$REGRESS_PORT" --clients 4 --seconds 60

log "install_model.sh: a folder installs after its towers ran; a broken one is refused and leaves nothing"
install_dir="$CLIP_EMBED_HOME/install-test"
rm -rf "$install_dir" && mkdir -p "$install_dir"
cp "$CLIP_EMBED_HOME/test-models/tokenizer.json" "$install_dir/"
installed=$(MODEL_DIR="$install_dir" bash scripts/install_model.sh "$CLIP_EMBED_HOME/test-models/bare-export" my-export)
grep -q '^layout: *openai$' <<<"$installed" || { echo "$installed" >&2; exit 1; }
# A transformers.js folder as downloaded, with every variant its quantize.py
# writes: each runs and is reported.
installed=$(MODEL_DIR="$install_dir" bash scripts/install_model.sh "$CLIP_EMBED_HOME/test-models/hf-clip" my-hf)
grep -q '^layout: *hf-clip$' <<<"$installed" && ! grep -q '^unsupported:' <<<"$installed" \
  || { echo "$installed" >&2; exit 1; }
for variant in quantized fp16 int8 uint8 q4 q4f16 bnb4; do
  grep -q "^model: *my-hf:$variant\$" <<<"$installed" || { echo "no my-hf:$variant in: $installed" >&2; exit 1; }
done
# A full repository where one variant does not run: listed as unsupported, its
# graphs left out, the others installed.
partial_src="$CLIP_EMBED_HOME/install-partial"
rm -rf "$partial_src" && cp -r "$CLIP_EMBED_HOME/test-models/hf-clip" "$partial_src"
head -c 4096 /dev/urandom >"$partial_src/onnx/vision_model_fp16.onnx"
installed=$(MODEL_DIR="$install_dir" bash scripts/install_model.sh "$partial_src" my-partial)
rm -rf "$partial_src"
grep -q '^unsupported: *my-partial:fp16 (the vision tower does not run' <<<"$installed" \
  && grep -q '^model: *my-partial:quantized$' <<<"$installed" && grep -q '^model: *my-partial$' <<<"$installed" \
  || { echo "$installed" >&2; exit 1; }
[ "$(ls "$install_dir/my-partial/onnx" | tr '\n' ' ')" = "$(ls "$CLIP_EMBED_HOME/test-models/hf-clip/onnx" | grep -v _fp16 | tr '\n' ' ')" ] \
  || { ls -la "$install_dir/my-partial/onnx" >&2; exit 1; }
for broken in broken-graph mixed-layouts hf-no-preprocessor; do
  if MODEL_DIR="$install_dir" bash scripts/install_model.sh "$CLIP_EMBED_HOME/test-models/$broken" broken 2>/dev/null; then
    echo "install_model.sh installed $broken" >&2
    exit 1
  fi
done
# A folder holding a symlink (it could point anywhere) or a FIFO (a reader would block) is refused.
odd_src="$CLIP_EMBED_HOME/install-odd"
for odd in symlink fifo; do
  rm -rf "$odd_src" && cp -r "$CLIP_EMBED_HOME/test-models/bare-export" "$odd_src"
  if [ "$odd" = symlink ]; then ln -s /etc/passwd "$odd_src/clip_config.json"; else mkfifo "$odd_src/config.json"; fi
  if MODEL_DIR="$install_dir" bash scripts/install_model.sh "$odd_src" "odd-$odd" 2>/dev/null; then
    echo "install_model.sh installed a folder with a $odd" >&2
    exit 1
  fi
done
rm -rf "$odd_src"
# The quantiser takes model names only: nothing is written outside the model directory.
if "$PY" tools/quantize_model.py --model-dir "$install_dir" --from my-export --to ../escaped 2>/dev/null \
  || [ -e "$CLIP_EMBED_HOME/escaped" ]; then
  echo "quantize_model.py accepted ../escaped" >&2
  exit 1
fi
[ "$(ls -A "$install_dir" | tr '\n' ' ')" = "my-export my-hf my-partial tokenizer.json " ] || { ls -la "$install_dir" >&2; exit 1; }
rm -rf "$install_dir"

log "get_model.sh: fetching from a local stand-in for the Hugging Face hub (HF_ENDPOINT)"
"$PY" tests/hub/test_get_model.py --models "$CLIP_EMBED_HOME/test-models"

log "hot standby: pg_basebackup -R from the test cluster, same vectors and k-NN"
"$PY" tests/replica/standby.py --host "$CLIP_EMBED_HOME/regress/socket" --port "$REGRESS_PORT" \
  --home "$CLIP_EMBED_HOME" --bindir "$PG_BINDIR"

log "hostile: attacks by an ordinary role, faults and a crowd, on a cluster of its own under ulimit -v"
"$PY" tests/hostile/hostile.py --home "$CLIP_EMBED_HOME" --bindir "$PG_BINDIR"

log "preload: clip_embed.preload_models with shared_preload_libraries (own cluster): same vectors, one-thread postmaster, cancel"
"$PY" tests/preload/preload.py --home "$CLIP_EMBED_HOME"

log "Citus 13.2.2 (scripts/citus.sh builds it from ../shared/vendor): a coordinator and two workers, 4 shards"
bash scripts/citus.sh
"$PY" tools/make_samples.py --out "$CLIP_EMBED_HOME/samples" >/dev/null
"$PY" tests/citus/citus.py --home "$CLIP_EMBED_HOME" --samples "$CLIP_EMBED_HOME/samples"

log "README.md and docs/*.md SQL examples, verbatim"
"$PY" tests/readme_examples.py --host "$CLIP_EMBED_HOME/regress/socket" --port "$REGRESS_PORT" README.md docs/*.md

log "PostgreSQL 18 (scripts/pg_major.sh builds it from Debian's source): this tree built for it, pg_regress and the README's SQL on a cluster of that major"
pg18_config="$(bash scripts/pg_major.sh 18)"
install_dev_extension "$pg18_config"
PG_CONFIG="$pg18_config" bash tests/pg_major_regress.sh regress18 28818

log "release packages (scripts/package.sh 15 and 18): dpkg -i, the SQL tests, upgrade and parity as installed, dpkg -r"
bash tests/package/test_packages.sh

log "all tests passed in $((SECONDS - started)) s"
# Reached only if every stage passed (set -e): fmt/clippy, core, pg_test, pg_regress, parity, semantic, soak,
# install_model + get_model, standby, hostile, Citus, README, PostgreSQL 18, packages.
echo "stages: 14 passed, 0 failed"
