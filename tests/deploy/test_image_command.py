"""CI runs the image's command locally and probes /health (issue: deployment).

No Docker engine: the runtime stage's CMD (exec form) runs as a subprocess with the runtime stage's
ENV, in a working folder laid out like the image's WORKDIR (data/, models/, logs/ of a copy of the
trained mine, found through the settings' relative defaults), with only the bind address and port
overridden (127.0.0.1 and a free port, through the settings the image itself uses). The repository
on PYTHONPATH stands in for the package the image installs. Ollama is deliberately absent: the
service must come up without it. The HEALTHCHECK's own command then probes the running server.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

from tests.deploy.test_docker_files import exec_form, final_stage, image_healthcheck, readme_main_command
from tests.e2e_server import REPO, READY_TIMEOUT_S, free_port, start_api
from tests.ollama_server import closed_port_url
from training.cli import Paths
from training.registry import Registry
from training.settings import ENV_PREFIX

SERVICE_COMMAND = ["python", "-m", "api"]  # ARCHITECTURE.md: the README's main command and the image's CMD
#: Seconds until /health must answer 200: interpreter start and imports take ~3 s on an idle 2-core
#: machine; the rest is margin for a loaded CI host. Readiness (champion, pool) may take longer.
HEALTH_DEADLINE_S = 20.0
#: Seconds the HEALTHCHECK command may run (its own urlopen timeout is 4 s, Docker's --timeout 5 s).
HEALTHCHECK_TIMEOUT_S = 30.0
#: Seconds a SIGTERM'd server gets to exit: `docker stop`'s default grace period before SIGKILL.
DOCKER_STOP_GRACE_S = 10.0
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def image_cmd() -> list[str]:
    """The runtime stage's CMD (exec form); there must be exactly one and no ENTRYPOINT."""
    stage = final_stage()
    cmds = [i for i in stage if i.keyword == "CMD"]
    assert len(cmds) == 1 and not [i for i in stage if i.keyword == "ENTRYPOINT"], "one CMD, no ENTRYPOINT"
    return exec_form(cmds[0].args)


def image_env(base: dict[str, str]) -> dict[str, str]:
    """The runtime stage's ENV applied on ``base`` (``$VAR``/``${VAR}`` expanded as Docker does)."""
    env = dict(base)
    for ins in final_stage():
        if ins.keyword != "ENV":
            continue
        tokens = shlex.split(ins.args)
        pairs = [t.partition("=") for t in tokens] if "=" in tokens[0] else [(tokens[0], "=", " ".join(tokens[1:]))]
        for name, _, value in pairs:
            env[name] = _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)
    return env


def run_env(port: int) -> dict[str, str]:
    """The container's environment here: host basics, no MINEOPS_* of the host, the image's ENV, our overrides."""
    host = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env = image_env(host)
    env.update({f"{ENV_PREFIX}API_HOST": "127.0.0.1", f"{ENV_PREFIX}API_PORT": str(port),
                f"{ENV_PREFIX}OLLAMA_HOST": closed_port_url()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), host.get("PYTHONPATH", "")) if p)
    return env


def healthcheck(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(image_healthcheck(), env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=HEALTHCHECK_TIMEOUT_S)


def test_cmd_is_the_service_part_of_the_readmes_main_command() -> None:
    cmd = image_cmd()
    assert cmd == SERVICE_COMMAND
    assert readme_main_command()[:len(cmd)] == cmd


def test_image_env_binds_all_interfaces_and_keeps_path() -> None:
    env = image_env({"PATH": "/usr/bin"})
    assert env[f"{ENV_PREFIX}API_HOST"] == "0.0.0.0"
    assert env["PATH"].endswith(":/usr/bin"), "the image's PATH extends the base image's"


def test_image_command_serves_health_and_ready_and_passes_its_healthcheck(trained_mine_copy: Paths) -> None:
    workdir = Path(trained_mine_copy.logs).parent  # holds data/, models/, logs/ like the image's /app
    assert {p.name for p in workdir.iterdir()} >= {"data", "models", "logs"}
    port = free_port()
    env = run_env(port)
    started = time.monotonic()
    server = start_api(image_cmd(), env, port, workdir / "image-cmd.log", cwd=workdir)
    try:
        server.wait_for("/health", HEALTH_DEADLINE_S)
        health_s = time.monotonic() - started
        ready = server.wait_for("/ready", READY_TIMEOUT_S)
        ready_s = time.monotonic() - started
        assert ready.json()["champion"] == Registry(trained_mine_copy.models).champion()
        probe = healthcheck(env, workdir)
        assert probe.returncode == 0, f"HEALTHCHECK failed while the server is up: {probe.stderr[-2000:]}"
        # Relative defaults resolved in the working folder: the run store landed in logs/.
        assert (trained_mine_copy.logs / "runs.sqlite3").exists()
    finally:
        code = server.stop(DOCKER_STOP_GRACE_S)
    assert not server.killed, f"not stopped by SIGTERM within {DOCKER_STOP_GRACE_S} s; log:\n{server.log_tail()}"
    assert code in (0, -signal.SIGTERM), f"exit code {code}; log:\n{server.log_tail()}"
    assert "Application shutdown complete" in server.log(), server.log_tail()
    after = healthcheck(env, workdir)
    assert after.returncode != 0, "the HEALTHCHECK must fail once the server is gone"
    print(f"/health 200 after {health_s:.1f} s, /ready 200 after {ready_s:.1f} s")
