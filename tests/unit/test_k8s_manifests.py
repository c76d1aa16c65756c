"""The Kubernetes manifests (deploy/k8s, PLT-05), rendered offline as `kubectl apply -k`
would render them, validated against the Kubernetes API schemas of a pinned version, and
held to the invariants the ops team relies on. No cluster is needed (none is used)."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
# the Kubernetes version the objects must be valid for (kubernetes-validate's schemas)
KUBERNETES_VERSION = "1.32.0"
KUBECTL = shutil.which("kubectl")

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl not installed: `kubectl kustomize` renders the overlays")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_manifests",
                                                  ROOT / "scripts" / "k8s_manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generator = _load_generator()
COMPONENTS = generator.procfile_components()
SERVICES = [c for c in COMPONENTS if not c.is_gateway]


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in render(overlay) if d["kind"] == kind}


def pod_specs(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
            for d in render(overlay) if d["kind"] in {"Deployment", "StatefulSet", "Job"}]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


# --- custom resources ------------------------------------------------------------------
# The operators' CRDs are not vendored: these are hand-written subsets of their schemas,
# for the fields these manifests use, strict where a typo would silently do nothing.

def _strict(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [],
            "additionalProperties": False}


_OBJ = {"type": "object"}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = _strict({"matchLabels": _STRMAP, "matchExpressions": {"type": "array"}})
CUSTOM_RESOURCES: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _strict({
        "scaleTargetRef": _strict({"name": _STR, "kind": _STR, "apiVersion": _STR}, ["name"]),
        "minReplicaCount": _INT, "maxReplicaCount": _INT, "pollingInterval": _INT,
        "cooldownPeriod": _INT,
        "triggers": {"type": "array", "minItems": 1, "items": _strict({
            "type": _STR, "metadata": _STRMAP,
            "authenticationRef": _strict({"name": _STR, "kind": _STR}, ["name"])},
            ["type", "metadata"])},
    }, ["scaleTargetRef", "triggers"]),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _strict({
        "secretTargetRef": {"type": "array", "items": _strict(
            {"parameter": _STR, "name": _STR, "key": _STR}, ["parameter", "name", "key"])},
    }),
    ("postgresql.cnpg.io/v1", "Cluster"): _strict({
        "instances": {"type": "integer", "minimum": 1}, "imageName": _STR,
        "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
        "bootstrap": _strict({"initdb": _strict({"database": _STR, "owner": _STR},
                                                ["database", "owner"])}),
        "storage": _strict({"size": _STR, "storageClass": _STR}, ["size"]),
        "resources": _OBJ, "postgresql": _OBJ,
        "monitoring": _strict({"enablePodMonitor": {"type": "boolean"}}),
    }, ["instances", "storage"]),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): _strict({
        "replicas": _INT, "image": _STR, "resources": _OBJ,
        "persistence": _strict({"storage": _STR, "storageClassName": _STR}),
        "rabbitmq": _strict({"additionalPlugins": {"type": "array"},
                             "additionalConfig": _STR, "advancedConfig": _STR}),
        "override": _OBJ,
    }),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _strict({
        "selector": _SELECTOR,
        "endpoints": {"type": "array", "minItems": 1, "items": _strict({
            "port": _STR, "path": _STR, "interval": _STR, "honorLabels": {"type": "boolean"},
            "params": {"type": "object", "additionalProperties": {"type": "array"}}},
            ["port"])},
    }, ["selector", "endpoints"]),
    ("monitoring.coreos.com/v1", "PodMonitor"): _strict({
        "selector": _SELECTOR,
        "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _strict({
            "port": _STR, "path": _STR, "interval": _STR}, ["port"])},
    }, ["selector", "podMetricsEndpoints"]),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _strict({
        "groups": {"type": "array", "items": _strict({
            "name": _STR, "rules": {"type": "array", "items": _strict({
                "alert": _STR, "record": _STR, "expr": _STR, "for": _STR,
                "labels": _STRMAP, "annotations": _STRMAP}, ["expr"])}},
            ["name", "rules"])},
    }, ["groups"]),
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_the_pinned_kubernetes_version(overlay: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (requirements-dev.txt) missing")
    import jsonschema

    problems = []
    for doc in render(overlay):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        custom = CUSTOM_RESOURCES.get((doc["apiVersion"], doc["kind"]))
        try:
            if custom is not None:
                jsonschema.validate(doc["spec"], custom)
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except Exception as exc:  # noqa: BLE001 - every invalid object is listed
            problems.append(f"{name}: {getattr(exc, 'message', exc)}")
    assert problems == []


def test_generated_manifests_are_current() -> None:
    assert generator.main(["check"]) == 0, "run: python scripts/k8s_manifests.py write"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_and_the_gateway_has_its_own_deployment(overlay: str) -> None:
    deployments = objects(overlay, "Deployment")
    assert set(deployments) == {c.k8s_name for c in COMPONENTS}
    for c in COMPONENTS:
        container = deployments[c.k8s_name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [c.name]  # the Procfile process bin/procfile-run starts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_hit_the_health_endpoints_on_a_declared_port(overlay: str) -> None:
    for c in COMPONENTS:
        spec = objects(overlay, "Deployment")[c.k8s_name]["spec"]["template"]["spec"]
        container = spec["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                    "readinessProbe": "/readyz"}
        for probe, path in expected.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, (c.name, probe)
            # the port the process really listens on (Procfile / CRM_GATEWAY_PORT)
            assert ports.get(get["port"]) == c.port, (c.name, probe, get["port"])
        if c.is_gateway:
            assert env_of(container)["CRM_GATEWAY_PORT"]["value"] == str(c.port)
        assert spec["terminationGracePeriodSeconds"] >= 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for name, spec in pod_specs(overlay):
        for container in spec.get("initContainers", []) + spec["containers"]:
            res = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(part, {})), (name, container["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_and_a_service_account(overlay: str) -> None:
    budgets = objects(overlay, "PodDisruptionBudget")
    accounts = objects(overlay, "ServiceAccount")
    for name, deployment in objects(overlay, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values()
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert covering, name
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] in accounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_container_runs_as_root(overlay: str) -> None:
    for name, spec in pod_specs(overlay):
        pod = spec.get("securityContext", {})
        for container in spec.get("initContainers", []) + spec["containers"]:
            ctx = {**pod, **container.get("securityContext", {})}
            assert ctx.get("runAsNonRoot") is True, (name, container["name"])
            assert ctx.get("runAsUser", 1) != 0, (name, container["name"])
            assert container.get("securityContext", {}).get(
                "allowPrivilegeEscalation") is False, (name, container["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_database_credentials(overlay: str) -> None:
    seen = {}
    for c in COMPONENTS:
        spec = objects(overlay, "Deployment")[c.k8s_name]["spec"]["template"]["spec"]
        for container in spec["initContainers"] + spec["containers"]:
            ref = env_of(container)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == f"{c.database}-app", (c.name, container["name"])
        seen[c.name] = ref["name"]
    assert len(set(seen.values())) == len(COMPONENTS)
    if overlay == "production":
        clusters = objects(overlay, "Cluster")
        for c in COMPONENTS:
            initdb = clusters[c.database]["spec"]["bootstrap"]["initdb"]
            assert initdb == {"database": c.name, "owner": c.name}


SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL|AMQP_URI")
CREDENTIAL_IN_URL = re.compile(r"://[^\s/:@<$]+:[^\s/@<$]+@")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_committed(overlay: str) -> None:
    assert objects(overlay, "Secret") == {}
    for name, spec in pod_specs(overlay):
        for container in spec.get("initContainers", []) + spec["containers"]:
            for var, entry in env_of(container).items():
                if SECRET_NAMES.search(var) and var not in {"POSTGRES_USER"}:
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (name, var)
    for cm in objects(overlay, "ConfigMap").values():
        for key, value in cm.get("data", {}).items():
            assert not SECRET_NAMES.search(key), (cm["metadata"]["name"], key)
            assert not CREDENTIAL_IN_URL.search(value), (cm["metadata"]["name"], key)


def test_no_credentials_in_the_committed_deploy_files() -> None:
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not CREDENTIAL_IN_URL.search(text), path
            assert "secretGenerator" not in text or "literals" not in text, path


def test_every_consuming_service_scales_on_its_own_queues() -> None:
    from crm_platform.service.topology import all_handler_queues

    queues = all_handler_queues()
    scaled = objects("production", "ScaledObject")
    for c in SERVICES:
        so = scaled[c.k8s_name]
        assert so["spec"]["scaleTargetRef"]["name"] == c.k8s_name
        (trigger,) = so["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        pattern = re.compile(trigger["metadata"]["queueName"])
        own = [q.queue for q in queues if q.service == c.name]
        assert own, c.name
        for queue in [f"rpc-{c.name}", *own]:
            assert pattern.match(queue), (c.name, queue)
        for q in queues:
            if q.service != c.name:
                assert not pattern.match(q.queue), (c.name, q.queue)
            assert not pattern.match(q.queue + ".retry")
            assert not pattern.match(q.queue + ".dlq")
    hpa = objects("production", "HorizontalPodAutoscaler")["gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    for d in objects("production", "Deployment").values():
        assert "replicas" not in d["spec"]  # owned by KEDA / the HPA


def test_only_the_gateway_takes_traffic_from_the_ingress_and_only_notify_goes_out() -> None:
    for overlay in OVERLAYS:
        policies = objects(overlay, "NetworkPolicy").values()
        for p in policies:
            selected = p["spec"]["podSelector"].get("matchLabels", {})
            for rule in p["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
                    if ns.get("kubernetes.io/metadata.name") == "ingress-nginx":
                        assert selected == {"app.kubernetes.io/name": "gateway"}
            for rule in p["spec"].get("egress", []):
                if any("ipBlock" in peer for peer in rule.get("to", [])):
                    name = selected.get("app.kubernetes.io/name")
                    # docs only to object storage over HTTPS, in production
                    assert name == "notify" or (
                        name == "docs" and overlay == "production"
                        and rule["ports"] == [{"port": 443, "protocol": "TCP"}]), p
        deny = objects(overlay, "NetworkPolicy")["crm-default-deny"]["spec"]
        assert deny["ingress"] == [] and deny["egress"] == []


def test_every_component_is_scraped() -> None:
    monitors = objects("production", "ServiceMonitor")
    for c in COMPONENTS:
        endpoint = monitors[c.k8s_name]["spec"]["endpoints"][0]
        assert endpoint["port"] == c.port_name and endpoint["path"] == "/metrics"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title)))
    return out


def test_every_alert_has_a_runbook_section() -> None:
    anchors = _anchors((ROOT / "docs" / "operations.md").read_text())
    rules = [r for g in objects("production", "PrometheusRule")["crm-platform"]["spec"]["groups"]
             for r in g["rules"] if "alert" in r]
    assert len(rules) >= 8
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/operations.md#"), rule["alert"]
        assert url.partition("#")[2] in anchors, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}


def test_dashboards_and_alerts_only_use_metrics_that_exist() -> None:
    from crm_platform import metrics
    from prometheus_client.metrics import MetricWrapperBase

    known = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                known.add(family.name)
                known.update(family.name + suffix
                             for suffix in ("_count", "_bucket", "_sum", "_total"))
    dashboard = (K8S / "components" / "monitoring" / "dashboards" / "crm-platform.json")
    json.loads(dashboard.read_text())
    texts = [dashboard.read_text(), (K8S / "components" / "monitoring" / "alerts.yaml").read_text()]
    used = {m for t in texts for m in re.findall(r"\bcrm_[a-z_]+\b", t)}
    assert used and used <= known, used - known


def test_the_image_entrypoint_runs_the_procfile_command() -> None:
    procfile = {line.partition(":")[0]: line.partition(":")[2].strip()
                for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()}
    for name in ("gateway", "billing"):
        printed = subprocess.run([str(ROOT / "bin" / "procfile-run"), "--print", name],
                                 capture_output=True, text=True, check=True, timeout=10)
        assert printed.stdout.strip() == procfile[name]
        in_image = subprocess.run(
            [str(ROOT / "bin" / "procfile-run"), "--print", name], capture_output=True,
            text=True, check=True, timeout=10, env={"PATH": "/usr/bin:/bin", "CRM_SUPERVISE": "0"})
        assert in_image.stdout.strip() == procfile[name].replace("bin/supervise ", "")
    missing = subprocess.run([str(ROOT / "bin" / "procfile-run"), "nope"],
                             capture_output=True, text=True, timeout=10)
    assert missing.returncode == 64 and "billing" in missing.stderr
