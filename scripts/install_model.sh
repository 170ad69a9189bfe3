#!/usr/bin/env bash
# Installs a downloaded model folder under a name, after checking that it loads:
#   bash scripts/install_model.sh ~/Downloads/clip-vit-b-16 vit-b-16
# Copies the folder into the model directory (pg_config --sharedir/clip_embed/models,
# or MODEL_DIR if set) inside a staging folder whose name no backend can load
# (".installing-PID": a model name never starts with '.'), loads it there with
# clip_embed's own core (the checker scripts/setup.sh builds: nothing is compiled
# here) and runs both towers of every variant once, then renames it to NAME and
# prints what was detected. A variant that does not run is listed as unsupported,
# with the reason, and its graphs are left out; the rest installs. A folder with
# no variant that serves is removed again, with the reason; so is one holding
# anything but plain files and folders (a symlink could point anywhere, a FIFO
# named config.json would block every backend that reads it). ONNXRUNTIME_PATH
# names the library the server loads (clip_embed.onnxruntime_path) if it is not
# set-up's. Nothing is downloaded; a NAME that exists is never replaced (a name
# must keep its weights).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_FOLDER NAME" >&2
  exit 2
fi
src="$1" name="$2"
models="${MODEL_DIR:-$(MODEL_INSTALL_DIR)}"
if ! [[ "$name" =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$ ]]; then
  echo "install_model: \"$name\" is not a model name (letters, digits, '.', '_', '-'; at most 63)" >&2
  exit 2
fi
[ -d "$src" ] || { echo "install_model: no folder $src" >&2; exit 1; }
[ -e "$models/$name" ] && { echo "install_model: $models/$name exists; pick a new name" >&2; exit 1; }
odd="$(find "$src/" -mindepth 1 ! -type f ! -type d -print | head -5)"
if [ -n "$odd" ]; then
  echo "install_model: $src holds entries that are not plain files or folders (symlinks, FIFOs, devices):" >&2
  echo "$odd" >&2
  exit 1
fi
inspector="$CLIP_EMBED_HOME/bin/clip_embed_inspect_model"
[ -x "$inspector" ] || { echo "install_model: no $inspector: run bash scripts/setup.sh first" >&2; exit 1; }
onnxruntime="${ONNXRUNTIME_PATH:-$(ORT_INSTALL_DIR)/libonnxruntime.so}"
staging="$models/.installing-$$"
trap 'rm -rf "$staging"' EXIT
mkdir -m 755 "$staging"
cp -r "$src/." "$staging/$name"
# OpenAI-layout folders without a tokenizer.json read the model directory's.
if [ -f "$models/tokenizer.json" ]; then cp "$models/tokenizer.json" "$staging/"; fi
chmod -R a+rX "$staging"
if ! report="$("$inspector" "$staging" "$name" "$onnxruntime")"; then
  echo "install_model: $src was not installed" >&2
  exit 1
fi
# The graphs of variants that do not run stay out of the installed folder.
while read -r file; do
  case "/$file/" in */../*) echo "install_model: odd path $file" >&2; exit 1 ;; esac
  rm -f "$staging/$name/$file"
done < <(sed -n 's/^remove: *//p' <<<"$report")
grep -v '^remove:' <<<"$report" || true
mv "$staging/$name" "$models/$name"
# The name to call it by: NAME, or NAME:VARIANT when the folder holds only variants.
first="$(sed -n 's/^model: *//p' <<<"$report" | head -1)"
echo "installed $models/$name: SELECT clip_embed_text('a photo of a cat', '${first:-$name}');"
