#!/usr/bin/env bash
# Builds PostgreSQL MAJOR (18; 17 is refused: its source cannot be fetched here) from Debian's source package into
# $CLIP_EMBED_HOME/pg<MAJOR>, with pgvector, for the tests that run clip_embed
# on every supported major (scripts/test.sh). Nothing is installed outside that
# prefix: the system's PostgreSQL 15 and its extensions are left alone.
#   bash scripts/pg_major.sh 18     # prints the prefix's pg_config
# Idempotent: a finished build is kept (a stamp names the source version).
# Debian 12 has neither major as a binary, and trixie's/sid's binaries need a
# newer libc, so the source package is built: configure + make, no docs, no
# ICU/readline/zlib (the tests need none of them). 2 min 22 s for 18 on this idle 2-core
# machine, 3 min 51 s beside another build (docs/development.md).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
major="${1:?usage: pg_major.sh 17|18}"
case "$major" in
  18) suite=sid ;;
  # trixie's index lists postgresql-17 17.12-0+deb13u1, but the mirror this
  # machine reaches answers 404 for its files (checked 2026-12-06).
  17) echo "pg_major: PostgreSQL 17's source package cannot be fetched here (the mirror answers 404)" >&2; exit 1 ;;
  *) echo "pg_major: $major is not a major this project builds (18)" >&2; exit 2 ;;
esac
prefix="$CLIP_EMBED_HOME/pg$major"
stamp="$prefix/.built-from"
# What set-up installs for the system's PostgreSQL, for this prefix's defaults
# (clip_embed.onnxruntime_path = $libdir/clip_embed/..., model_dir = $sharedir/...).
# Copied on every run: removing the package test's postgresql-18-clip-embed takes them.
copy_runtime_files() {
  local lib share
  lib="$("$prefix/bin/pg_config" --pkglibdir)" share="$("$prefix/bin/pg_config" --sharedir)"
  [ -e "$lib/clip_embed/libonnxruntime.so" ] || { mkdir -p "$lib/clip_embed" && cp -a "$(pg_pkglibdir)/clip_embed/." "$lib/clip_embed/"; }
  [ -e "$share/clip_embed/models/clip-shapes" ] || { mkdir -p "$share/clip_embed" && cp -a "$(pg_sharedir)/clip_embed/." "$share/clip_embed/"; }
}
if [ -f "$stamp" ] && [ -x "$prefix/bin/pg_config" ] && [ -f "$("$prefix/bin/pg_config" --pkglibdir)/vector.so" ]; then
  copy_runtime_files
  echo "$prefix/bin/pg_config"
  exit 0
fi
# Since PostgreSQL 17 the release tarball holds no generated parsers.
command -v bison >/dev/null && command -v flex >/dev/null || apt-get install -y -qq bison flex >/dev/null
work="$CLIP_EMBED_HOME/pg$major-src"
rm -rf "$work" "$prefix" && mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
log "PostgreSQL $major from Debian's source package ($suite) into $prefix" >&2
mirror="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
if [ -z "$mirror" ]; then
  mirror="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1)"
fi
# pgvector's source comes from trixie, the version set-up pins for the system's PostgreSQL.
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$suite" "$mirror" trixie \
  >"$work/sources.list"
aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${aptopts[@]}" update -qq
(cd "$work" && apt-get "${aptopts[@]}" --download-only source -qq "postgresql-$major" "pgvector=$PGVECTOR_VERSION-1" >/dev/null)
dsc="$(ls "$work"/postgresql-"$major"_*.dsc)"
(cd "$work" && dpkg-source -x ./pgvector_"$PGVECTOR_VERSION"-*.dsc pgvector >/dev/null 2>&1)
# Upstream as released: Debian's patches put the libraries under /usr/lib/postgresql/<major>.
(cd "$work" && dpkg-source -x --skip-patches "$dsc" src >/dev/null 2>&1)
(cd "$work/src" && ./configure -q --prefix="$prefix" --without-icu --without-readline --without-zlib >/dev/null)
make -s -j"$(nproc)" -C "$work/src" >/dev/null 2>&1 || make -C "$work/src" >&2
make -s -C "$work/src" install >/dev/null
case "$("$prefix/bin/pg_config" --pkglibdir)" in
  "$prefix"/*) ;;
  *) echo "pg_major: PostgreSQL $major's libraries would go outside $prefix" >&2; exit 1 ;;
esac
# pgvector 0.8.0 predates PostgreSQL 18; its two API changes, as 0.8.1 made them
# (sid's newer pgvector source is not reachable here): vacuum_delay_point takes
# is_analyze, and TupleDesc's attrs array is read through TupleDescAttr.
if [ "$major" -ge 18 ]; then
  sed -i 's/vacuum_delay_point();/vacuum_delay_point(false);/' "$work"/pgvector/src/*.c
  sed -i 's/buildstate->tupdesc->attrs\[0\]\.atttypid/TupleDescAttr(buildstate->tupdesc, 0)->atttypid/' \
    "$work/pgvector/src/ivfbuild.c"
fi
make -s -C "$work/pgvector" PG_CONFIG="$prefix/bin/pg_config" >/dev/null 2>&1 || make -C "$work/pgvector" PG_CONFIG="$prefix/bin/pg_config" >&2
make -s -C "$work/pgvector" PG_CONFIG="$prefix/bin/pg_config" install >/dev/null
copy_runtime_files
basename "$dsc" .dsc >"$stamp"
rm -rf "$work"
echo "$prefix/bin/pg_config"
