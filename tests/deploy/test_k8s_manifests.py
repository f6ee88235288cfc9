"""deploy/: the kustomize base and the example overlay, rendered and validated without a cluster.

A small renderer below implements the kustomize features these kustomizations use (resources,
namespace, images, replicas, strategic-merge patches) and refuses any other, so it always runs; when
`kustomize` or `kubectl` is on PATH, a test checks that both render the same objects. Every rendered
object is validated: core kinds with kubernetes-validate (strict), the ScaledObject and the KafkaTopics
with the JSON Schemas in tests/deploy/schemas/. Then the invariants that matter for running the
pipeline are asserted against zixly_contracts.topics.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from zixly_contracts.topics import BACKTESTS_TASKS, MAX_BACKTESTER_REPLICAS, all_topics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
OVERLAY = DEPLOY / "overlays" / "example"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

#: The oldest Kubernetes the manifests must apply to, and the newest that kubernetes-validate ships.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
CORE_KINDS = {
    "ConfigMap",
    "Deployment",
    "Job",
    "Namespace",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
}
CLUSTER_SCOPED = {"Namespace"}
#: API groups whose list fields kustomize merges by key; custom resources get lists replaced.
BUILTIN_API_VERSIONS = {"v1", "apps/v1", "batch/v1", "policy/v1"}

#: Deployment → (container port, console script, consumer group or None)
SERVICES: dict[str, tuple[int, str, str | None]] = {
    "ingest": (8080, "zixly-ingest", None),
    "backtester": (8081, "zixly-backtester", "zixly-backtester"),
    "aggregator": (8082, "zixly-aggregator", "zixly-aggregator"),
    "dashboard-api": (8000, "zixly-dashboard-api", None),
}
CONSUMERS = ("backtester", "aggregator")
#: services with Alembic migrations in their package and a `migrate` command
SCHEMA_OWNERS = ("aggregator", "ingest")
EXPOSED = ("ingest", "dashboard-api")
FASTSTREAM_GRACEFUL_TIMEOUT_S = 15
#: the Secret created outside the repository, and which Deployment may read which of its keys
SECRET_NAME = "zixly-secrets"
SECRET_KEYS = {
    "database-url": {"ingest", "aggregator", "dashboard-api", "aggregator-migrate", "ingest-migrate"},
    "webhook-secrets": {"ingest"},
    "aws-access-key-id": {"backtester", "aggregator"},
    "aws-secret-access-key": {"backtester", "aggregator"},
}
CONFIG_KEYS = (
    "ZIXLY_KAFKA_BOOTSTRAP_SERVERS",
    "ZIXLY_KAFKA_ENABLE_IDEMPOTENCE",
    "ZIXLY_OBJECT_STORE_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "ZIXLY_LOG_LEVEL",
)
REPLAYED = ("webhooks.received", "sweeps.requested", "backtests.results", "sweeps.lifecycle")


# --- a kustomize subset ---------------------------------------------------------------------------


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _merge(target: Any, patch: Any, *, keyed_lists: bool) -> Any:
    """Strategic merge as kustomize applies it here: maps merge, lists of named items merge by name
    for built-in kinds, any other list is replaced."""
    if isinstance(target, dict) and isinstance(patch, dict):
        assert not any(key.startswith("$") for key in patch), "patch directives are not supported"
        merged = dict(target)
        for key, value in patch.items():
            merged[key] = _merge(target[key], value, keyed_lists=keyed_lists) if key in target else value
        return merged
    named = (
        keyed_lists
        and isinstance(target, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in target + patch)
    )
    if named:
        merged_list = list(target)
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in index:
                i = index[item["name"]]
                merged_list[i] = _merge(merged_list[i], item, keyed_lists=True)
            else:
                merged_list.append(item)
        return merged_list
    return copy.deepcopy(patch)


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("initContainers", []) + spec.get("containers", [])


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    supported = {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
    unsupported = set(kustomization) - supported
    assert not unsupported, f"{directory}: extend this renderer before using {sorted(unsupported)}"

    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects.extend(render(path) if path.is_dir() else _load_all(path))
    keys = [_key(obj) for obj in objects]
    assert len(keys) == len(set(keys)), f"{directory}: duplicate objects"

    for entry in kustomization.get("patches", []):
        assert set(entry) == {"path"}, "only strategic-merge patch files are supported"
        for patch in _load_all(directory / entry["path"]):
            matches = [
                i
                for i, obj in enumerate(objects)
                if (obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
                == (patch["apiVersion"], patch["kind"], patch["metadata"]["name"])
            ]
            assert len(matches) == 1, f"patch {entry['path']} matches {len(matches)} objects"
            i = matches[0]
            objects[i] = _merge(objects[i], patch, keyed_lists=patch["apiVersion"] in BUILTIN_API_VERSIONS)

    if namespace := kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace

    for image in kustomization.get("images", []):
        used = False
        for obj in objects:
            for container in _containers(obj):
                name = re.split(r"[@]|:(?=[^/]*$)", container["image"])[0]
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
                    used = True
        assert used, f"images: {image['name']} is used by no container"

    for replicas in kustomization.get("replicas", []):
        targets = [
            o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == replicas["name"]
        ]
        assert len(targets) == 1, f"replicas: no Deployment {replicas['name']}"
        targets[0]["spec"]["replicas"] = replicas["count"]
    return objects


@cache
def _rendered(which: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(BASE if which == "base" else OVERLAY))


@pytest.fixture(params=["base", "overlay"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_rendered(request.param)))


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _all(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


@cache
def _schema(name: str) -> dict[str, Any]:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-v1alpha1.json",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "strimzi-kafkatopic-v1beta2.json",
}


# --- rendering ------------------------------------------------------------------------------------


def test_the_overlay_renders_every_base_object_and_its_namespace() -> None:
    base_kinds = {o["kind"] for o in _rendered("base")}
    assert base_kinds == CORE_KINDS - {"Namespace"} | {"ScaledObject", "KafkaTopic"}
    base_keys = {(kind, name) for kind, _, name in map(_key, _rendered("base"))}
    overlay_keys = {(kind, name) for kind, _, name in map(_key, _rendered("overlay"))}
    assert overlay_keys - base_keys == {("Namespace", "zixly")}
    assert base_keys <= overlay_keys


@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "overlay"])
def test_the_renderer_agrees_with_kustomize(directory: Path) -> None:
    if binary := shutil.which("kustomize"):
        argv = [binary, "build", str(directory)]
    elif binary := shutil.which("kubectl"):
        argv = [binary, "kustomize", str(directory)]
    else:
        pytest.skip("neither kustomize nor kubectl is on PATH; the Python renderer stands alone")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    theirs = {_key(o): o for o in yaml.safe_load_all(result.stdout) if o}
    ours = {_key(o): o for o in render(directory)}
    assert sorted(theirs) == sorted(ours)
    for key, obj in ours.items():
        assert obj == theirs[key], key


# --- schema validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_core_objects_validate_against_the_kubernetes_schemas(
    manifests: list[dict[str, Any]], version: str
) -> None:
    core = [o for o in manifests if o["kind"] in CORE_KINDS]
    assert core
    failures = []
    for obj in core:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            failures.append(f"{_key(obj)}: {path}: {error.message}")
    assert not failures, f"against Kubernetes {version}:\n" + "\n".join(failures)


def test_custom_resources_validate_against_their_vendored_schemas(manifests: list[dict[str, Any]]) -> None:
    custom = [o for o in manifests if o["kind"] not in CORE_KINDS]
    assert {o["kind"] for o in custom} == {"ScaledObject", "KafkaTopic"}
    for obj in custom:
        schema = _schema(CUSTOM_SCHEMAS[(obj["apiVersion"], obj["kind"])])
        jsonschema.validate(obj, schema, cls=jsonschema.Draft202012Validator)


def test_the_validators_reject_broken_objects() -> None:
    objects = list(copy.deepcopy(_rendered("base")))
    scaled = _one(objects, "ScaledObject", "backtester")
    schema = _schema(CUSTOM_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])

    for mutate in (
        lambda so: so["spec"]["triggers"][0]["metadata"].update(lagTreshold="2"),  # misspelt key
        lambda so: so["spec"]["triggers"][0]["metadata"].update(offsetResetPolicy="earlist"),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(limitToPartitionsWithLag="true"),
        lambda so: so["spec"]["triggers"][0]["metadata"].pop("consumerGroup"),
        lambda so: so["spec"].update(maxReplicas=32),
        lambda so: so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"].update(
            stabilizationWindowSeconds=7200
        ),
    ):
        broken = copy.deepcopy(scaled)
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)

    deployment = copy.deepcopy(_one(objects, "Deployment", "ingest"))
    _container(deployment)["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)

    topic = copy.deepcopy(_all(objects, "KafkaTopic")[0])
    topic["spec"]["partitions"] = "32"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, _schema(CUSTOM_SCHEMAS[("kafka.strimzi.io/v1beta2", "KafkaTopic")]))


# --- topics ---------------------------------------------------------------------------------------


def test_kafka_topics_are_the_contract_topics_with_their_partitions(manifests: list[dict[str, Any]]) -> None:
    topics = _all(manifests, "KafkaTopic")
    declared = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics}
    assert len(declared) == len(topics), "a topic is declared twice"
    assert declared == {spec.name: spec.partitions for spec in all_topics()}

    retention = {t["spec"]["topicName"]: t["spec"]["config"]["retention.ms"] for t in topics}
    for name in REPLAYED:
        assert retention[name] == -1, f"{name} is replayed from the start: it must never expire"
        assert retention[f"{name}.dlq"] == -1, "dead letters stay until re-driven"
    for topic in topics:
        assert topic["spec"]["replicas"] > topic["spec"]["config"]["min.insync.replicas"] >= 2, (
            "acks=all survives one broker down"
        )


def test_topics_belong_to_the_kafka_cluster_the_services_use(manifests: list[dict[str, Any]]) -> None:
    clusters = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in _all(manifests, "KafkaTopic")}
    assert len(clusters) == 1
    (cluster,) = clusters
    bootstrap = _one(manifests, "ConfigMap", "zixly-config")["data"]["ZIXLY_KAFKA_BOOTSTRAP_SERVERS"]
    # Strimzi names the bootstrap Service of cluster C `C-kafka-bootstrap`.
    assert all(server.startswith(f"{cluster}-kafka-bootstrap") for server in bootstrap.split(","))


# --- the backtester's autoscaler ------------------------------------------------------------------


def test_backtester_scales_on_its_group_lag_up_to_the_task_partitions(
    manifests: list[dict[str, Any]],
) -> None:
    scaled = _one(manifests, "ScaledObject", "backtester")
    spec = scaled["spec"]
    task_partitions = {t.name: t.partitions for t in all_topics()}[BACKTESTS_TASKS]
    topic_partitions = {
        t["spec"]["topicName"]: t["spec"]["partitions"] for t in _all(manifests, "KafkaTopic")
    }

    assert spec["maxReplicaCount"] == task_partitions == MAX_BACKTESTER_REPLICAS
    assert spec["maxReplicaCount"] == topic_partitions[BACKTESTS_TASKS]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], "never scaled to zero"
    assert "idleReplicaCount" not in spec, "an idle count would scale to zero"

    (trigger,) = spec["triggers"]
    metadata = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert metadata["topic"] == BACKTESTS_TASKS
    assert metadata["consumerGroup"] == "zixly-backtester"
    assert metadata["offsetResetPolicy"] == "earliest", "as the consumer's auto_offset_reset"
    assert 1 <= int(metadata["lagThreshold"]) <= 5, "tasks take seconds: a small lag per replica"
    assert metadata.get("allowIdleConsumers", "false") == "false"
    assert metadata.get("scaleToZeroOnInvalidOffset", "false") == "false"
    if metadata.get("ensureEvenDistributionOfPartitions") == "true":
        assert task_partitions % spec["minReplicaCount"] == 0

    # KEDA reads lag from the same brokers the services use.
    config = _one(manifests, "ConfigMap", "zixly-config")["data"]
    assert metadata["bootstrapServers"] == config["ZIXLY_KAFKA_BOOTSTRAP_SERVERS"]


def test_backtester_scale_steps_are_damped(manifests: list[dict[str, Any]]) -> None:
    behavior = _one(manifests, "ScaledObject", "backtester")["spec"]["advanced"][
        "horizontalPodAutoscalerConfig"
    ]["behavior"]
    # Every step is an eager rebalance of the whole group: stabilise both ways (HPA's scale-up default is 0).
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] > 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 60
    for direction in ("scaleUp", "scaleDown"):
        assert behavior[direction]["policies"], f"{direction} is rate-limited"
    down = behavior["scaleDown"]["policies"]
    assert all(p["type"] != "Percent" or p["value"] <= 50 for p in down)


def test_the_scaled_deployment_is_the_backtester_and_keda_owns_its_count(
    manifests: list[dict[str, Any]],
) -> None:
    scaled = _one(manifests, "ScaledObject", "backtester")
    target = scaled["spec"]["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    deployment = _one(manifests, "Deployment", target["name"])
    assert "replicas" not in deployment["spec"], "an apply would reset the HPA's replica count"
    env = _env(_container(deployment))
    consumer_group = scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"]
    assert env["ZIXLY_BACKTESTER_GROUP_ID"]["value"] == consumer_group


# --- the Deployments ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_probes_keep_liveness_away_from_kafka(manifests: list[dict[str, Any]], name: str) -> None:
    port, _, _ = SERVICES[name]
    container = _container(_one(manifests, "Deployment", name))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {
        kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/healthz", "liveness must not depend on Kafka"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert ports[probe["port"]] == port


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_listens_where_its_probes_look(manifests: list[dict[str, Any]], name: str) -> None:
    port, _, _ = SERVICES[name]
    env = _env(_container(_one(manifests, "Deployment", name)))
    host_vars = [key for key in env if key.endswith("_HOST")]
    port_vars = [key for key in env if key.endswith("_PORT")]
    assert [env[key]["value"] for key in host_vars] == ["0.0.0.0"]
    assert [env[key]["value"] for key in port_vars] == [str(port)]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_grace_period_outlasts_faststreams_graceful_timeout(
    manifests: list[dict[str, Any]], name: str
) -> None:
    spec = _one(manifests, "Deployment", name)["spec"]["template"]["spec"]
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > FASTSTREAM_GRACEFUL_TIMEOUT_S
    if name in CONSUMERS:
        # graceful_timeout after uvicorn's shutdown (20 s), then commit and LeaveGroup.
        assert grace >= 45, f"{name}: {grace}s"
    pre_stop = _container(_one(manifests, "Deployment", name)).get("lifecycle", {}).get("preStop")
    if pre_stop:
        pause = int(pre_stop["exec"]["command"][-1])
        assert grace - pause > FASTSTREAM_GRACEFUL_TIMEOUT_S


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_deployment_is_bounded_and_unprivileged(manifests: list[dict[str, Any]], name: str) -> None:
    pod = _one(manifests, "Deployment", name)["spec"]["template"]["spec"]
    container = _container(_one(manifests, "Deployment", name))
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts, "writable scratch space (numba's cache on the backtester)"
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_deployment_has_a_disruption_budget_that_selects_it(
    manifests: list[dict[str, Any]], name: str
) -> None:
    deployment = _one(manifests, "Deployment", name)
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    budgets = [
        pdb
        for pdb in _all(manifests, "PodDisruptionBudget")
        if pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ]
    assert len(budgets) == 1, f"{name}: {len(budgets)} budgets"
    # maxUnavailable keeps node drains possible with a single replica; minAvailable 1 would block them.
    assert budgets[0]["spec"].get("maxUnavailable") == 1
    assert "minAvailable" not in budgets[0]["spec"]


@pytest.mark.parametrize("name", EXPOSED)
def test_http_services_route_to_their_pods(manifests: list[dict[str, Any]], name: str) -> None:
    service = _one(manifests, "Service", name)
    deployment = _one(manifests, "Deployment", name)
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    port_names = {p["name"] for p in _container(deployment)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    others = [d for d in _all(manifests, "Deployment") if d is not deployment]
    for other in others:
        assert (
            not service["spec"]["selector"].items() <= other["spec"]["template"]["metadata"]["labels"].items()
        )
    services = {s["metadata"]["name"] for s in _all(manifests, "Service")}
    assert services == set(EXPOSED), "the consumers take no traffic"


def test_configuration_and_secrets_reach_exactly_who_needs_them(manifests: list[dict[str, Any]]) -> None:
    config = _one(manifests, "ConfigMap", "zixly-config")
    missing = [key for key in CONFIG_KEYS if key not in config["data"]]
    assert not missing
    assert config["data"]["ZIXLY_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert config["data"]["ZIXLY_OBJECT_STORE_URL"].startswith("s3://")
    assert config["data"]["AWS_DEFAULT_REGION"] == config["data"]["AWS_REGION"], "botocore reads the former"

    workloads = _all(manifests, "Deployment") + _all(manifests, "Job")
    readers: dict[str, set[str]] = {key: set() for key in SECRET_KEYS}
    for workload in workloads:
        name = workload["metadata"]["name"]
        container = _container(workload)
        assert container["envFrom"] == [{"configMapRef": {"name": "zixly-config"}}], name
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == SECRET_NAME
                readers[ref["key"]].add(name)
    assert readers == SECRET_KEYS

    readme = (DEPLOY / "README.md").read_text()
    for key in SECRET_KEYS:
        assert f"`{key}`" in readme, f"deploy/README.md documents the Secret key {key}"


@pytest.mark.parametrize("owner", SCHEMA_OWNERS)
def test_each_schema_owner_has_a_migration_job_from_its_own_image(
    manifests: list[dict[str, Any]], owner: str
) -> None:
    job = _one(manifests, "Job", f"{owner}-migrate")
    container = _container(job)
    service = _container(_one(manifests, "Deployment", owner))
    assert container["image"] == service["image"], f"the schema comes from the {owner}'s release"
    assert container["args"] == ["migrate"]
    assert service["args"] == ["run"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    assert "ZIXLY_DATABASE_URL" in _env(container)


def test_only_the_schema_owners_have_migration_jobs(manifests: list[dict[str, Any]]) -> None:
    assert sorted(job["metadata"]["name"] for job in _all(manifests, "Job")) == [
        f"{owner}-migrate" for owner in SCHEMA_OWNERS
    ]


# --- the example overlay --------------------------------------------------------------------------


def test_the_overlay_pins_released_images_in_one_namespace() -> None:
    objects = list(_rendered("overlay"))
    namespace = _one(objects, "Namespace", "zixly")["metadata"]["name"]
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == namespace, _key(obj)
    for workload in _all(objects, "Deployment") + _all(objects, "Job"):
        image = _container(workload)["image"]
        name, _, tag = image.rpartition(":")
        assert "/" in name, f"{image}: a registry path"
        assert "." in name.split("/")[0], f"{image}: a registry host"
        assert tag, f"{image}: pinned"
        assert tag != "latest", f"{image}: pinned"
    assert "replicas" not in _one(objects, "Deployment", "backtester")["spec"]
    assert _one(objects, "Deployment", "ingest")["spec"]["replicas"] >= 2


def test_the_base_leaves_images_to_overlays() -> None:
    for workload in _all(list(_rendered("base")), "Deployment") + _all(list(_rendered("base")), "Job"):
        image = _container(workload)["image"]
        assert re.fullmatch(r"zixly/[a-z-]+", image), f"{image}: overlays set registry and tag"
        # The root Dockerfile builds zixly/<service> with --build-arg SERVICE=<service>.
        assert image.removeprefix("zixly/") in SERVICES, f"{image}: no such service image"


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_consumers_are_stopped_by_their_own_deadline_before_kubernetes_kills_them(
    manifests: list[dict[str, Any]], name: str
) -> None:
    """The shell's last resort (grace + 3 stop timeouts) comes before the kubelet's SIGKILL."""
    config = _one(manifests, "ConfigMap", "zixly-config")["data"]
    deadline = float(config["ZIXLY_SHUTDOWN_GRACE_S"]) + 3 * float(config["ZIXLY_SHUTDOWN_STOP_TIMEOUT_S"])
    grace = _one(manifests, "Deployment", name)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > deadline, f"{name}: {grace}s <= {deadline}s"
    assert int(config["ZIXLY_KAFKA_MAX_POLL_INTERVAL_MS"]) > int(config["ZIXLY_KAFKA_SESSION_TIMEOUT_MS"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_scraped_on_its_metrics_port(manifests: list[dict[str, Any]], name: str) -> None:
    deployment = _one(manifests, "Deployment", name)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    ports = {p["containerPort"] for p in _container(deployment)["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) in ports
