"""Install, start, check and stop the local stack.

Downloads and builds are cached in DEVSTACK_CACHE (default ~/.cache/prospectflow); data, logs
and the pids of what `up` started live in DEVSTACK_DIR (default .devstack/ in the project).
A part whose address is given by the environment (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI,
SMTP_HOST) is not started: the stack uses it as it is.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import engine

ROOT = Path(__file__).resolve().parent.parent
KAFKA_VERSION = "4.1.1"


class StackError(Exception):
    """Something a person has to act on; the message says what."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise StackError(f"{name}={value!r} is not a number") from None


@dataclass
class StackConfig:
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("DEVSTACK_DIR", ROOT / ".devstack")))
    cache_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("DEVSTACK_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "prospectflow")
    ))
    kafka_port: int = field(default_factory=lambda: _env_int("DEVSTACK_KAFKA_PORT", 9092))
    controller_port: int = field(default_factory=lambda: _env_int("DEVSTACK_KAFKA_CONTROLLER_PORT", 9093))
    mongo_port: int = field(default_factory=lambda: _env_int("DEVSTACK_MONGO_PORT", 27017))
    pg_port: int = field(default_factory=lambda: _env_int("DEVSTACK_PG_PORT", 54320))
    smtp_port: int = field(default_factory=lambda: _env_int("DEVSTACK_SMTP_PORT", 1025))
    smtp_delay_ms: int = 0  # the sink answers each mail after this long (the chaos campaign's slow SMTP)
    partitions: int = field(default_factory=lambda: _env_int("KAFKA_PARTITIONS", 6))
    kafka_heap_mb: int = field(default_factory=lambda: _env_int("DEVSTACK_KAFKA_HEAP_MB", 512))
    # KAFKA_BROKERS=3: three KRaft nodes (each broker and controller), topics replicated 3 times
    # with min.insync.replicas=2; node n listens on kafka_port + 2(n-1), its controller on
    # controller_port + 2(n-1).
    kafka_brokers: int = field(default_factory=lambda: _env_int("KAFKA_BROKERS", 1))
    external_kafka: str | None = field(default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    external_mongo: str | None = field(default_factory=lambda: os.environ.get("MONGODB_URI") or None)
    external_smtp: str | None = field(default_factory=lambda: os.environ.get("SMTP_HOST") or None)

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def maildir(self) -> Path:
        return self.state_dir / "smtp" / "maildir"

    def backend_line(self) -> str | None:
        """What answers MongoDB's protocol, said once at `up`."""
        if self.external_mongo:
            return None
        return (f"FerretDB {engine.FERRETDB_VERSION} over PostgreSQL {engine.PG_MAJOR} with DocumentDB "
                f"(port {self.pg_port}, data in {pg_home(self)})")

    def broker_port(self, node: int) -> int:
        return self.kafka_port + 2 * (node - 1)

    def broker_controller_port(self, node: int) -> int:
        return self.controller_port + 2 * (node - 1)

    def addresses(self) -> dict[str, str]:
        """The environment a service needs to reach this stack."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.external_kafka or ",".join(
                f"127.0.0.1:{self.broker_port(n)}" for n in range(1, self.kafka_brokers + 1)),
            "KAFKA_REPLICATION_FACTOR": "" if self.external_kafka or self.kafka_brokers < 3 else "3",
            "MONGODB_URI": self.external_mongo or f"mongodb://127.0.0.1:{self.mongo_port}/",
            "SMTP_HOST": self.external_smtp or "127.0.0.1",
            "SMTP_PORT": os.environ.get("SMTP_PORT", "") if self.external_smtp else str(self.smtp_port),
        }
        return {k: v for k, v in env.items() if v}


# --- processes ---------------------------------------------------------------------------------


def _state_file(config: StackConfig) -> Path:
    return config.state_dir / "state.json"


def load_state(config: StackConfig) -> dict[str, dict]:
    try:
        return json.loads(_state_file(config).read_text())
    except FileNotFoundError:
        return {}


def _save_state(config: StackConfig, state: dict[str, dict]) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    _state_file(config).write_text(json.dumps(state, indent=2))


def _alive(pid: int, marker: str) -> bool:
    """True when `pid` runs and its command line holds `marker` (a recycled pid does not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return marker in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status if this process started `pid`, so no zombie is left behind."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # started by another command: its own parent reaps it


def _spawn(cmd: list[str], log_path: Path, cwd: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, start_new_session=True,  # Ctrl-C in the terminal does not reach it
            **kwargs,
        )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(check, *, what: str, timeout_s: float, running, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not running():
            tail = log_path.read_text(errors="replace")[-2_000:] if log_path.exists() else ""
            raise StackError(f"{what} exited during start-up; the end of {log_path}:\n{tail}")
        if check():
            return
        time.sleep(0.2)
    raise StackError(f"{what} did not become ready within {timeout_s:.0f} s; see {log_path}")


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"`{tool}` was not found on PATH. {hint}")
    return path


# --- readiness checks --------------------------------------------------------------------------


def kafka_ready(bootstrap: str, brokers: int = 1) -> bool:
    """Kafka answers metadata, with `brokers` brokers in the cluster."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while it starts

    async def check() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3_000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            await asyncio.wait_for(admin.list_topics(), 5)
            if brokers > 1:
                cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
                return len(cluster["brokers"]) >= brokers
            return True
        except Exception:
            return False
        finally:
            try:
                await admin.close()
            except Exception:
                pass

    return asyncio.run(check())


def mongo_ready(uri: str) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client = MongoClient(uri, serverSelectionTimeoutMS=1_000, connectTimeoutMS=1_000)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def smtp_ready(host: str, port: int) -> bool:
    try:
        with smtplib.SMTP(host, port, timeout=2) as smtp:
            return smtp.ehlo()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


# --- the parts ---------------------------------------------------------------------------------


def install_kafka(config: StackConfig) -> Path:
    """The broker's jars from Maven Central, cached; returns the folder of jars."""
    libs = config.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
    stamp = libs / ".complete"
    if stamp.exists():
        return libs
    _require("java", "Install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless).")
    mvn = _require("mvn", "Install Apache Maven (Debian: apt-get install maven).")
    print(f"devstack: fetching Apache Kafka {KAFKA_VERSION} from Maven Central (once)...", flush=True)
    shutil.rmtree(libs, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(ROOT / "devstack" / "kafka" / "pom.xml"),
         "dependency:copy-dependencies", "-DincludeScope=runtime",
         f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={libs}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise StackError(f"Maven could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    stamp.touch()
    return libs


def _go_build(config: StackConfig, folder: str, binary: Path, what: str) -> Path:
    """Build the Go main module in devstack/<folder> once; the binary is cached."""
    if binary.exists():
        return binary
    go = _require("go", "Install Go 1.22 or newer (https://go.dev/doc/install or Debian's golang-go).")
    print(f"devstack: building {what} with Go (once)...", flush=True)
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    result = subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), "."],
        cwd=ROOT / "devstack" / folder, capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise StackError(f"Go could not build {what}:\n{result.stderr[-3000:]}")
    partial.rename(binary)
    return binary


def _go_tool(config: StackConfig, folder: str, what: str) -> Path:
    """One of our small Go checkers in devstack/<folder>, cached per version of its source."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "devstack" / folder).glob("*")):
        if path.suffix in (".go", ".sum", ".mod"):
            digest.update(path.read_bytes())
    return _go_build(config, folder, config.cache_dir / f"{folder}-{digest.hexdigest()[:10]}", what)


def install_composecheck(config: StackConfig) -> Path:
    """A docker-compose validator (compose-go), for where no Docker engine runs."""
    return _go_tool(config, "composecheck", "the compose validator")


def install_actionlint(config: StackConfig) -> Path:
    """actionlint, to check the GitHub Actions workflow where no GitHub runs it."""
    return _go_tool(config, "actionlint", "actionlint")


def install_kubecheck(config: StackConfig) -> Path:
    """A strict decoder of our Kubernetes manifests into the API types, where no cluster runs."""
    return _go_tool(config, "kubecheck", "the Kubernetes manifest checker")


def _kafka_properties(config: StackConfig, data_dir: Path, node: int = 1) -> str:
    many = config.kafka_brokers > 1
    port, controller = config.broker_port(node), config.broker_controller_port(node)
    replicas = min(3, config.kafka_brokers)
    quorum = (f"controller.quorum.voters={','.join(f'{n}@127.0.0.1:{config.broker_controller_port(n)}' for n in range(1, config.kafka_brokers + 1))}"
              if many else f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}")
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={node}",
        quorum,
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={config.partitions}",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={2 if replicas >= 3 else 1}",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=6",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={2 if replicas >= 3 else 1}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={2 if replicas >= 3 else 1}",
        "group.initial.rebalance.delay.ms=0",
        # Topics are created deliberately, with the contract's partition count.
        "auto.create.topics.enable=false",
        "",
    ])


def _kafka_cluster_id(config: StackConfig) -> str:
    """One id for every node of this stack's cluster, made once."""
    path = config.state_dir / "kafka-cluster-id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
    return path.read_text().strip()


def _kafka_home(config: StackConfig, node: int) -> Path:
    return config.state_dir / ("kafka" if node == 1 else f"kafka{node}")


def start_kafka(config: StackConfig, node: int = 1) -> subprocess.Popen[bytes]:
    libs = install_kafka(config)
    home = _kafka_home(config, node)
    data = home / "data"
    props = home / "server.properties"
    home.mkdir(parents=True, exist_ok=True)
    props.write_text(_kafka_properties(config, data, node))
    classpath = f"{libs}/*"
    java = _require("java", "Install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless).")
    if not (data / "meta.properties").exists():
        result = subprocess.run(
            # `=`: a random id may begin with "-", which would read as an option
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", f"--cluster-id={_kafka_cluster_id(config)}",
             f"--config={props}", *([] if config.kafka_brokers > 1 else ["--standalone"])],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka's storage failed:\n{result.stdout}{result.stderr}")
    return _spawn(
        [java, f"-Xms{config.kafka_heap_mb}m", f"-Xmx{config.kafka_heap_mb}m", "-XX:+UseG1GC",
         "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={ROOT / 'devstack' / 'kafka' / 'log4j2.properties'}",
         "-cp", classpath, "kafka.Kafka", str(props)],
        config.logs / ("kafka.log" if node == 1 else f"kafka{node}.log"),
    )


# --- the database: PostgreSQL 15 with DocumentDB, and the FerretDB 2 gateway ---------------------


def _pg_account() -> tuple[int, int] | None:
    """initdb and postgres refuse to run as root: as root, they run as the `postgres` account
    (Debian's package makes it), else as a system account we add. None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "prospectflow-pg"):
        try:
            account = pwd.getpwnam(name)
            return account.pw_uid, account.pw_gid
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "prospectflow-pg"],
                   check=True, capture_output=True)
    account = pwd.getpwnam("prospectflow-pg")
    return account.pw_uid, account.pw_gid


PG_HOMES = Path("/var/lib/prospectflow")
"""As root, PostgreSQL runs as another account, which may not be able to enter the checkout (a
folder only its owner can enter, as `mktemp -d` makes them and as root's home is): its cluster
then lives here, one folder per stack (named by a digest of DEVSTACK_DIR), as Debian keeps its
own clusters in /var/lib/postgresql."""


def pg_home(config: StackConfig) -> Path:
    """The folder of this stack's PostgreSQL cluster (its data and its socket)."""
    if _pg_account() is None:
        return config.state_dir / "postgres"
    digest = hashlib.sha256(str(config.state_dir.resolve()).encode()).hexdigest()[:16]
    return PG_HOMES / f"postgres-{digest}"


def _pg_paths(config: StackConfig) -> tuple[Path, Path]:
    home = pg_home(config)
    return home / "data", home / "run"


def start_postgres(config: StackConfig) -> subprocess.Popen[bytes]:
    install_engine(config)  # the extensions must be there before the server preloads them
    folder = engine.pg_bin()
    data, sockets = _pg_paths(config)
    account = _pg_account()
    if account:
        PG_HOMES.mkdir(parents=True, exist_ok=True)
        PG_HOMES.chmod(0o755)
    for path in (data.parent, data, sockets):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        if account:
            os.chown(path, *account)
    config.logs.mkdir(parents=True, exist_ok=True)
    if not (data / "PG_VERSION").exists():
        result = subprocess.run([str(folder / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                 "--no-locale"], capture_output=True, text=True, cwd="/", **_as(account))
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")
    settings = [arg for key, value in engine.PG_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
    return _spawn([str(folder / "postgres"), "-D", str(data), "-p", str(config.pg_port), "-k", str(sockets), *settings],
                  config.logs / "postgres.log", cwd=Path("/"), **_as(account))


def _as(account: tuple[int, int] | None) -> dict[str, Any]:
    return {"user": account[0], "group": account[1], "extra_groups": []} if account else {}


def postgres_ready(config: StackConfig) -> bool:
    done = subprocess.run([str(engine.pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(config.pg_port),
                           "-U", "postgres", "-d", "postgres", "-q"], capture_output=True)
    return done.returncode == 0


def psql(config: StackConfig, sql: str) -> str:
    """Run SQL in the stack's PostgreSQL (database `postgres`, where DocumentDB lives); its output."""
    client = engine.pg_bin() / "psql"
    done = subprocess.run([str(client if client.exists() else "psql"), "-h", "127.0.0.1", "-p", str(config.pg_port),
                           "-U", "postgres", "-d", "postgres", "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"PostgreSQL refused {sql[:60]!r}: {done.stderr.strip()}")
    return done.stdout


def ferretdb_postgresql_url(config: StackConfig) -> str:
    return f"postgres://postgres@127.0.0.1:{config.pg_port}/postgres"


def install_engine(config: StackConfig) -> Path:
    """The engine's extensions and the FerretDB binary, installed once; returns the binary."""
    try:
        return engine.install(config.cache_dir)
    except engine.EngineError as exc:
        raise StackError(str(exc)) from None


def ferretdb_command(config: StackConfig, listen_port: int, state_dir: Path) -> list[str]:
    """The FerretDB 2 gateway on 127.0.0.1:`listen_port` in front of the stack's PostgreSQL.
    No authentication: it listens on loopback only, for this machine's services and tests."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return [str(install_engine(config)), f"--postgresql-url={ferretdb_postgresql_url(config)}",
            f"--listen-addr=127.0.0.1:{listen_port}", "--no-auth", "--debug-addr=-", "--telemetry=disable",
            f"--state-dir={state_dir}", "--log-level=warn"]


def start_ferretdb(config: StackConfig) -> subprocess.Popen[bytes]:
    psql(config, "CREATE EXTENSION IF NOT EXISTS documentdb CASCADE")
    return _spawn(ferretdb_command(config, config.mongo_port, config.state_dir / "ferretdb"),
                  config.logs / "ferretdb.log")


def start_smtp(config: StackConfig) -> subprocess.Popen[bytes]:
    return _spawn(
        [sys.executable, "-m", "devstack.smtp_sink", "--port", str(config.smtp_port), "--maildir", str(config.maildir),
         "--delay-ms", str(config.smtp_delay_ms)],
        config.logs / "smtp.log", cwd=ROOT,
    )


@dataclass(frozen=True)
class Part:
    name: str
    marker: str  # a piece of its command line, to recognise our process
    port: int
    start: object
    ready: object
    timeout_s: float
    stop_signal: int = signal.SIGTERM


def parts(config: StackConfig) -> list[Part]:
    """The parts this configuration starts (those not given by the environment)."""
    found = []
    if not config.external_kafka:
        brokers = config.kafka_brokers
        for node in range(1, brokers + 1):
            # With several nodes, none is ready before a quorum runs: the last one waits for all.
            ready = ((lambda n=node: kafka_ready(f"127.0.0.1:{config.broker_port(n)}", brokers)) if node == brokers
                     else (lambda: True))
            found.append(Part("kafka" if node == 1 else f"kafka{node}",
                              str(_kafka_home(config, node) / "server.properties") if brokers > 1 else "kafka.Kafka",
                              config.broker_port(node), lambda c, n=node: start_kafka(c, n), ready, 90))
    if not config.external_mongo:
        uri = f"mongodb://127.0.0.1:{config.mongo_port}/"
        # SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for FerretDB's pooled sessions).
        found.append(Part("postgres", str(_pg_paths(config)[0]), config.pg_port, start_postgres,
                          lambda: postgres_ready(config), 60, signal.SIGINT))
        found.append(Part("ferretdb", "ferretdb", config.mongo_port, start_ferretdb, lambda: mongo_ready(uri), 30))
    if not config.external_smtp:
        found.append(Part("smtp", "devstack.smtp_sink", config.smtp_port, start_smtp,
                          lambda: smtp_ready("127.0.0.1", config.smtp_port), 30))
    return found


def up(config: StackConfig, *, quiet: bool = False) -> list[str]:
    """Start what is not running; reuse what is. Returns the names of the parts started. A part
    that cannot start stops what this call started before it raises: a failed set-up leaves
    nothing running."""
    say = (lambda *_: None) if quiet else (lambda msg: print(f"devstack: {msg}", flush=True))
    state = load_state(config)
    started: list[str] = []
    try:
        for part in parts(config):
            known = state.get(part.name)
            log_path = config.logs / f"{part.name}.log"
            if known and _alive(known["pid"], part.marker):
                pid = known["pid"]
                _wait(part.ready, what=part.name, timeout_s=part.timeout_s,
                      running=lambda: _alive(pid, part.marker), log_path=log_path)
                say(f"{part.name} already running (pid {known['pid']}, port {part.port})")
                continue
            if not _port_free(part.port):
                raise StackError(
                    f"port {part.port} for {part.name} is taken by another program. Stop it, choose another "
                    f"port (DEVSTACK_*_PORT), or point the stack at it with the environment "
                    f"(KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, SMTP_HOST/SMTP_PORT)."
                )
            begun = time.monotonic()
            process = part.start(config)  # type: ignore[operator]
            state[part.name] = {"pid": process.pid, "port": part.port}
            _save_state(config, state)
            started.append(part.name)
            _wait(part.ready, what=part.name, timeout_s=part.timeout_s,
                  running=lambda: process.poll() is None, log_path=log_path)
            say(f"{part.name} ready on 127.0.0.1:{part.port} (pid {process.pid}, {time.monotonic() - begun:.1f} s)")
        for name, value in (("Kafka", config.external_kafka), ("MongoDB", config.external_mongo),
                            ("SMTP", config.external_smtp)):
            if value:
                say(f"{name}: using {value} from the environment")
        if started and config.backend_line():
            say(config.backend_line())
        create_topics(config)
    except BaseException:
        if started:
            down(config, started)
        raise
    return started


def remove(config: StackConfig) -> None:
    """Stop the stack and delete its data and logs (DEVSTACK_DIR, and its PostgreSQL cluster
    where that lives outside it)."""
    down(config)
    shutil.rmtree(pg_home(config), ignore_errors=True)
    shutil.rmtree(config.state_dir, ignore_errors=True)


def kill_part(config: StackConfig, name: str, sig: int = signal.SIGKILL) -> None:
    """Signal one running part (SIGKILL: a crash), as recorded by `up`."""
    known = load_state(config).get(name)
    if known and _alive(known["pid"], next(p.marker for p in parts(config) if p.name == name)):
        os.kill(known["pid"], sig)
        if sig == signal.SIGKILL:
            _reap(known["pid"])


def restart_part(config: StackConfig, name: str) -> None:
    """Start one part again (on its port and data) and record its new pid."""
    part = next(p for p in parts(config) if p.name == name)
    deadline = time.monotonic() + 30
    while not _port_free(part.port) and time.monotonic() < deadline:  # the killed one's socket
        time.sleep(0.2)
    process = part.start(config)  # type: ignore[operator]
    state = load_state(config)
    state[name] = {"pid": process.pid, "port": part.port}
    _save_state(config, state)
    _wait(part.ready, what=name, timeout_s=part.timeout_s, running=lambda: process.poll() is None,
          log_path=config.logs / f"{name}.log")
    if name.startswith("kafka") and config.kafka_brokers > 1:  # back in the cluster, not just started
        bootstrap = config.addresses()["KAFKA_BOOTSTRAP_SERVERS"]
        _wait(lambda: kafka_ready(bootstrap, config.kafka_brokers), what=name, timeout_s=part.timeout_s,
              running=lambda: process.poll() is None, log_path=config.logs / f"{name}.log")


def create_topics(config: StackConfig) -> None:
    from shared import topics
    from shared.kafka import ensure_topics
    from shared.settings import KafkaSettings

    settings = KafkaSettings(bootstrap_servers=config.addresses()["KAFKA_BOOTSTRAP_SERVERS"],
                             partitions=config.partitions, replication_factor=min(3, config.kafka_brokers))
    asyncio.run(ensure_topics(settings, topics.ALL))


def down(config: StackConfig, names: list[str] | None = None) -> list[str]:
    """Stop what `up` started (all of it, or the parts named), and nothing else."""
    state = load_state(config)
    every = {p.name: p for p in parts(StackConfig(state_dir=config.state_dir, external_kafka=None, external_mongo=None,
                                                  external_smtp=None))}
    markers = {name: part.marker for name, part in every.items()}
    stopped = []
    for name in reversed(list(state)):  # the database's clients before the database
        if names and name not in names:
            continue
        pid = state[name]["pid"]
        if _alive(pid, markers.get(name, "")):
            os.kill(pid, every[name].stop_signal if name in every else signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(pid, markers.get(name, "")) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid, markers.get(name, "")):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
            stopped.append(name)
        del state[name]
    _save_state(config, state)
    return stopped


def status(config: StackConfig) -> list[tuple[str, str]]:
    state = load_state(config)
    rows = []
    for part in parts(config):
        known = state.get(part.name)
        if known and _alive(known["pid"], part.marker):
            health = "ready" if part.ready() else "starting or unhealthy"
            rows.append((part.name, f"running, {health} (pid {known['pid']}, 127.0.0.1:{part.port})"))
        else:
            rows.append((part.name, "stopped"))
    for name, value in (("kafka", config.external_kafka), ("mongodb", config.external_mongo), ("smtp", config.external_smtp)):
        if value:
            rows.append((name, f"external: {value}"))
    return rows


# --- the browser the dashboard's tests drive -------------------------------------------------


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
"""Headless Chromium on a machine without a display or outside network: no sandbox as root, and
nothing that phones home (refused connections, many at a time, otherwise)."""


def apt_tool(binary: str, package: str, why: str) -> str:
    """A tool from a Debian package: on PATH, else installed with apt-get when we are root."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(f"{binary} is needed {why}: install Debian's `{package}` package")
    print(f"devstack: installing {package} (apt-get install {package}) {why}", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], env=environment,
                          capture_output=True, text=True)
    if done.returncode != 0:  # an old package index: refresh it once
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=environment, capture_output=True)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                              env=environment, capture_output=True, text=True)
    found = shutil.which(binary)
    if done.returncode != 0 or not found:
        raise StackError(f"apt-get could not install {package}: {done.stderr.strip()[-500:]}")
    return found


PROMETHEUS_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def prometheus_config(targets: dict[str, str], *, interval_s: float = 5) -> str:
    """Prometheus's configuration: every service (job `prospectflow-<service>`) at its
    `host:port`, and the alert rules of deploy/prometheus."""
    jobs = [{"job_name": f"prospectflow-{name}", "static_configs": [{"targets": [target]}]}
            for name, target in targets.items()]
    every = f"{round(interval_s * 1000)}ms"  # Prometheus durations are whole units
    return json.dumps({"global": {"scrape_interval": every, "evaluation_interval": every},
                        "rule_files": [str(PROMETHEUS_RULES)], "scrape_configs": jobs}, indent=2)


def start_prometheus(home: Path, port: int, targets: dict[str, str], *, interval_s: float = 5) -> subprocess.Popen[bytes]:
    """Prometheus (Debian's package) scraping `targets`, listening on 127.0.0.1:`port`, its data
    and log under `home`."""
    binary = apt_tool("prometheus", "prometheus", "to see the services' metrics")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(prometheus_config(targets, interval_s=interval_s))
    return _spawn([binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
                   "--storage.tsdb.retention.time=2d", f"--web.listen-address=127.0.0.1:{port}"],
                  home / "prometheus.log")


def prometheus_ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def chromium() -> str:
    """Debian's Chromium (Playwright's own browser download cannot work without its CDN):
    PROSPECTFLOW_CHROMIUM, else `chromium` on PATH, else installed with apt-get when we are root."""
    explicit = os.environ.get("PROSPECTFLOW_CHROMIUM")
    if explicit:
        return explicit
    found = shutil.which("chromium-browser")
    if found:
        return found
    try:
        return apt_tool("chromium", "chromium", "for the dashboard's browser tests")
    except StackError as exc:
        raise StackError(f"{exc} (or set PROSPECTFLOW_CHROMIUM to a Chromium binary)") from None
