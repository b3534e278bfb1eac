"""The local MongoDB-compatible engine: PostgreSQL 15 with the DocumentDB extension (FerretDB's
fork), and the FerretDB 2 gateway that speaks the MongoDB wire protocol in front of it.

Installed once per machine and version: Debian's packages (apt, as root), PostgreSQL's
extensions built from pinned sources and installed into PostgreSQL's own folders (`make install`,
as root; a stamp file beside them says which build is there), and the gateway built with Go from
the module proxy into DEVSTACK_CACHE. The sources come from ../shared/vendor (or
DEVSTACK_ENGINE_SOURCES) when present, checked by sha256; otherwise from their upstream tags with
git, checked by commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_MAJOR = "15"
FERRETDB_VERSION = "v2.5.0"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB/v2/cmd/ferretdb"
# FerretDB v2.5.0 does not build with Go >= 1.25 (undefined: setGOMAXPROCS); `go` fetches this
# toolchain from the module proxy.
FERRETDB_GO_TOOLCHAIN = "go1.24.6"


@dataclass(frozen=True)
class Source:
    name: str  # the tarball's name, without .tar.gz
    repository: str
    tag: str
    commit: str
    sha256: str


SOURCES = (
    # The PostgreSQL extensions documentdb_core + documentdb, the version FerretDB v2.5.0 names.
    Source("documentdb-0.106.0-ferretdb-2.5.0", "https://github.com/FerretDB/documentdb.git", "v0.106.0-ferretdb-2.5.0",
           "beb9d25d9845477c85559d3293cd1f929cdf2b9c",
           "3ba0408eee7c3bc67933da50034092ee77e2aa79b61234c1216b0a1ffac21df1"),
    # documentdb requires `vector`; Debian 12 has no package of it.
    Source("pgvector-0.8.0", "https://github.com/pgvector/pgvector.git", "v0.8.0",
           "2627c5ff775ae6d7aef0c430121ccf857842d2f2",
           "93df40ccdaaaa267d1275c1e6e773004a0e5ff8e14227934a4ec7e8205d0f608"),
    # documentdb requires pg_cron >= 1.5 (TTL indexes are cron jobs); Debian's 1.4.2 is too old.
    Source("pg_cron-1.6.3", "https://github.com/citusdata/pg_cron.git", "v1.6.3",
           "9d0576c64edd90fb3d8ac30763296a8106315638",
           "3580f4034021e62e459f9f7ab1f625774bfc534a9256844545da85d6f99c2f5b"),
)

DEBIAN_PACKAGES = (
    f"postgresql-{PG_MAJOR}", f"postgresql-server-dev-{PG_MAJOR}", f"postgresql-{PG_MAJOR}-postgis-3",
    f"postgresql-{PG_MAJOR}-rum", "libbson-dev", "libintelrdfpmath-dev", "libpcre2-dev", "libkrb5-dev", "pkg-config",
    "build-essential",
)
BUILD_SCRIPT = ROOT / "devstack" / "build-engine.sh"

# PostgreSQL's settings for DocumentDB (see ../shared/vendor/README.md for how each was found).
PG_SETTINGS = {
    "shared_preload_libraries": "pg_cron,pg_documentdb_core,pg_documentdb",
    "cron.database_name": "postgres",  # where the extension is created: TTL indexes' jobs run there
    # FerretDB tells drivers 100,000 writes per batch; DocumentDB's default (25,000) refuses more.
    "documentdb.maxWriteBatchSize": "100000",
    # Compound indexes as one composite column: inserts with two compound indexes 7x faster.
    "documentdb.defaultUseCompositeOpClass": "on",
    "documentdb.enableSortbyIdPushDownToPrimaryKey": "on",
    "max_wal_size": "256MB",
    "shared_buffers": "256MB",
    "synchronous_commit": "off",  # a killed server loses nothing committed to the OS
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
}


# What this engine is not (none of it is relied on; docs/local-stack.md): it loses one of
# two concurrent upserts of the same new `_id` (DocumentDB before 0.108; stores write first
# through shared.db.write_by_id instead), its multi-document transactions are not atomic, and
# it has no change streams.


class EngineError(Exception):
    """Something a person has to act on; the message says what."""


WHAT_TO_DO = ("Either run `make run` or `make test` once as root (it installs Debian's packages and the "
              "extensions into PostgreSQL's folders), set MONGODB_URI to a MongoDB of yours, or use "
              "`docker compose up` (MongoDB in a container).")


def pg_bin() -> Path:
    """The PostgreSQL 15 server's programs: DEVSTACK_PG_BIN, else Debian's folder."""
    explicit = os.environ.get("DEVSTACK_PG_BIN")
    return Path(explicit) if explicit else Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")


def _sources_dir() -> Path:
    return Path(os.environ.get("DEVSTACK_ENGINE_SOURCES") or ROOT.parent / "shared" / "vendor")


def build_key() -> str:
    """What the installed extensions were built from: the sources and our build script."""
    digest = hashlib.sha256(BUILD_SCRIPT.read_bytes())
    for source in SOURCES:
        digest.update(f"{source.name}:{source.commit}".encode())
    return digest.hexdigest()[:16]


def _stamp() -> Path:
    share = subprocess.run([str(pg_bin() / "pg_config"), "--sharedir"], capture_output=True, text=True)
    return Path(share.stdout.strip() or f"/usr/share/postgresql/{PG_MAJOR}") / "extension" / "prospectflow-engine.json"


def extensions_installed() -> bool:
    try:
        return json.loads(_stamp().read_text()).get("key") == build_key()
    except (OSError, ValueError):
        return False


def _is_root() -> bool:
    return os.geteuid() == 0


def apt_install(packages: tuple[str, ...], why: str) -> None:
    """Install the Debian packages not installed yet (as root), refreshing the index once if needed."""
    def missing() -> list[str]:
        return [p for p in packages if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                                      text=True).stdout.strip() != "install ok installed"]

    wanted = missing() if shutil.which("dpkg-query") else list(packages)
    if not wanted:
        return
    if not _is_root() or not shutil.which("apt-get"):
        raise EngineError(f"Debian's packages {' '.join(wanted)} are needed {why}. {WHAT_TO_DO}")
    print(f"devstack: installing {' '.join(wanted)} with apt-get {why} (once)", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *wanted]
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:  # an old package index: refresh it once
        subprocess.run(["apt-get", "update", "-qq"], env=environment, capture_output=True)
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0 or missing():
        raise EngineError(f"apt-get could not install {' '.join(wanted)}: {done.stderr.strip()[-800:]}")


def _source_tarball(source: Source, cache: Path) -> Path:
    """The source's tarball: vendored (checked by sha256), else fetched from its tag (checked by commit)."""
    vendored = _sources_dir() / f"{source.name}.tar.gz"
    if vendored.exists():
        found = hashlib.sha256(vendored.read_bytes()).hexdigest()
        if found != source.sha256:
            raise EngineError(f"{vendored} has sha256 {found}, not {source.sha256}: replace it with the pinned tarball")
        return vendored
    fetched = cache / "sources" / f"{source.name}.tar.gz"
    if fetched.exists():
        return fetched
    git = shutil.which("git")
    if not git:
        raise EngineError(f"{source.name} is neither in {_sources_dir()} nor fetchable (git is missing)")
    print(f"devstack: fetching {source.repository} at {source.tag}", flush=True)
    checkout = cache / "sources" / source.name
    shutil.rmtree(checkout, ignore_errors=True)
    cloned = subprocess.run([git, "clone", "-q", "--depth", "1", "--branch", source.tag, source.repository, str(checkout)],
                            capture_output=True, text=True)
    if cloned.returncode != 0:
        raise EngineError(f"{source.name} is not in {_sources_dir()} (DEVSTACK_ENGINE_SOURCES) and could not be "
                          f"fetched from {source.repository}: {cloned.stderr.strip()[-400:]}")
    head = subprocess.run([git, "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if head != source.commit:
        raise EngineError(f"{source.repository} tag {source.tag} is commit {head}, not the pinned {source.commit}")
    subprocess.run([git, "-C", str(checkout), "archive", f"--prefix={source.name}/", "-o", str(fetched), "HEAD"],
                   check=True, capture_output=True)
    shutil.rmtree(checkout, ignore_errors=True)
    return fetched


def install_extensions(cache: Path) -> None:
    """Build pgvector, pg_cron and DocumentDB and install them into PostgreSQL 15 (once per build key)."""
    if extensions_installed():
        return
    apt_install(DEBIAN_PACKAGES, "for the local database engine (PostgreSQL 15 with DocumentDB)")
    if not _is_root():
        raise EngineError("the DocumentDB extension is not installed into PostgreSQL "
                          f"({_stamp().parent} is written by `make install`, as root). {WHAT_TO_DO}")
    tarballs = {s.name: _source_tarball(s, cache) for s in SOURCES}
    folders = {p.parent for p in tarballs.values()}
    if len(folders) != 1:  # some vendored, some fetched: put them side by side
        side = cache / "sources"
        side.mkdir(parents=True, exist_ok=True)
        for path in tarballs.values():
            if path.parent != side:
                shutil.copy(path, side / path.name)
        folders = {side}
    work = cache / f"engine-build-{build_key()}"
    print("devstack: building PostgreSQL's DocumentDB, pgvector and pg_cron extensions (once, about two minutes)...",
          flush=True)
    names = {s.name.split("-")[0]: s.name for s in SOURCES}
    environment = {**os.environ, "SOURCES": str(folders.pop()), "WORK": str(work),
                   "PG_CONFIG": str(pg_bin() / "pg_config"), "DOCUMENTDB": names["documentdb"],
                   "PGVECTOR": names["pgvector"], "PG_CRON": names["pg_cron"]}
    log = cache / "engine-build.log"
    cache.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as output:
        done = subprocess.run(["bash", str(BUILD_SCRIPT)], env=environment, stdout=output, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3_000:]
        raise EngineError(f"building the database engine's extensions failed; the end of {log}:\n{tail}")
    _stamp().write_text(json.dumps({"key": build_key(), "sources": [s.name for s in SOURCES]}))
    shutil.rmtree(work, ignore_errors=True)


def install_ferretdb(cache: Path) -> Path:
    """The FerretDB gateway, `go install`ed from the module proxy into the cache; returns the binary."""
    binary = cache / f"ferretdb-{FERRETDB_VERSION}"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if not go:
        raise EngineError("`go` was not found on PATH: install Go 1.22 or newer (Debian's golang-go), "
                          "which builds FerretDB (once)")
    print(f"devstack: building FerretDB {FERRETDB_VERSION} with Go (once, about a minute)...", flush=True)
    staging = cache / "ferretdb-build"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    environment = {**os.environ, "GOBIN": str(staging), "GOTOOLCHAIN": FERRETDB_GO_TOOLCHAIN}
    done = subprocess.run([go, "install", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"], env=environment,
                          capture_output=True, text=True, cwd=staging)
    if done.returncode != 0:
        raise EngineError(f"Go could not build FerretDB {FERRETDB_VERSION}:\n{done.stderr[-3_000:]}")
    (staging / "ferretdb").rename(binary)
    shutil.rmtree(staging, ignore_errors=True)
    return binary


def install(cache: Path) -> Path:
    """Everything the engine needs on this machine; returns the FerretDB binary."""
    install_extensions(cache)
    return install_ferretdb(cache)
