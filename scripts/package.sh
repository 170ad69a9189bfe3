#!/usr/bin/env bash
# A release-profile Debian package of clip_embed for one PostgreSQL major:
#   bash scripts/package.sh 15|17|18    # prints the .deb's path:
#   $CLIP_EMBED_HOME/packages/postgresql-<N>-clip-embed_<version>-1_amd64.deb
# It holds, at Debian's paths for postgresql-<N>, the library, control file and
# SQL scripts (install and 0.1.0 -> current upgrade), ONNX Runtime's shared
# library from the pinned PyPI wheel (with its LICENSE and ThirdPartyNotices),
# the shared CLIP tokenizer and the small models (clip-shapes, the default, and
# tiny-random). Installing it needs neither Rust nor Python: it depends on
# postgresql-<N> and on what dpkg-shlibdeps finds the two libraries need
# (libturbojpeg0, libtiff6, libc6, ...); pgvector is recommended, not required.
# Building needs scripts/setup.sh's tools (Rust, cargo-pgrx, the venv with the
# wheel) and the server headers of that major: Debian's postgresql-server-dev-<N>
# (15 here), or for 18 the build scripts/pg_major.sh makes from Debian's source.
# 4 min 12 s for the first major on this 2-core machine (a release build of the
# whole dependency tree), about 1 min 20 s for the next (docs/development.md).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"
major="${1:-}"
case "$major" in
  15 | 17 | 18) ;;
  *) echo "usage: bash scripts/package.sh 15|17|18 (the PostgreSQL major to build for)" >&2; exit 2 ;;
esac

# Debian's pg_config for that major when its server headers are installed, else
# the one scripts/pg_major.sh built (its prefix has the headers).
has_headers() { [ -x "$1" ] && [ -f "$("$1" --includedir-server)/postgres.h" ]; }
pg_config="/usr/lib/postgresql/$major/bin/pg_config"
if ! has_headers "$pg_config"; then
  pg_config="$CLIP_EMBED_HOME/pg$major/bin/pg_config"
  if ! has_headers "$pg_config"; then
    hint="apt-get install postgresql-server-dev-$major"
    [ "$major" = 18 ] && hint="$hint, or bash scripts/pg_major.sh 18 (builds it from Debian's source)"
    [ "$major" = 17 ] && hint="$hint (Debian 13, or apt.postgresql.org on Debian 12; not reachable from the machine this was written on)"
    echo "package: PostgreSQL $major's server headers are missing (no pg_config with postgres.h in" \
      "/usr/lib/postgresql/$major/bin or $CLIP_EMBED_HOME/pg$major/bin): $hint" >&2
    exit 1
  fi
fi
found_major="$("$pg_config" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')"
[ "$found_major" = "$major" ] || { echo "package: $pg_config is PostgreSQL $found_major, not $major" >&2; exit 1; }
[ -x "$PY" ] || { echo "package: run bash scripts/setup.sh first (the venv holds ONNX Runtime's wheel)" >&2; exit 1; }

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
name="postgresql-$major-clip-embed"
deb_version="$version-1"
work="$CLIP_EMBED_HOME/packages/build-pg$major"
root="$work/root"
out="$CLIP_EMBED_HOME/packages/${name}_${deb_version}_amd64.deb"
rm -rf "$work" && mkdir -p "$work" "$root/DEBIAN"

log "release build for PostgreSQL $major ($pg_config)" >&2
PGRX_PG_CONFIG_PATH="$pg_config" cargo pgrx package --pg-config "$pg_config" \
  --no-default-features --features "pg$major" --out-dir "$work/pgrx" >&2

# Debian's layout for postgresql-<N>, whatever prefix the build's pg_config has.
libdir="$root/usr/lib/postgresql/$major/lib"
sharedir="$root/usr/share/postgresql/$major"
docdir="$root/usr/share/doc/$name"
install -d -m 755 "$libdir/clip_embed" "$sharedir/extension" "$docdir"
built_so="$(find "$work/pgrx" -name clip_embed.so -type f)"
install -m 644 "$built_so" "$libdir/clip_embed.so"
strip --strip-unneeded "$libdir/clip_embed.so"
for f in $(find "$work/pgrx" -name 'clip_embed.control' -o -name 'clip_embed--*.sql'); do
  install -m 644 "$f" "$sharedir/extension/"
done
# pgrx writes the install script; the upgrade script is committed (sql/).
install -m 644 sql/clip_embed--*--*.sql "$sharedir/extension/"
for f in clip_embed.control "clip_embed--$version.sql" "clip_embed--0.1.0--$version.sql"; do
  [ -f "$sharedir/extension/$f" ] || { echo "package: $f is missing from the build" >&2; exit 1; }
done

ort_pkg="$("$PY" -c 'import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))')"
install -m 644 "$ort_pkg/capi/libonnxruntime.so.$ORT_VERSION" "$libdir/clip_embed/"
ln -s "libonnxruntime.so.$ORT_VERSION" "$libdir/clip_embed/libonnxruntime.so"
write_bundled_models "$sharedir/clip_embed/models" >&2

install -m 644 LICENSE "$docdir/LICENSE"
install -m 644 "$ort_pkg/LICENSE" "$docdir/onnxruntime-LICENSE"
install -m 644 "$ort_pkg/ThirdPartyNotices.txt" "$docdir/onnxruntime-ThirdPartyNotices.txt"
gzip -9n <README.md >"$docdir/README.md.gz"
cat >"$docdir/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: clip_embed

Files: *
Copyright: the clip_embed developers
License: MIT
 See LICENSE in this folder.

Files: usr/lib/postgresql/$major/lib/clip_embed/libonnxruntime.so.$ORT_VERSION
Copyright: Microsoft Corporation
License: MIT
 ONNX Runtime $ORT_VERSION, unmodified, from PyPI's onnxruntime wheel: see
 onnxruntime-LICENSE and onnxruntime-ThirdPartyNotices.txt in this folder.

Files: usr/share/postgresql/$major/clip_embed/models/tokenizer.json
Copyright: OpenAI
License: MIT
 Built from OpenAI's bpe_simple_vocab_16e6.txt.gz (the CLIP repository, MIT).

Files: usr/share/postgresql/$major/clip_embed/models/clip-shapes/* usr/share/postgresql/$major/clip_embed/models/tiny-random/*
Copyright: the clip_embed developers
License: MIT
 Trained (clip-shapes: see its MODEL_CARD.md) or generated from a seed (tiny-random) by this project.
EOF

# Shared-library dependencies as Debian computes them (dpkg-shlibdeps wants a
# debian/control; the server's own symbols it cannot resolve are expected).
mkdir -p "$work/shlibs/debian"
printf 'Source: clip-embed\n\nPackage: %s\nArchitecture: amd64\n' "$name" >"$work/shlibs/debian/control"
shlibs="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$libdir/clip_embed.so" \
  -e"$libdir/clip_embed/libonnxruntime.so.$ORT_VERSION" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$shlibs" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

cat >"$root/DEBIAN/control" <<EOF
Package: $name
Version: $deb_version
Architecture: amd64
Maintainer: clip_embed developers <clip-embed@users.invalid>
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Depends: postgresql-$major, $shlibs
Recommends: postgresql-$major-pgvector
Section: database
Priority: optional
Description: CLIP text and image embeddings inside PostgreSQL $major
 clip_embed computes CLIP embeddings of texts and images (bytea) in the
 server, with ONNX Runtime, and returns them as real[] that cast to
 pgvector's vector. Built from clip_embed $version (release profile).
 .
 Ships ONNX Runtime $ORT_VERSION for the extension's own use, OpenAI's CLIP
 tokenizer, and two small models: clip-shapes (the default; it knows
 coloured shapes only) and tiny-random (random weights, for tests). Real
 CLIP models are installed separately (see README.md.gz).
EOF
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
rm -f "$out"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$out" >&2
rm -rf "$work"
echo "$out"
