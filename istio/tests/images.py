"""The two images are built reproducibly, in the formats their consumers read, and survive a registry.

Filter image (images/oci-image filter): the same module gives the same digest; skopeo and umoci
read the layout; pushed to a local registry (docker-registry on 127.0.0.1) and fetched back the
way Istio's image fetcher reads a "compat" Wasm image (manifest digest = spec.sha256, last layer
application/vnd.oci.image.layer.v1.tar+gzip, a tar.gz holding plugin.wasm), it gives the module
back byte for byte.

Collector image (images/oci-image collector, from the static musl binary): reproducible; user
65532, no shell; the binary is static and runs in the image's root file system alone (chroot, as
user 65532: --version, then `serve` answering /healthz). The Dockerfile's runtime stage, built
with buildah from the same files, gives the same configuration and the same files.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from meshcheck import ISTIO, REPO, free_port, run, tail

OCI_IMAGE = ISTIO / "images" / "oci-image"
WASM = REPO / "target" / "wasm32-wasip1" / "release" / "observatory_filter.wasm"
STATIC = Path(os.environ.get("OBSERVATORY_STATIC_COLLECTOR", REPO / "target" / "x86_64-unknown-linux-musl" / "debug" / "observatory-collector"))
TAG = "0.1.0"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def build(kind, out, *args):
    done = run([OCI_IMAGE, kind, "--out", out, "--tag", TAG, *args])
    if done.returncode != 0:
        raise SystemExit(f"oci-image {kind}: {done.stderr.strip()}")
    return done.stdout.strip()


def raw_manifest(layout):
    return run(["skopeo", "inspect", "--raw", f"oci:{layout}:{TAG}"]).stdout.encode()


def registry(tmp):
    """A docker-registry on 127.0.0.1, storing under tmp; (process, host:port)."""
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'registry'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
            return process, f"127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("docker-registry did not start")
            time.sleep(0.2)


def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read(), dict(answer.headers)


def istio_fetch(host, repository):
    """What istio/pkg/wasm's fetcher does with a compat image: (manifest digest, module bytes)."""
    body, headers = get(f"http://{host}/v2/{repository}/manifests/{TAG}", MANIFEST)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    layer = json.loads(body)["layers"][-1]
    if layer["mediaType"] != OCI_LAYER:
        return digest, headers.get("Docker-Content-Digest"), None
    blob, _ = get(f"http://{host}/v2/{repository}/blobs/{layer['digest']}")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        for member in tar:
            if os.path.basename(member.name) == "plugin.wasm":
                return digest, headers.get("Docker-Content-Digest"), tar.extractfile(member).read()
    return digest, headers.get("Docker-Content-Digest"), None


def filter_image(results, tmp):
    module = WASM.read_bytes()
    started = time.monotonic()
    first, second = build("filter", tmp / "f1", "--wasm", WASM), build("filter", tmp / "f2", "--wasm", WASM)
    results.check("filter image: the same module gives the same digest", first == second, f"{first} vs {second}; {time.monotonic() - started:.1f} s for two builds")
    raw = raw_manifest(tmp / "f1")
    manifest = json.loads(raw)
    results.check("filter image: skopeo reads it; the manifest's sha256 is the digest printed", "sha256:" + hashlib.sha256(raw).hexdigest() == first, first)
    results.check("filter image: one layer, OCI tar+gzip (Istio's compat variant)",
                  [l["mediaType"] for l in manifest["layers"]] == [OCI_LAYER] and manifest["mediaType"] == MANIFEST, str(manifest["layers"]))
    done = run(["umoci", "raw", "unpack", "--rootless", "--image", f"{tmp / 'f1'}:{TAG}", tmp / "froot"])
    unpacked = tmp / "froot" / "plugin.wasm"
    results.check("filter image: umoci unpacks plugin.wasm, the module byte for byte",
                  done.returncode == 0 and unpacked.exists() and unpacked.read_bytes() == module, tail(done.stderr, 4))
    process, host = registry(tmp)
    try:
        done = run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{tmp / 'f1'}:{TAG}", f"docker://{host}/observatory/filter:{TAG}"])
        results.check("filter image: skopeo pushes it to the local registry", done.returncode == 0, tail(done.stderr, 4))
        digest, served, fetched = istio_fetch(host, "observatory/filter")
        results.check("filter image: the registry serves the same manifest digest (what spec.sha256 must be)", digest == first and served == first, f"{digest}, header {served}")
        results.check("filter image: fetched as Istio does, the layer gives plugin.wasm, the module byte for byte", fetched == module, "")
        done = run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{host}/observatory/filter:{TAG}", f"oci:{tmp / 'pulled'}:{TAG}"])
        pulled = "sha256:" + hashlib.sha256(raw_manifest(tmp / "pulled")).hexdigest() if done.returncode == 0 else done.stderr
        results.check("filter image: pulled back with skopeo, same digest", pulled == first, pulled)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def interpreter(path: Path) -> bool:
    """Whether an ELF64 file asks for a program interpreter (PT_INTERP): a dynamic executable."""
    data = path.read_bytes()
    phoff, phentsize, phnum = int.from_bytes(data[32:40], "little"), int.from_bytes(data[54:56], "little"), int.from_bytes(data[56:58], "little")
    return any(int.from_bytes(data[phoff + i * phentsize: phoff + i * phentsize + 4], "little") == 3 for i in range(phnum))


def config_of(layout, tag):
    return json.loads(run(["skopeo", "inspect", "--config", f"oci:{layout}:{tag}"]).stdout)["config"]


def files_of(root: Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def collector_image(results, tmp):
    if not STATIC.exists():
        results.check("collector image", False, f"{STATIC} missing: make check-mesh builds it (cargo build --target x86_64-unknown-linux-musl)")
        return
    results.check("collector binary is static (no ELF interpreter)", not interpreter(STATIC), str(STATIC))
    started = time.monotonic()
    first, second = build("collector", tmp / "c1", "--binary", STATIC), build("collector", tmp / "c2", "--binary", STATIC)
    results.check("collector image: the same binary gives the same digest", first == second, f"{first}; {time.monotonic() - started:.1f} s for two builds")
    config = config_of(tmp / "c1", TAG)
    results.check("collector image: user 65532, entrypoint the collector, `serve`",
                  config.get("User") == "65532:65532" and config.get("Entrypoint") == ["/observatory-collector"] and config.get("Cmd") == ["serve"], str(config))
    root_user = os.geteuid() == 0
    rootless = [] if root_user else ["--rootless"]
    done = run(["umoci", "raw", "unpack", *rootless, "--image", f"{tmp / 'c1'}:{TAG}", tmp / "croot"])
    root = tmp / "croot"
    results.check("collector image: umoci unpacks it", done.returncode == 0, tail(done.stderr, 4))
    image_files = files_of(root)
    results.check("collector image: no shell, no package manager", not any((root / p).exists() for p in ("bin/sh", "usr/bin", "bin", "sbin")), str(image_files))
    if not root_user:
        print("skip collector image: running it as user 65532 needs root (chroot)")
        return
    results.check("collector image: data directory owned by 65532", (root / "var/lib/observatory").stat().st_uid == 65532, "")
    done = run(["chroot", "--userspec=65532:65532", root, "/observatory-collector", "--version"])
    results.check("collector image: the binary runs in the image's root alone, as 65532", done.returncode == 0 and "observatory-collector" in done.stdout, tail(done.stdout + done.stderr, 3))
    admin = free_port()
    process = subprocess.Popen([shutil.which("chroot"), "--userspec=65532:65532", str(root), "/observatory-collector", "serve",
                                "--listen", f"127.0.0.1:{free_port()}", "--admin-listen", f"127.0.0.1:{admin}", "--data-dir", "/var/lib/observatory"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={"PATH": "/"})
    healthy, deadline = False, time.monotonic() + 30
    while not healthy and process.poll() is None and time.monotonic() < deadline:
        try:
            healthy = get(f"http://127.0.0.1:{admin}/healthz")[0].strip() == b"ok"
        except OSError:
            time.sleep(0.2)
    process.send_signal(signal.SIGTERM) if process.poll() is None else None
    _, stderr = process.communicate(timeout=60)
    results.check("collector image: `serve` in the image's root answers /healthz and stops on SIGTERM", healthy and process.returncode == 0, tail(stderr, 6))
    dockerfile(results, tmp, config, image_files)


def dockerfile(results, tmp, expected_config, expected_files):
    """The Dockerfile's runtime stage, with the build stage replaced by the same artifacts."""
    if not shutil.which("buildah"):
        print("skip Dockerfile: buildah is not installed")
        return
    artifacts = tmp / "artifacts"
    out = artifacts / "out"
    for directory in ("etc/ssl/certs", "var/lib/observatory", "tmp"):
        (out / directory).mkdir(parents=True)
    shutil.copy(STATIC, out / "observatory-collector")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", out / "etc/ssl/certs/ca-certificates.crt")
    for name in ("passwd", "group"):
        shutil.copy(ISTIO / "images" / "rootfs" / "etc" / name, out / "etc" / name)
    (artifacts / "Containerfile").write_text("FROM scratch\nCOPY out/ /out/\n")
    storage = ["--root", str(tmp / "buildah"), "--runroot", str(tmp / "buildah-run"), "--storage-driver", "vfs"]
    started = time.monotonic()
    done = run(["buildah", *storage, "bud", "--quiet", "--isolation", "chroot", "-t", "localhost/observatory-artifacts:check", artifacts])
    if done.returncode == 0:
        (tmp / "context").mkdir()
        done = run(["buildah", *storage, "bud", "--quiet", "--isolation", "chroot", "--build-arg", "ARTIFACTS=localhost/observatory-artifacts:check",
                    "-f", ISTIO / "images" / "Dockerfile", "-t", "localhost/observatory-collector:check", tmp / "context"])
    if done.returncode == 0:
        done = run(["buildah", *storage, "push", "--quiet", "localhost/observatory-collector:check", f"oci:{tmp / 'built'}:check"])
    results.check("Dockerfile: buildah builds the runtime stage", done.returncode == 0, f"{time.monotonic() - started:.1f} s; " + tail(done.stdout + done.stderr, 6))
    if done.returncode != 0:
        return
    built = config_of(tmp / "built", "check")
    keys = ("User", "Entrypoint", "Cmd", "WorkingDir", "ExposedPorts")
    same = all(built.get(k) == expected_config.get(k) for k in keys) and set(expected_config["Env"]) <= set(built.get("Env", []))
    results.check("Dockerfile: same user, entrypoint, command, workdir, ports and env as oci-image", same, f"{ {k: built.get(k) for k in keys} }")
    done = run(["umoci", "raw", "unpack", "--rootless", "--image", f"{tmp / 'built'}:check", tmp / "builtroot"])
    results.check("Dockerfile: the same files as oci-image", done.returncode == 0 and files_of(tmp / "builtroot") == expected_files, str(files_of(tmp / "builtroot")))


def main(results):
    if not WASM.exists():
        results.check("filter image", False, f"{WASM} missing: make check-mesh builds it")
        return
    with tempfile.TemporaryDirectory() as tmp:
        filter_image(results, Path(tmp))
        collector_image(results, Path(tmp))
