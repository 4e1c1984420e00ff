"""Envoy 1.40 accepts what Istio makes of the WasmPlugin and the EnvoyFilter.

The inbound HTTP filter chain of a selected workload is rebuilt as Istio would generate it —
the EnvoyFilter's set_filter_state filter first (INSERT_FIRST), then the WasmPlugin as an
envoy.filters.http.wasm filter (name <namespace>.<name>, root_id = pluginName, the
pluginConfig as a JSON StringValue, vmConfig.env as host_env_keys, fail closed), then the
router — with the collector's cluster under Istio's name. `envoy --mode validate` then builds
every filter: the real module runs its on_configure on the real pluginConfig, and a config it
rejects fails the check, as it would fail the proxy.
"""

import json
import tempfile
from pathlib import Path

import yaml

from meshcheck import ISTIO, REPO, VENV, documents, kustomize, run, tail

WASM = REPO / "target" / "wasm32-wasip1" / "release" / "observatory_filter.wasm"


def http_filters(objects, plugin):
    """The inbound HTTP filters of the plugin's workloads: EnvoyFilter patches, then the plugin."""
    first, before = [], []
    selector = plugin["spec"].get("selector", {}).get("matchLabels")
    for envoy_filter in objects:
        if envoy_filter.get("kind") != "EnvoyFilter" or envoy_filter["metadata"]["namespace"] != plugin["metadata"]["namespace"]:
            continue
        if envoy_filter["spec"].get("workloadSelector", {}).get("labels") != selector:
            continue
        for patch in envoy_filter["spec"]["configPatches"]:
            if patch["applyTo"] == "HTTP_FILTER" and patch["match"].get("context") == "SIDECAR_INBOUND":
                (first if patch["patch"]["operation"] == "INSERT_FIRST" else before).append(patch["patch"]["value"])
    spec = plugin["spec"]
    wasm = {
        "name": f"{plugin['metadata']['namespace']}.{plugin['metadata']['name']}",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": f"{plugin['metadata']['namespace']}.{plugin['metadata']['name']}",
                "root_id": spec.get("pluginName", ""),
                "fail_open": spec.get("failStrategy") == "FAIL_OPEN",
                "vm_config": {
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(WASM)}},
                    "environment_variables": {
                        "host_env_keys": [e["name"] for e in spec.get("vmConfig", {}).get("env", []) if e.get("valueFrom") == "HOST"],
                        "key_values": {e["name"]: e.get("value", "") for e in spec.get("vmConfig", {}).get("env", []) if e.get("valueFrom", "INLINE") == "INLINE"},
                    },
                },
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(spec.get("pluginConfig", {}))},
            },
        },
    }
    router = {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    return first + before + [wasm, router], len(first) + len(before)


def bootstrap(filters, cluster):
    return {
        "static_resources": {
            "listeners": [{
                "name": "virtualInbound",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 15006}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "inbound_0.0.0.0_8080",
                        "route_config": {"virtual_hosts": [{"name": "inbound", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]},
                        "http_filters": filters,
                    },
                }]}],
            }],
            "clusters": [{
                "name": cluster,
                "type": "STATIC",
                "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}}}},
                "load_assignment": {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 4317}}}}]}]},
            }],
        }
    }


def main(results):
    if not WASM.exists():
        results.check("Envoy accepts the mesh's filter chain", False, f"{WASM} missing: make check-mesh builds it")
        return
    objects = documents(kustomize(ISTIO / "overlays" / "single"))
    plugins = [o for o in objects if o.get("kind") == "WasmPlugin"]
    results.check("a WasmPlugin to check", bool(plugins), "")
    for plugin in plugins:
        filters, patched = http_filters(objects, plugin)
        results.check(f"EnvoyFilter patches ahead of WasmPlugin/{plugin['metadata']['name']}", patched >= 1 and filters[0]["name"] == "envoy.filters.http.set_filter_state", str([f["name"] for f in filters]))
        cluster = plugin["spec"]["pluginConfig"]["collector"]["cluster"]
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "inbound.yaml"
            config.write_text(yaml.safe_dump(bootstrap(filters, cluster)))
            env = {"PATH": "/usr/bin:/bin", **{key: "0123456789abcdef0123" for key in filters[-2]["typed_config"]["config"]["vm_config"]["environment_variables"]["host_env_keys"]}}
            done = run([VENV / "envoy", "--mode", "validate", "-c", config, "-l", "error"], env=env)
            results.check(f"envoy --mode validate: set_filter_state + WasmPlugin/{plugin['metadata']['name']} (pluginConfig loaded by the module) + cluster {cluster}",
                          done.returncode == 0, tail(done.stdout + done.stderr, 6))
