"""`python -m devstack up | down | status | logs | env | run`: the local stack.

up      install what is missing (cached), start Kafka, PostgreSQL with DocumentDB, FerretDB and the
        SMTP sink, create topics
down    stop exactly what `up` started
clean   down, then delete the stack's data and logs (DEVSTACK_DIR and its PostgreSQL cluster)
status  what runs where
logs    the end of each part's log (or one part's: logs kafka)
env     the environment variables that point a service at the stack (eval "$(... env)")
run     up, then every service as its own process with one readable log; Ctrl-C stops them all
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from devstack.stack import (
    ROOT, StackConfig, StackError, down, prometheus_ready, remove, start_prometheus, status, up,
)

SERVICES = ("intake", "rating", "messaging", "reminder", "webhooks", "sequences", "insights", "dashboard")
HTTP_PORTS = {"intake": 8081, "rating": 8080, "messaging": 8082, "reminder": 8083, "webhooks": 8084, "sequences": 8085,
              "insights": 8086, "dashboard": 8000}
DEMO_RECRUITER = "dana"


def available_services() -> list[str]:
    return [s for s in SERVICES if (ROOT / "services" / s / "__main__.py").exists()]


def jwt_secret(config: StackConfig, name: str = "jwt-secret") -> str:
    """A secret of the local stack (the recruiters' token secret, the unsubscribe links' key):
    made once, kept in DEVSTACK_DIR (never in the code), so tools can mint tokens for the
    running services."""
    import secrets

    path = config.state_dir / name
    if not path.exists():
        config.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def board_secrets(config: StackConfig) -> str:
    """One signing secret per job board for the gateway (INTAKE_BOARD_SECRETS), made once and
    kept in DEVSTACK_DIR/board-secrets.json, where `prospectflow board-post` finds them."""
    import base64
    import secrets

    path = config.state_dir / "board-secrets.json"
    if not path.exists():
        config.state_dir.mkdir(parents=True, exist_ok=True)
        made = {board: [secrets.token_urlsafe(32)] for board in ("indeed", "linkedin", "ziprecruiter")}
        made["cloudevents"] = ["whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()]
        path.write_text(json.dumps(made, indent=2) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _readable(service: str, line: str) -> str:
    """A service's JSON log line as one short human line."""
    try:
        entry = json.loads(line)
    except ValueError:
        return f"{service:<9} | {line}"
    when = str(entry.pop("time", ""))[11:23]
    level = entry.pop("level", "")
    msg = entry.pop("msg", "")
    error = entry.pop("error", None)
    for noise in ("service", "logger", "message_id", "group_id"):
        entry.pop(noise, None)
    extra = " ".join(f"{k}={v}" for k, v in entry.items() if v not in ("", None))
    text = f"{when} {service:<9} {level:<7} {msg}" + (f"  {extra}" if extra else "")
    if error:
        text += "\n" + error
    return text


def run_services(config: StackConfig) -> int:
    started = up(config)
    env = {**os.environ, **config.addresses(), "PYTHONUNBUFFERED": "1"}
    env.setdefault("RATING_JWT_SECRET", jwt_secret(config))
    for variable in ("MESSAGING_JWT_SECRET", "DASHBOARD_JWT_SECRET"):
        env.setdefault(variable, env["RATING_JWT_SECRET"])
    env.setdefault("MESSAGING_UNSUBSCRIBE_SECRET", jwt_secret(config, "unsubscribe-secret"))
    # Replies and bounces come back to the inbound listener (127.0.0.1:2526) at these addresses;
    # `prospectflow inbound reply` plays a prospect answering.
    env.setdefault("MESSAGING_INBOUND_DOMAIN", "inbound.prospectflow.localhost")
    env.setdefault("MESSAGING_INBOUND_WEBHOOK_SECRET", jwt_secret(config, "inbound-webhook-secret"))
    # The job-board gateway on intake (127.0.0.1:8081): one secret per board; résumé downloads
    # take the recruiters' tokens.
    env.setdefault("INTAKE_BOARD_SECRETS", board_secrets(config))
    env.setdefault("INTAKE_JWT_SECRET", env["RATING_JWT_SECRET"])
    # Webhooks (127.0.0.1:8084): recruiters' tokens as rating's; local receivers allowed so it can be tried.
    env.setdefault("WEBHOOKS_JWT_SECRET", env["RATING_JWT_SECRET"])
    env.setdefault("WEBHOOKS_SECRET_KEY", jwt_secret(config, "webhooks-secret-key"))
    env.setdefault("WEBHOOKS_ALLOW_HTTP", "true")
    env.setdefault("WEBHOOKS_ALLOW_LOOPBACK", "true")
    # Sequences (127.0.0.1:8085): recruiters' tokens as rating's.
    env.setdefault("SEQUENCES_JWT_SECRET", env["RATING_JWT_SECRET"])
    # Insights (127.0.0.1:8086): recruiters' tokens as rating's; operators' with scope `insights`.
    env.setdefault("INSIGHTS_JWT_SECRET", env["RATING_JWT_SECRET"])
    # Reminder (127.0.0.1:8083): its privacy export takes an operator's token signed as rating's.
    env.setdefault("REMINDER_JWT_SECRET", env["RATING_JWT_SECRET"])
    processes: dict[str, subprocess.Popen[str]] = {}
    lock = threading.Lock()

    def pump(name: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with lock:
                print(_readable(name, line.rstrip("\n")), flush=True)

    for name in available_services():
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        processes[name] = process
        threading.Thread(target=pump, args=(name, process), daemon=True).start()
    prometheus = run_prometheus(config, env, list(processes))
    if prometheus is not None:
        processes["prometheus"] = prometheus
    print(f"devstack: running {', '.join(processes)}; Ctrl-C stops everything this command started", flush=True)
    if "dashboard" in processes:
        threading.Thread(target=welcome, args=(env,), daemon=True).start()
    else:
        print("devstack: in another terminal, try `.venv/bin/prospectflow demo`", flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"devstack: {name} exited with code {process.returncode}; stopping", flush=True)
                exit_code = 1
                stopping = True
        time.sleep(0.2)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    if started:
        print(f"devstack: stopping {', '.join(started)}", flush=True)
        down(config, started)
    return exit_code


def run_prometheus(config: StackConfig, env: dict[str, str], services: list[str]) -> subprocess.Popen[bytes] | None:
    """Prometheus scraping every service (DEVSTACK_PROMETHEUS_PORT, 9090), with our alert rules;
    skipped, with a line saying why and how, where it cannot be found or installed."""
    from devstack.stack import StackError, _port_free

    port = int(os.environ.get("DEVSTACK_PROMETHEUS_PORT", "9090"))
    if not _port_free(port):
        print(f"devstack: Prometheus skipped: port {port} is taken (set DEVSTACK_PROMETHEUS_PORT)", flush=True)
        return None
    targets = {name: f"{env.get(f'{name.upper()}_HTTP_HOST', '127.0.0.1')}:"
                     f"{env.get(f'{name.upper()}_HTTP_PORT', HTTP_PORTS[name])}" for name in services}
    try:
        process = start_prometheus(config.state_dir / "prometheus", port, targets)
    except StackError as exc:
        print(f"devstack: Prometheus skipped: {exc}", flush=True)
        return None
    deadline = time.monotonic() + 30
    while not prometheus_ready(port):
        if process.poll() is not None or time.monotonic() > deadline:
            print(f"devstack: Prometheus did not start; see {config.state_dir / 'prometheus' / 'prometheus.log'}",
                  flush=True)
            return None
        time.sleep(0.2)
    # Debian's package has only the classic pages (its /targets and /alerts answer 404)
    ui = "/classic" if _answers(f"http://127.0.0.1:{port}/classic/targets") else ""
    print(f"devstack: Prometheus on http://127.0.0.1:{port} (targets: http://127.0.0.1:{port}{ui}/targets, "
          f"alerts: http://127.0.0.1:{port}{ui}/alerts)", flush=True)
    return process  # type: ignore[return-value]


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def welcome(env: dict[str, str]) -> None:
    """Once the services answer: publish the sample for the demo recruiter (once per stack; a
    second time changes nothing) and print a sign-in link to the dashboard."""
    dashboard = f"http://{env.get('DASHBOARD_HTTP_HOST', '127.0.0.1')}:{env.get('DASHBOARD_HTTP_PORT', '8000')}"
    rating = f"http://{env.get('RATING_HTTP_HOST', '127.0.0.1')}:{env.get('RATING_HTTP_PORT', '8080')}"
    deadline = time.monotonic() + 120
    while not (_answers(f"{dashboard}/ready") and _answers(f"{rating}/ready")):
        if time.monotonic() > deadline:
            print("devstack: the dashboard is not ready after 2 minutes; see the log above", flush=True)
            return
        time.sleep(0.5)
    tool = [sys.executable, "-m", "prospectflow"]
    tool_env = {**env, "PROSPECTFLOW_DASHBOARD_URL": dashboard}
    subprocess.run([*tool, "sample", "--recruiter", DEMO_RECRUITER], cwd=ROOT, env=tool_env, capture_output=True)
    link = subprocess.run([*tool, "login-link", "--recruiter", DEMO_RECRUITER], cwd=ROOT, env=tool_env,
                          capture_output=True, text=True).stdout.strip()
    print(f"""
devstack: the Recruiter Dashboard is at {dashboard}
  Sign in as the sample recruiter "{DEMO_RECRUITER}" (this link works once, for 5 minutes):
    {link}
  A new link: .venv/bin/prospectflow login-link --recruiter {DEMO_RECRUITER}
  The guided tour on the command line: .venv/bin/prospectflow demo
""", flush=True)


def show_logs(config: StackConfig, name: str | None, lines: int) -> None:
    paths = sorted(config.logs.glob("*.log")) if name is None else [config.logs / f"{name}.log"]
    for path in paths:
        if not path.exists():
            print(f"no log at {path}")
            continue
        print(f"==> {path} <==")
        print("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the stack")
    commands.add_parser("down", help="stop what up started")
    commands.add_parser("clean", help="stop the stack and delete its data")
    commands.add_parser("status", help="what runs where")
    logs = commands.add_parser("logs", help="show the end of the logs")
    logs.add_argument("part", nargs="?", choices=["kafka", "postgres", "ferretdb", "smtp"])
    logs.add_argument("-n", "--lines", type=int, default=40)
    commands.add_parser("env", help="print export lines for the stack's addresses")
    commands.add_parser("run", help="the stack and every service, in the foreground")
    args = parser.parse_args(argv)

    config = StackConfig()
    try:
        if args.command == "up":
            started_at = time.monotonic()
            up(config)
            print(f"devstack: up in {time.monotonic() - started_at:.1f} s; logs in {config.logs}")
            for key, value in config.addresses().items():
                print(f"  {key}={value}")
        elif args.command == "down":
            stopped = down(config)
            print(f"devstack: stopped {', '.join(stopped) or 'nothing (nothing was running)'}")
        elif args.command == "clean":
            remove(config)
            print(f"devstack: stopped and removed {config.state_dir}")
        elif args.command == "status":
            for name, text in status(config):
                print(f"{name:<9} {text}")
        elif args.command == "logs":
            show_logs(config, args.part, args.lines)
        elif args.command == "env":
            for key, value in config.addresses().items():
                print(f"export {key}={value}")
        elif args.command == "run":
            return run_services(config)
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
