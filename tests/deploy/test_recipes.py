"""The deployment recipe (Dockerfile, deploy/compose.yaml, deploy/kubernetes.yaml): the files parse,
the configuration they serve is valid, and the settings that must agree do (grace periods longer
than the gateway's shutdown timeout, probes on /healthz, secrets only by reference)."""

from __future__ import annotations

import re

import yaml

from relaygate.config import load_config, parse_config
from tests.e2e.conftest import ROOT

DEPLOY = ROOT / "deploy"
ENV = {"POSTGRES_PASSWORD": "pw", "RELAYGATE_ADMIN_KEY": "admin-key-1234", "POSTGRES_HOST": "db",
       "REDIS_HOST": "cache"}


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)s", text)
    assert match, text
    return float(match.group(1))


def test_compose_runs_two_gateways_behind_nginx_with_postgres_and_redis():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"gateway-1", "gateway-2", "nginx", "postgres", "redis"}
    config, _ = load_config(DEPLOY / compose["configs"]["relaygate"]["file"], ENV)
    assert config.database.startswith("postgresql://") and config.redis.startswith("redis://")
    gateways = [services["gateway-1"], services["gateway-2"]]
    assert gateways[0]["volumes"] != gateways[1]["volumes"]  # a usage journal per instance
    for gateway in gateways:
        assert seconds(gateway["stop_grace_period"]) > config.server.shutdown_timeout
        assert gateway["configs"][0]["target"] == "/etc/relaygate/relaygate.yaml"
    nginx_conf = services["nginx"]["volumes"][0].split(":")[0]
    assert (DEPLOY / nginx_conf).is_file()
    upstreams = re.findall(r"server (gateway-\d):8080", (DEPLOY / nginx_conf).read_text())
    assert upstreams == ["gateway-1", "gateway-2"]


def test_kubernetes_deployment_service_and_configmap_agree():
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())}
    assert set(docs) == {"ConfigMap", "Deployment", "Service"}  # secrets are referenced, never included
    config, _ = parse_config(yaml.safe_load(docs["ConfigMap"]["data"]["relaygate.yaml"]), ENV)
    deployment = docs["Deployment"]["spec"]
    pod = deployment["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["replicas"] == 2
    assert deployment["selector"]["matchLabels"] == deployment["template"]["metadata"]["labels"]
    assert docs["Service"]["spec"]["selector"] == deployment["template"]["metadata"]["labels"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + config.server.shutdown_timeout
    assert container["envFrom"] == [{"secretRef": {"name": "relaygate-secrets"}}]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/etc/relaygate"] == "config" and config.usage_journal.startswith("/var/lib/relaygate/")
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_dockerfile_installs_the_lock_and_runs_unprivileged():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert "RUN pip install -r requirements.lock" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["relaygate"]' in lines
    assert any(line.startswith('CMD ["serve"') for line in lines)
