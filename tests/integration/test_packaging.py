"""The container path, checked as far as this machine allows (no Docker engine here): the
compose file passes the Compose specification's own loader, and runs every service."""

import os
import subprocess

from devstack.__main__ import available_services
from devstack.stack import ROOT, StackConfig, install_actionlint, install_composecheck


SECRETS = {"RATING_JWT_SECRET": "a-secret-from-the-environment", "MESSAGING_UNSUBSCRIBE_SECRET": "another-one",
           "WEBHOOKS_SECRET_KEY": "a-third-one"}


def check(path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in SECRETS} | env
    return subprocess.run([str(install_composecheck(StackConfig())), str(path)], capture_output=True, text=True,
                          env=environment)


def test_compose_file_is_valid_and_runs_every_service():
    result = check(ROOT / "docker-compose.yml", **SECRETS)
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split(":", 1)[1].split())
    assert {"kafka", "mongodb", "mailpit"} <= services
    assert set(available_services()) <= services


def test_the_validator_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  intake:\n    image: x\n    portz: [1]\n")
    result = check(broken)
    assert result.returncode != 0 and "portz" in result.stderr


def test_compose_refuses_to_start_without_its_secrets():
    for missing in SECRETS:
        result = check(ROOT / "docker-compose.yml", **{k: v for k, v in SECRETS.items() if k != missing})
        assert result.returncode != 0 and missing in result.stderr


def test_the_ci_workflow_for_docker_hosts_passes_actionlint(tmp_path):
    """The workflow that runs the suite on MongoDB 7 and Kafka containers (GitHub Actions)."""
    actionlint = str(install_actionlint(StackConfig()))
    workflow = ROOT / ".github" / "workflows" / "ci.yml"
    result = subprocess.run([actionlint, "-no-color", str(workflow)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text()
    assert "image: mongo:7" in text and "MONGODB_URI" in text and "KAFKA_BOOTSTRAP_SERVERS" in text
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("runs-on: ubuntu-24.04", "runs-on: [ubuntu-24.04\n"))
    assert subprocess.run([actionlint, "-no-color", str(broken)], capture_output=True, text=True).returncode != 0


def test_alert_rules_are_valid_and_their_unit_tests_pass(tmp_path):
    """`promtool check rules` and `promtool test rules` (each alert on synthetic series); a rule
    with a broken threshold fails its test."""
    from devstack.stack import apt_tool

    promtool = apt_tool("promtool", "prometheus", "to check the alert rules")
    rules = ROOT / "deploy" / "prometheus"
    checked = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=rules, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    (tmp_path / "alerts.yml").write_text((rules / "alerts.yml").read_text().replace("> 0.05", "> 0.5"))
    (tmp_path / "alerts_test.yml").write_text((rules / "alerts_test.yml").read_text())
    broken = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert broken.returncode != 0 and "ProspectflowMailsFailingPermanently" in broken.stdout + broken.stderr


def test_compose_health_checks_every_service_on_ready_and_prometheus_scrapes_each(tmp_path):
    import json

    from devstack.__main__ import HTTP_PORTS
    from devstack.stack import apt_tool

    resolved = subprocess.run([str(install_composecheck(StackConfig())), str(ROOT / "docker-compose.yml"), "--json"],
                              capture_output=True, text=True, env={**os.environ, **SECRETS})
    assert resolved.returncode == 0, resolved.stderr
    services = json.loads(resolved.stdout)["services"]
    for name in available_services():
        assert f"http://127.0.0.1:{HTTP_PORTS[name]}/ready" in " ".join(services[name]["healthcheck"]["test"]), name
        host = services[name]["environment"].get(f"{name.upper()}_HTTP_HOST")
        assert host == "0.0.0.0", f"{name} must listen beyond the container's loopback for Prometheus"

    # Prometheus's compose configuration: valid, our rules, one job per service on its port.
    promtool = apt_tool("promtool", "prometheus", "to check the Prometheus configuration")
    config = (ROOT / "deploy" / "prometheus" / "compose.yml").read_text()
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/alerts.yml", str(ROOT / "deploy" / "prometheus" / "alerts.yml")))
    checked = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in available_services():
        assert f"job_name: prospectflow-{name}\n    dns_sd_configs: [{{names: [{name}], type: A, port: {HTTP_PORTS[name]}}}]" in config
    assert {"prometheus", "grafana"} <= set(services)


def test_kubernetes_manifests_decode_strictly_and_say_what_operators_need(tmp_path):
    """deploy/kubernetes built with Kustomize and decoded into the Kubernetes and KEDA API types
    (unknown fields fail): a Deployment per service with /health and /ready probes on its port,
    scrape annotations, memory limits; a KEDA ScaledObject per consumer group, capped at the
    partition count."""
    import json
    import shutil

    from devstack.__main__ import HTTP_PORTS
    from devstack.stack import install_kubecheck

    kubecheck = str(install_kubecheck(StackConfig()))
    built = subprocess.run([kubecheck, str(ROOT / "deploy" / "kubernetes")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    objects = json.loads(built.stdout)
    by_kind: dict[str, dict[str, dict]] = {}
    for item in objects:
        by_kind.setdefault(item["kind"], {})[item["metadata"]["name"]] = item
    partitions = int(by_kind["ConfigMap"]["prospectflow-config"]["data"]["KAFKA_PARTITIONS"])
    for name in available_services():
        pod = by_kind["Deployment"][name]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        port = HTTP_PORTS[name]
        assert container["args"] == [f"services.{name}"] and container["image"] == "prospectflow:0.1.0"
        assert container["ports"][0]["containerPort"] == port
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        assert container["resources"]["limits"]["memory"]
        if name != "dashboard":
            scaled = by_kind["ScaledObject"][name]["spec"]
            assert scaled["scaleTargetRef"]["name"] == name and scaled["maxReplicaCount"] == partitions
            assert scaled["triggers"][0]["metadata"]["consumerGroup"] == f"prospectflow-{name}"

    broken = tmp_path / "kubernetes"
    shutil.copytree(ROOT / "deploy" / "kubernetes", broken)
    (broken / "rating.yaml").write_text((broken / "rating.yaml").read_text().replace("readinessProbe:", "readynessProbe:"))
    refused = subprocess.run([kubecheck, str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0 and "readynessProbe" in refused.stderr
