"""The collector starts with exactly what the StatefulSet gives it.

The container's args and environment are taken from the rendered overlay, the mounted
Secrets are files in a temporary directory (collector.toml = base/collector.example.toml, a
Loki password, a checkpoint key), and the binary `make test` built runs them: it must serve
/healthz and stop cleanly on SIGTERM. A flag, an environment variable or a TOML key the
collector does not know, or a file it cannot read, fails here instead of in the cluster.
"""

import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from meshcheck import ISTIO, REPO, documents, free_port, kustomize

COLLECTOR_BIN = REPO / "target" / "debug" / "observatory-collector"
SECRET_VALUES = {("observatory-loki", "url"): "http://127.0.0.1:9", ("observatory-checkpoint", "key-id"): "k1"}


def container():
    objects = documents(kustomize(ISTIO / "overlays" / "single"))
    stateful = next(o for o in objects if o.get("kind") == "StatefulSet")
    return stateful["spec"]["template"]["spec"]["containers"][0]


def environment(spec, pod_name):
    """The container's env: literal values, Secret values stood in, $(VAR) expanded."""
    env = {"PATH": "/usr/bin:/bin"}
    for var in spec.get("env", []):
        if "value" in var:
            value = var["value"]
            for name, known in env.items():
                value = value.replace(f"$({name})", known)
            env[var["name"]] = value
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            stand_in = SECRET_VALUES.get((ref["name"], ref["key"]))
            if stand_in is not None:
                env[var["name"]] = stand_in
            elif not ref.get("optional"):
                raise SystemExit(f"no stand-in for the Secret value {ref['name']}/{ref['key']}")
        elif "fieldRef" in var["valueFrom"]:
            env[var["name"]] = pod_name
    return env


def main(results):
    if not COLLECTOR_BIN.exists():
        results.check("collector starts with the StatefulSet's settings", False, f"{COLLECTOR_BIN} missing: make check-mesh builds it")
        return
    spec = container()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {
            "/etc/observatory/config/collector.toml": (ISTIO / "base" / "collector.example.toml").read_text(),
            "/etc/observatory/loki/password": "stand-in password",
            "/etc/observatory/checkpoint/key": "stand-in checkpoint key of 32 bytes",
        }
        for path, text in files.items():
            (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / path.lstrip("/")).write_text(text)
        (root / "etc/observatory/config/collector.toml").write_text(
            files["/etc/observatory/config/collector.toml"].replace("/etc/observatory/", f"{root}/etc/observatory/"))
        admin = free_port()
        args = [a.replace("/etc/observatory/", f"{root}/etc/observatory/").replace("/var/lib/observatory", f"{root}/data")
                .replace("0.0.0.0:4317", f"127.0.0.1:{free_port()}").replace("0.0.0.0:9464", f"127.0.0.1:{admin}") for a in spec["args"]]
        env = environment(spec, "observatory-collector-0")
        env["OBSERVATORY_CHECKPOINT_KEY_FILE"] = env["OBSERVATORY_CHECKPOINT_KEY_FILE"].replace("/etc/observatory/", f"{root}/etc/observatory/")
        process = subprocess.Popen([COLLECTOR_BIN, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        healthy, deadline = False, time.monotonic() + 30
        while not healthy and process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=2) as answer:
                    healthy = answer.status == 200
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM) if process.poll() is None else None
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        results.check("collector serves /healthz with the StatefulSet's args, env and collector.example.toml",
                      healthy, "\n".join(stderr.strip().splitlines()[-8:]))
        results.check("collector exits 0 on SIGTERM", process.returncode == 0, f"exit status {process.returncode}")
