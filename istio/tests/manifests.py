"""Every manifest validates offline, and the deployed objects keep the hardening checklist.

Schema level: `validate-manifests --logql` (../shared/tools) over every YAML document and
dashboard under istio/ and over the output of `kubectl kustomize` for each overlay and for
Grafana. Checklist level, on what the overlays render: non-root, read-only root file system,
requests and limits, probes, STRICT mTLS, AuthorizationPolicy and NetworkPolicy present and
narrow, no secret inline, images pinned by digest, the scale-out objects consistent.
"""

import re

from meshcheck import ISTIO, KUSTOMIZATIONS, OVERLAYS, SHARED, documents, kustomize, python, run, tail

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Environment variables whose value would be a secret if written inline.
SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|WEBHOOK|CREDENTIAL)", re.IGNORECASE)
COLLECTOR = {"app": "observatory-collector"}
STREAM_PATH = "/observatory.audit.v1.AuditService/Stream"


def validate(results):
    tool = SHARED / "tools" / "validate-manifests"
    done = run([python(), tool, "--logql", ISTIO], cwd=ISTIO.parent)
    results.check("validate-manifests --logql istio/", done.returncode == 0, outcome(done))
    for directory in KUSTOMIZATIONS:
        rendered = kustomize(directory)
        done = run([python(), tool, "--logql", "-"], input=rendered, cwd=ISTIO.parent)
        name = directory.relative_to(ISTIO.parent)
        results.check(f"validate-manifests --logql (kubectl kustomize {name})", done.returncode == 0, outcome(done))


def outcome(done) -> str:
    """The summary line of a validator run, or the lines that tell why it failed."""
    text = done.stdout + done.stderr
    if done.returncode == 0:
        return tail(text, 1)
    return "\n".join(line for line in text.splitlines() if not line.startswith(("OK ", "SKIP "))) or tail(text)


def by_kind(objects, kind):
    return [o for o in objects if o.get("kind") == kind]


def selects_collector(obj) -> bool:
    spec = obj.get("spec", {})
    labels = (spec.get("selector") or spec.get("podSelector") or {}).get("matchLabels", {})
    return labels == COLLECTOR


def pod_specs(objects):
    for obj in objects:
        template = obj.get("spec", {}).get("template")
        if template:
            yield obj, template["spec"]


def containers(objects):
    for obj, pod in pod_specs(objects):
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            yield obj, pod, c


def workload_checks(objects):
    """(name, ok, detail) for the pods' security, resources and probes."""
    for obj, pod, c in containers(objects):
        where = f"{obj['kind']}/{obj['metadata']['name']} container {c['name']}"
        pod_sc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        yield f"{where}: non-root", (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True and uid not in (None, 0)), f"runAsUser={uid}"
        yield f"{where}: read-only root file system", sc.get("readOnlyRootFilesystem") is True, ""
        yield (f"{where}: no privilege escalation, every capability dropped",
               sc.get("allowPrivilegeEscalation") is False and sc.get("capabilities", {}).get("drop") == ["ALL"], str(sc))
        resources = c.get("resources", {})
        limited = all(k in resources.get("limits", {}) and k in resources.get("requests", {}) for k in ("cpu", "memory"))
        yield f"{where}: cpu and memory requests and limits", limited, str(resources)
        yield f"{where}: liveness, readiness and startup probes", all(p in c for p in ("livenessProbe", "readinessProbe", "startupProbe")), ""
        yield f"{where}: image pinned by digest", bool(DIGEST.search(c.get("image", ""))), c.get("image", "")
        for env in c.get("env", []):
            if SECRET_NAME.search(env["name"]) and "value" in env and not env["value"].startswith("/"):
                yield f"{where}: env {env['name']} not inline", False, "a secret-like variable has an inline value"
        yield f"{where}: service account token not mounted", pod.get("automountServiceAccountToken") is False, ""


def mesh_checks(objects):
    """(name, ok, detail) for mTLS, authorization, network policy, secrets and the filter's objects."""
    peer = [p for p in by_kind(objects, "PeerAuthentication") if p["metadata"]["namespace"] == "observatory"]
    strict = [p for p in peer if not p["spec"].get("selector") and p["spec"].get("mtls", {}).get("mode") == "STRICT"]
    lax = [p for p in peer if any(v.get("mode") != "STRICT" for v in p["spec"].get("portLevelMtls", {}).values())
           or p["spec"].get("mtls", {}).get("mode", "STRICT") != "STRICT"]
    yield "PeerAuthentication STRICT for the whole observatory namespace, nothing weaker", bool(strict) and not lax, str(peer)

    policies = [p for p in by_kind(objects, "AuthorizationPolicy") if selects_collector(p)]
    allow = [p for p in policies if p["spec"].get("action", "ALLOW") == "ALLOW"]
    operations = [op["operation"] for p in allow for r in p["spec"].get("rules", []) for op in r.get("to", [])]
    rules = [r for p in allow for r in p["spec"].get("rules", [])]
    yield ("AuthorizationPolicy: only the stream method on 4317 and GET /metrics on 9464",
           bool(operations) and all(
               (o.get("paths") == [STREAM_PATH] and o.get("ports") == ["4317"] and o.get("methods") == ["POST"])
               or (o.get("paths") == ["/metrics"] and o.get("ports") == ["9464"] and o.get("methods") == ["GET"])
               for o in operations), str(operations))
    yield ("AuthorizationPolicy: every rule names its callers by mTLS principal",
           bool(rules) and all(r.get("from") and all(s.get("source", {}).get("principals") for s in r["from"]) for r in rules),
           str([r.get("from") for r in rules]))

    netpols = [n for n in by_kind(objects, "NetworkPolicy") if selects_collector(n)]
    netpol = netpols[0] if netpols else {"spec": {}}
    spec = netpol["spec"]
    egress_open = any(not rule.get("to") or not rule.get("ports") for rule in spec.get("egress", []))
    world = any("ipBlock" in peer_ and peer_["ipBlock"].get("cidr") in ("0.0.0.0/0", "::/0")
                for rule in spec.get("egress", []) for peer_ in rule.get("to", []))
    yield ("NetworkPolicy: ingress and egress restricted, no open or world-wide egress",
           bool(netpols) and sorted(spec.get("policyTypes", [])) == ["Egress", "Ingress"] and not egress_open and not world,
           str(spec.get("policyTypes")))

    yield "no Secret object in the manifests (secrets are created at install)", not by_kind(objects, "Secret"), ""
    for cm in by_kind(objects, "ConfigMap"):
        text = str(cm.get("data", {}))
        yield (f"ConfigMap/{cm['metadata']['name']}: no credential inline",
               not re.search(r"(password|token|secret|api_key)\s*[=:]\s*['\"]?[A-Za-z0-9+/]{8,}", text, re.IGNORECASE), "")

    plugins = by_kind(objects, "WasmPlugin")
    for plugin in plugins:
        spec = plugin["spec"]
        pinned = bool(HEX64.match(str(spec.get("sha256", "")))) or bool(DIGEST.search(spec.get("url", "")))
        yield f"WasmPlugin/{plugin['metadata']['name']}: image pinned (spec.sha256)", pinned, str(spec.get("sha256"))
        redaction = spec.get("pluginConfig", {}).get("redaction", {})
        yield f"WasmPlugin/{plugin['metadata']['name']}: no hmacKey inline", "hmacKey" not in redaction, ""
        inline_env = [e["name"] for e in spec.get("vmConfig", {}).get("env", []) if e.get("valueFrom", "INLINE") == "INLINE" and SECRET_NAME.search(e["name"])]
        yield f"WasmPlugin/{plugin['metadata']['name']}: secret VM env only from the host", not inline_env, str(inline_env)
        selector = spec.get("selector", {}).get("matchLabels")
        filters = [f for f in by_kind(objects, "EnvoyFilter")
                   if f["metadata"]["namespace"] == plugin["metadata"]["namespace"]
                   and f["spec"].get("workloadSelector", {}).get("labels") == selector
                   and any(p["patch"].get("value", {}).get("name") == "envoy.filters.http.set_filter_state" for p in f["spec"]["configPatches"])]
        yield f"WasmPlugin/{plugin['metadata']['name']}: set_filter_state EnvoyFilter for the same workloads", bool(filters), str(selector)

    services = {(s["metadata"]["name"], s["metadata"]["namespace"]): s for s in by_kind(objects, "Service")}
    for plugin in plugins:
        cluster = plugin["spec"]["pluginConfig"]["collector"]["cluster"]
        match = re.fullmatch(r"outbound\|(\d+)\|\|([^.]+)\.([^.]+)\.svc\.cluster\.local", cluster)
        service = services.get((match.group(2), match.group(3))) if match else None
        port_ok = bool(service) and any(p["port"] == int(match.group(1)) and p.get("appProtocol") == "grpc" for p in service["spec"]["ports"])
        yield f"WasmPlugin collector.cluster {cluster} is a gRPC port of a Service here", port_ok, ""
        rules = [d for d in by_kind(objects, "DestinationRule")
                 if match and d["spec"]["host"] == f"{match.group(2)}.{match.group(3)}.svc.cluster.local"]
        hashed = [d for d in rules if d["spec"].get("trafficPolicy", {}).get("loadBalancer", {}).get("consistentHash", {}).get("httpHeaderName") == "x-observatory-proxy"]
        yield "DestinationRule hashes the collector Service on x-observatory-proxy", bool(hashed), ""


def scale_checks(objects, overlay):
    sets = [s for s in by_kind(objects, "StatefulSet") if s["metadata"]["name"] == "observatory-collector"]
    yield "collector is a StatefulSet", len(sets) == 1, ""
    if not sets:
        return
    spec = sets[0]["spec"]
    claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])]
    mounts = {m["name"]: m["mountPath"] for m in spec["template"]["spec"]["containers"][0].get("volumeMounts", [])}
    yield "one WAL volume per pod (volumeClaimTemplates) at the data directory", claims == ["data"] and mounts.get("data") == "/var/lib/observatory", str(claims)
    headless = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == spec.get("serviceName")]
    yield "governing headless Service exists", bool(headless) and headless[0]["spec"].get("clusterIP") == "None", str(spec.get("serviceName"))
    yield "PodDisruptionBudget for the collector", any(selects_collector(p) for p in by_kind(objects, "PodDisruptionBudget")), ""
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    if overlay == "scaled":
        metrics = [m for h in hpas for m in h["spec"].get("metrics", [])]
        names = sorted(m.get("resource", {}).get("name") or m.get("pods", {}).get("metric", {}).get("name") for m in metrics)
        target = hpas[0]["spec"]["scaleTargetRef"] if hpas else {}
        yield ("HPA on CPU and observatory_sink_backlog_age_seconds, targeting the StatefulSet",
               names == ["cpu", "observatory_sink_backlog_age_seconds"] and target.get("kind") == "StatefulSet", str(names))
        yield "scaled overlay starts with more than one pod", spec.get("replicas", 1) > 1, str(spec.get("replicas"))
    else:
        yield f"{overlay} overlay: one pod, no HPA", spec.get("replicas") == 1 and not hpas, ""


def checklist(results):
    for overlay in OVERLAYS:
        objects = documents(kustomize(ISTIO / "overlays" / overlay))
        for name, ok, detail in [*workload_checks(objects), *mesh_checks(objects), *scale_checks(objects, overlay)]:
            results.check(f"{overlay}: {name}", ok, detail)


def main(results):
    validate(results)
    checklist(results)
