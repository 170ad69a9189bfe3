#!/usr/bin/env bash
# The release packages, tested as installed (scripts/test.sh's last stage), for
# each major this machine builds (15: Debian's server; 18: the one
# scripts/pg_major.sh builds from Debian's source):
#   - scripts/package.sh N makes the .deb; its fields and file list are checked;
#   - dpkg installs it, and a fresh cluster of that major runs the pg_regress
#     schedule (the 0.1.0 -> 0.2.0 upgrade included) and the README's SQL against
#     the installed files (tests/pg_major_regress.sh), then, restarted with no
#     clip_embed setting at all, embeds with the package's own ONNX Runtime and
#     default model, equal to the Python reference (tests/parity/parity.py);
#   - the package is removed, and what set-up and the earlier stages installed
#     there (the dev build, ONNX Runtime, the models) is put back.
# Debian 12 cannot install sid's postgresql-18 binaries, so for 18 a stand-in
# package (Provides: postgresql-18) links Debian's paths for 18 to the server
# pg_major.sh built; dpkg then resolves the dependency and writes through them.
# Refusals, once: apt refuses the 18 package where postgresql-18 is missing, and
# the 15 server refuses 18's library with its usual "incompatible library" error.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
cd "$REPO_ROOT"
system_pg_config="$PG_CONFIG"
pg18_config="$(bash scripts/pg_major.sh 18)"
pg18_prefix="$(dirname "$(dirname "$pg18_config")")"

for major in 15 18; do
  if dpkg -s "postgresql-$major-clip-embed" >/dev/null 2>&1; then
    echo "postgresql-$major-clip-embed is installed on this machine; this test installs and removes it:" \
      "remove it first (dpkg -r postgresql-$major-clip-embed), or run the suite on a test machine" >&2
    exit 1
  fi
done

# The test ends by installing this clone's dev build where the packages were:
# a release build installed otherwise is not replaced unless asked (as scripts/env.sh's guard).
for config in "$system_pg_config" "$pg18_config"; do
  dev_install_allowed "$("$config" --pkglibdir)/clip_embed.so" || exit 1
done

restore() {
  local rc=$? failed=0
  set +e
  PG_CONFIG="$system_pg_config" bash scripts/pg_cluster.sh stop pkg15 2>/dev/null
  PG_CONFIG="$pg18_config" bash scripts/pg_cluster.sh stop pkg18 2>/dev/null
  dpkg -r postgresql-15-clip-embed postgresql-18-clip-embed clip-embed-test-postgresql-18 >/dev/null 2>&1
  # What the package's removal took: set-up's ONNX Runtime and models, the dev builds.
  bash scripts/setup.sh >/dev/null 2>&1 || failed=1
  install_dev_extension >/dev/null 2>&1 || failed=1
  bash scripts/pg_major.sh 18 >/dev/null 2>&1 || failed=1
  install_dev_extension "$pg18_config" >/dev/null 2>&1 || failed=1
  if [ "$failed" = 1 ]; then
    echo "test_packages: putting back the dev builds, ONNX Runtime and models failed: rerun bash scripts/test.sh" >&2
    exit 1
  fi
  exit "$rc"
}
trap restore EXIT

check_package() { # deb major
  local deb="$1" major="$2" files
  [ "$(dpkg-deb -f "$deb" Package)" = "postgresql-$major-clip-embed" ] || { dpkg-deb -I "$deb" >&2; exit 1; }
  dpkg-deb -f "$deb" Depends | grep -Eq "^postgresql-$major, .*libturbojpeg0.*" || { dpkg-deb -I "$deb" >&2; exit 1; }
  dpkg-deb -f "$deb" Depends | grep -q pgvector && { echo "pgvector must be recommended, not required" >&2; exit 1; }
  [ "$(dpkg-deb -f "$deb" Recommends)" = "postgresql-$major-pgvector" ] || { dpkg-deb -I "$deb" >&2; exit 1; }
  files="$(dpkg-deb -c "$deb" | awk '{print $6}')"
  for f in "usr/lib/postgresql/$major/lib/clip_embed.so" "usr/share/postgresql/$major/extension/clip_embed.control" \
    "usr/share/postgresql/$major/extension/clip_embed--0.2.0.sql" \
    "usr/share/postgresql/$major/extension/clip_embed--0.1.0--0.2.0.sql" \
    "usr/lib/postgresql/$major/lib/clip_embed/libonnxruntime.so.$ORT_VERSION" \
    "usr/lib/postgresql/$major/lib/clip_embed/libonnxruntime.so" \
    "usr/share/postgresql/$major/clip_embed/models/tokenizer.json" \
    "usr/share/postgresql/$major/clip_embed/models/clip-shapes/visual.onnx" \
    "usr/share/postgresql/$major/clip_embed/models/tiny-random/textual.onnx" \
    "usr/share/doc/postgresql-$major-clip-embed/onnxruntime-LICENSE" \
    "usr/share/doc/postgresql-$major-clip-embed/copyright"; do
    grep -qx "\./$f" <<<"$files" || { echo "$deb lacks $f" >&2; exit 1; }
  done
  # Everything under Debian's paths for that major, nothing elsewhere.
  if grep -v -E "^\./(usr/lib/postgresql/$major/|usr/share/postgresql/$major/|usr/share/doc/postgresql-$major-clip-embed/|$|usr/$|usr/lib/$|usr/share/$|usr/lib/postgresql/$|usr/share/postgresql/$|usr/share/doc/$)" <<<"$files"; then
    echo "$deb has files outside postgresql-$major's paths (above)" >&2
    exit 1
  fi
}

# Installed -> fresh cluster: the pg_regress schedule and the README's SQL; then,
# with no clip_embed setting, the package's own ORT and default model vs Python.
test_installed() { # major pg_config name port
  local major="$1" pg_config="$2" name="$3" port="$4" models
  PG_CONFIG="$pg_config" bash tests/pg_major_regress.sh "$name" "$port"
  models="$("$pg_config" --sharedir)/clip_embed/models"
  PG_CONFIG="$pg_config" bash scripts/pg_cluster.sh start "$name" "$port"
  runuser -u postgres -- "$(dirname "$pg_config")/psql" -h "$CLIP_EMBED_HOME/$name/socket" -p "$port" -XAt \
    -c "SELECT name || ' ' || path FROM clip_models() WHERE is_default" contrib_regression \
    | grep -qx "clip-shapes $models/clip-shapes" || { echo "the default model is not the package's" >&2; exit 1; }
  "$PY" tests/parity/parity.py --host "$CLIP_EMBED_HOME/$name/socket" --port "$port" --dbname contrib_regression \
    --model-dir "$models" --bpe "$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz" --model clip-shapes
}

# A major whose server headers are missing: the message says what to install.
if [ ! -e /usr/lib/postgresql/17/bin/pg_config ] && [ ! -e "$CLIP_EMBED_HOME/pg17/bin/pg_config" ]; then
  if missing="$(bash scripts/package.sh 17 2>&1)"; then
    echo "package.sh 17 succeeded without PostgreSQL 17's headers" >&2
    exit 1
  fi
  grep -q "PostgreSQL 17's server headers are missing.*apt-get install postgresql-server-dev-17" <<<"$missing" \
    || { echo "$missing" >&2; exit 1; }
fi

log "package for PostgreSQL 15: build, fields and files"
deb15="$(bash scripts/package.sh 15)"
check_package "$deb15" 15
log "package for PostgreSQL 18: build, fields and files"
deb18="$(bash scripts/package.sh 18)"
check_package "$deb18" 18
ls -l "$deb15" "$deb18" >&2

log "apt refuses the 18 package where postgresql-18 is not installed"
if refusal="$(apt-get install -s "$deb18" 2>&1)"; then
  echo "apt would install $deb18 without postgresql-18: $refusal" >&2
  exit 1
fi
grep -q "Depends: postgresql-18 but it is not installable" <<<"$refusal" || { echo "$refusal" >&2; exit 1; }

log "PostgreSQL 15: dpkg -i, then the SQL tests and parity against the installed package"
dpkg -i "$deb15" >/dev/null
[ "$(dpkg-query -W -f '${Status}' postgresql-15-clip-embed)" = "install ok installed" ]
test_installed 15 "$system_pg_config" pkg15 28825
log "the 15 server refuses the 18 package's library with its usual error"
wrong="$(mktemp -d)"
dpkg-deb -x "$deb18" "$wrong"
chmod -R a+rX "$wrong"
if refusal="$(runuser -u postgres -- "$PG_BINDIR/psql" -h "$CLIP_EMBED_HOME/pkg15/socket" -p 28825 -XAt \
  -c "LOAD '$wrong/usr/lib/postgresql/18/lib/clip_embed.so'" postgres 2>&1)"; then
  echo "PostgreSQL 15 loaded 18's library: $refusal" >&2
  exit 1
fi
rm -rf "$wrong"
grep -q 'incompatible library' <<<"$refusal" && grep -q 'Server is version 15, library is version 18' <<<"$refusal" \
  || { echo "$refusal" >&2; exit 1; }
echo "$refusal" | head -2 >&2
PG_CONFIG="$system_pg_config" bash scripts/pg_cluster.sh stop pkg15
dpkg -r postgresql-15-clip-embed >/dev/null
[ ! -e /usr/lib/postgresql/15/lib/clip_embed.so ] || { echo "dpkg -r left clip_embed.so" >&2; exit 1; }

log "PostgreSQL 18: a stand-in for Debian's postgresql-18, dpkg -i, then the same tests"
standin="$CLIP_EMBED_HOME/packages/standin-pg18"
rm -rf "$standin" && mkdir -p "$standin/DEBIAN" "$standin/usr/lib/postgresql/18" "$standin/usr/share/postgresql"
ln -s "$("$pg18_config" --pkglibdir)" "$standin/usr/lib/postgresql/18/lib"
ln -s "$("$pg18_config" --sharedir)" "$standin/usr/share/postgresql/18"
cat >"$standin/DEBIAN/control" <<EOF
Package: clip-embed-test-postgresql-18
Version: $("$pg18_config" --version | awk '{print $2}')
Architecture: amd64
Maintainer: clip_embed developers <clip-embed@users.invalid>
Provides: postgresql-18
Conflicts: postgresql-18
Description: test stand-in: PostgreSQL 18 built by clip_embed's scripts/pg_major.sh
 Links Debian's paths for PostgreSQL 18 to $pg18_prefix, for clip_embed's package test.
EOF
dpkg-deb --root-owner-group --build "$standin" "$standin.deb" >/dev/null
dpkg -i "$standin.deb" >/dev/null
dpkg -i "$deb18" >/dev/null
[ "$(dpkg-query -W -f '${Status}' postgresql-18-clip-embed)" = "install ok installed" ]
# dpkg wrote through the links into the server's own directories.
cmp "$("$pg18_config" --pkglibdir)/clip_embed.so" /usr/lib/postgresql/18/lib/clip_embed.so
test_installed 18 "$pg18_config" pkg18 28826
PG_CONFIG="$pg18_config" bash scripts/pg_cluster.sh stop pkg18
dpkg -r postgresql-18-clip-embed clip-embed-test-postgresql-18 >/dev/null
[ ! -e "$("$pg18_config" --pkglibdir)/clip_embed.so" ] || { echo "dpkg -r left 18's clip_embed.so" >&2; exit 1; }
log "packages: built, installed, tested and removed for 15 and 18"
