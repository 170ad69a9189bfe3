#!/usr/bin/env bash
# Builds Citus 13.2.2 (../shared/vendor/citus-13.2.2.tar.gz, a `git archive` of
# its release tag; no registry serves Citus) and installs it into the system's
# PostgreSQL 15, for the scale-out test (tests/citus/citus.py). Idempotent.
# 13.2.2 does not compile against Debian's 15.20 as released: 15.20 backported
# have_createdb_privilege(), which collides with Citus's own static inline of
# that name (src/include/pg_version_compat.h); Citus's copy is renamed.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
version=13.2.2
# ../shared/vendor beside the clone (the workspace's layout); /work/shared/vendor
# for a clone made elsewhere on the same machine.
tarball="${CITUS_TARBALL:-}"
for candidate in "$REPO_ROOT/../shared/vendor" /work/shared/vendor; do
  [ -n "$tarball" ] || [ ! -f "$candidate/citus-$version.tar.gz" ] || tarball="$candidate/citus-$version.tar.gz"
done
tarball="${tarball:-$REPO_ROOT/../shared/vendor/citus-$version.tar.gz}"
if [ -f "$(pg_pkglibdir)/citus.so" ] && grep -qs "default_version = '13.2" "$(pg_sharedir)/extension/citus.control"; then
  exit 0
fi
[ -f "$tarball" ] || { echo "citus: no $tarball (set CITUS_TARBALL)" >&2; exit 1; }
log "Citus $version from $tarball"
dpkg -s liblz4-dev libkrb5-dev >/dev/null 2>&1 || apt-get install -y -qq liblz4-dev libkrb5-dev >/dev/null
work="$CLIP_EMBED_HOME/citus-src"
rm -rf "$work" && mkdir -p "$work"
tar xzf "$tarball" -C "$work"
src="$work/citus-$version"
sed -i 's/^#define have_createdb_privilege() have_createdb_privilege()/#define citus_have_createdb_privilege() have_createdb_privilege()/;
        s/^have_createdb_privilege(void)/citus_have_createdb_privilege(void)/' "$src/src/include/pg_version_compat.h"
sed -i 's/!have_createdb_privilege()/!citus_have_createdb_privilege()/' \
  "$src/src/backend/distributed/commands/serialize_distributed_ddls.c"
(cd "$src" && ./configure -q PG_CONFIG="$PG_CONFIG" --without-libcurl >/dev/null)
make -s -j"$(nproc)" -C "$src" >/dev/null 2>&1 || make -C "$src" >&2
make -s -C "$src" install >/dev/null
rm -rf "$work"
