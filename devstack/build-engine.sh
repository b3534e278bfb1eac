#!/usr/bin/env bash
# Build and install PostgreSQL's extensions for the local MongoDB-compatible engine: pgvector,
# pg_cron and DocumentDB (documentdb_core + documentdb), from the source tarballs in $SOURCES,
# into the PostgreSQL whose pg_config is $PG_CONFIG. Run by devstack (devstack/engine.py), as root
# (`make install` writes into PostgreSQL's own folders); the build happens in $WORK.
set -euo pipefail
: "${SOURCES:?}" "${WORK:?}" "${PG_CONFIG:?}" "${DOCUMENTDB:?}" "${PGVECTOR:?}" "${PG_CRON:?}"

mkdir -p "$WORK"
cd "$WORK"
unpack() {  # unpack NAME: the tarball's single top folder, as $WORK/NAME
  rm -rf "$1" && mkdir "$1"
  tar -xzf "$SOURCES/$1.tar.gz" -C "$1" --strip-components=1
}

# pgvector: documentdb requires the `vector` extension (Debian 12 has no package of it).
# OPTFLAGS="": no -march=native, so the build runs on any machine of this kind.
unpack "$PGVECTOR"
make -C "$PGVECTOR" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" with_llvm=no
make -C "$PGVECTOR" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" with_llvm=no install

# pg_cron >= 1.5: documentdb's TTL indexes run as cron jobs with schedules in seconds.
unpack "$PG_CRON"
make -C "$PG_CRON" -s PG_CONFIG="$PG_CONFIG" with_llvm=no
make -C "$PG_CRON" -s PG_CONFIG="$PG_CONFIG" with_llvm=no install

# DocumentDB asks pkg-config for `intelmathlib`, a name Debian does not ship: point it at
# Debian's Intel decimal library (libbidgcc000.a, built PIC).
mkdir -p pkgconfig
cat > pkgconfig/intelmathlib.pc <<EOF
Name: intelmathlib
Description: Intel decimal floating-point math library (Debian's libintelrdfpmath-dev)
Version: 2.0
Cflags: -I/usr/include
Libs: -L/usr/lib/$(gcc -dumpmachine) -l:libbidgcc000.a
EOF
export PKG_CONFIG_PATH="$WORK/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

# Debian's libbson 1.23 lacks BSON_SUBTYPE_SENSITIVE (DocumentDB pins 1.28); with_llvm=no skips
# the JIT bitcode (clang would not see COPT). Only the two extensions FerretDB needs.
unpack "$DOCUMENTDB"
COPT="-DBSON_SUBTYPE_SENSITIVE=0x08 -Wno-error=switch"
for part in pg_documentdb_core pg_documentdb; do
  make -C "$DOCUMENTDB/$part" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" with_llvm=no COPT="$COPT"
  make -C "$DOCUMENTDB/$part" -s PG_CONFIG="$PG_CONFIG" with_llvm=no COPT="$COPT" install
done
