"""Every kustomize overlay renders (kubectl kustomize), every resource is valid by the strict Kubernetes schemas
of the version we target (kubernetes-validate, offline), and the security settings, secrets, probes, KEDA
triggers and the NATS chart's values say what docs/operations.md promises."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kehrwasser_shared.contracts.subjects import SERVICES
from kehrwasser_shared.security.permissions import durables

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"
KUSTOMIZATIONS = (
    "base",
    "base/migrations",
    "overlays/dev",
    "overlays/dev/migrations",
    "overlays/prod",
    "overlays/prod/migrations",
)
CUSTOM_KINDS = {"ScaledObject"}  # KEDA's CRD: checked field by field below
Resource = dict[str, Any]


def render(kustomization: str) -> list[Resource]:
    # kubectl is on every machine of this project's kind (CI included); without it this must fail, not skip:
    # no pure-Python kustomize exists that would render the same.
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed: the kustomize overlays cannot be rendered (apt-get install kubectl)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / kustomization)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {kustomization}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Resource]]:
    return {name: render(name) for name in KUSTOMIZATIONS}


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def workloads(resources: list[Resource]) -> Iterator[Resource]:
    yield from (r for r in resources if r["kind"] in ("Deployment", "Job"))


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_resource_is_valid_by_the_strict_kubernetes_schemas(
    rendered: dict[str, list[Resource]], kustomization: str
) -> None:
    resources = rendered[kustomization]
    assert resources
    for resource in resources:
        if resource["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{kustomization}: {resource['kind']}/{resource['metadata']['name']}: {error.message}")


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/prod"])
def test_each_service_has_its_deployment_service_account_configmap_budget_and_policy(
    rendered: dict[str, list[Resource]], kustomization: str
) -> None:
    resources = rendered[kustomization]
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"):
        assert set(of_kind(resources, kind)) == set(SERVICES), kind
    configmaps = {name.rsplit("-", 1)[0] for name in of_kind(resources, "ConfigMap")}
    assert configmaps == {"kehrwasser-common", *SERVICES}
    for account in of_kind(resources, "ServiceAccount").values():
        assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_container_is_locked_down_and_sized(rendered: dict[str, list[Resource]], kustomization: str) -> None:
    for workload in workloads(rendered[kustomization]):
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/prod"])
def test_services_are_probed_on_the_health_endpoints(rendered: dict[str, list[Resource]], kustomization: str) -> None:
    for name, deployment in of_kind(rendered[kustomization], "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}], name
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
        assert container["startupProbe"]["httpGet"]["path"] == "/livez", name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics", name


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_secrets_are_referenced_by_name_and_never_defined(
    rendered: dict[str, list[Resource]], kustomization: str
) -> None:
    resources = rendered[kustomization]
    assert not of_kind(resources, "Secret"), "Secrets are created by hand (docs/operations.md), never kept here"
    for workload in workloads(resources):
        service = workload["metadata"]["name"].removesuffix("-migrate")
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for variable in container.get("env", []):
                name = variable["name"]
                if any(word in name for word in ("DATABASE_URL", "PASSWORD", "SEED", "USERNAME")):
                    assert "value" not in variable, f"{service}: {name} inlined"
                    assert variable["valueFrom"]["secretKeyRef"]["name"].startswith(f"kehrwasser-{service}-")
        if workload["kind"] == "Deployment":
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert volumes["nats-identity"]["secret"]["secretName"] == f"kehrwasser-{service}-nats"


def test_the_services_do_not_migrate_on_start_and_a_job_migrates_each_database(
    rendered: dict[str, list[Resource]],
) -> None:
    for overlay in ("overlays/dev", "overlays/prod"):
        common = next(
            c for n, c in of_kind(rendered[overlay], "ConfigMap").items() if n.startswith("kehrwasser-common")
        )
        assert common["data"]["KEHRWASSER_MIGRATE_ON_START"] == "false"
        jobs = of_kind(rendered[f"{overlay}/migrations"], "Job")
        assert set(jobs) == {f"{service}-migrate" for service in SERVICES}
        for job in jobs.values():
            assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/prod"])
def test_the_migrations_run_the_same_images_in_the_same_namespace_as_the_services(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    services = of_kind(rendered[overlay], "Deployment")
    jobs = of_kind(rendered[f"{overlay}/migrations"], "Job")
    for service in SERVICES:
        deployment, job = services[service], jobs[f"{service}-migrate"]
        assert deployment["metadata"]["namespace"] == job["metadata"]["namespace"]
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == job["spec"]["template"]["spec"]["containers"][0]["image"]
        assert ":" in image


def test_prod_runs_more_replicas_with_higher_limits_and_three_stream_replicas(
    rendered: dict[str, list[Resource]],
) -> None:
    def memory_mi(deployment: Resource) -> int:
        limit: str = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        return int(limit.removesuffix("Mi")) if limit.endswith("Mi") else int(limit.removesuffix("Gi")) * 1024

    dev, prod = of_kind(rendered["overlays/dev"], "Deployment"), of_kind(rendered["overlays/prod"], "Deployment")
    for service in SERVICES:
        assert prod[service]["spec"]["replicas"] >= 2 > dev[service]["spec"]["replicas"]
        assert memory_mi(prod[service]) > memory_mi(dev[service])
    common = next(c for n, c in of_kind(rendered["overlays/prod"], "ConfigMap").items() if "common" in n)
    assert common["data"]["KEHRWASSER_STREAM_REPLICAS"] == "3"
    assert common["metadata"]["namespace"] == "kehrwasser"


def test_network_policies_allow_nats_postgres_dns_and_only_notify_smtp(rendered: dict[str, list[Resource]]) -> None:
    for name, policy in of_kind(rendered["base"], "NetworkPolicy").items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        (ingress,) = spec["ingress"]
        assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
        assert ingress["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]
        ports = {port["port"] for rule in spec["egress"] for port in rule["ports"]}
        expected = {4222, 5432, 53} | ({587, 465, 25} if name == "notify" else set())
        assert ports == expected, name


def test_a_scaled_object_per_consuming_service_watches_each_of_its_durables(
    rendered: dict[str, list[Resource]],
) -> None:
    scaled = of_kind(rendered["overlays/prod"], "ScaledObject")
    consuming = {service for service in SERVICES if durables(service)}
    assert set(scaled) == consuming
    deployments = of_kind(rendered["overlays/prod"], "Deployment")
    for service, scaled_object in scaled.items():
        assert scaled_object["apiVersion"] == "keda.sh/v1alpha1"
        spec = scaled_object["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        watched = set()
        for trigger in spec["triggers"]:
            assert trigger["type"] == "nats-jetstream"
            metadata = trigger["metadata"]
            assert {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"} <= set(metadata)
            assert all(isinstance(value, str) for value in metadata.values()), "KEDA metadata values are strings"
            assert int(metadata["lagThreshold"]) > 0
            assert metadata["natsServerMonitoringEndpoint"].endswith(":8222")
            watched.add((metadata["stream"], metadata["consumer"]))
        expected = {(stream, durable) for stream, names in durables(service).items() for durable in names}
        assert watched == expected, service
    assert not of_kind(rendered["overlays/dev"], "ScaledObject"), "dev clusters need not run KEDA"


def test_the_nats_chart_values_run_a_three_node_jetstream_cluster_on_volumes_with_the_permissions() -> None:
    values: dict[str, Any] = yaml.safe_load((K8S / "nats" / "values.yaml").read_text())
    config = values["config"]
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["merge"]["sync_interval"] == "always"
    assert config["monitor"]["enabled"] is True
    assert "enabled" in config["nats"]["tls"]
    includes = [value for key, value in config["merge"].items() if key.endswith("$include")]
    assert includes == ["../nats-authorization/authorization.conf"]
    mount = next(p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-")
    volume = next(p["value"] for p in values["podTemplate"]["patch"] if p["path"] == "/spec/volumes/-")
    assert mount["mountPath"] == "/etc/nats-authorization"
    assert mount["name"] == volume["name"]
    assert volume["secret"]["secretName"] == "nats-authorization"
