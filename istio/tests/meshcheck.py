"""What every check of istio/tests shares: paths, the tools, subprocesses, results."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ISTIO = REPO / "istio"
VENV = REPO / ".venv" / "bin"
SHARED = Path(os.environ.get("SHARED", REPO.parent / "shared")).resolve()
OVERLAYS = ["single", "scaled"]
# Kustomize directories whose output is deployed (and validated).
KUSTOMIZATIONS = [ISTIO / "overlays" / o for o in OVERLAYS] + [ISTIO / "grafana"]


class Results:
    """One line per check: `ok   name` or `FAIL name: why`; a summary at the end."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            # A short note only; the output of a passing tool run is noise.
            note = f" ({detail})" if detail and "\n" not in detail else ""
            print(f"ok   {name}{note}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}", flush=True)
        return ok

    def summary(self) -> str:
        return f"mesh: {self.passed} passed, {self.failed} failed"


def tool(name: str) -> str:
    """A command from the project's .venv if it is there, else from PATH."""
    local = VENV / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name}: not installed (run .ci/run's setup or `make setup-mesh`)")
    return found


def run(args, **kwargs) -> subprocess.CompletedProcess:
    """Runs a command, capturing its output as text."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def kustomize(directory: Path) -> str:
    done = run([tool("kubectl"), "kustomize", directory])
    if done.returncode != 0:
        raise SystemExit(f"kubectl kustomize {directory}: {done.stderr.strip()}")
    return done.stdout


def documents(text: str):
    return [d for d in yaml.safe_load_all(text) if d]


def config_map_data(path: Path, key: str) -> str:
    """The data entry `key` of the ConfigMap in `path`."""
    for doc in documents(path.read_text()):
        if doc.get("kind") == "ConfigMap" and key in doc.get("data", {}):
            return doc["data"][key]
    raise SystemExit(f"{path}: no ConfigMap with data key {key}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python() -> str:
    return tool("python3") if (VENV / "python3").exists() else sys.executable
