#!/usr/bin/env python3
"""Merges two rendered front-Envoy configurations of load.sh into one for setup p.

Usage: pair-config.py OUT SIDE_A.yaml SIDE_B.yaml

Each input is a whole configuration of one setup (a to e) with one listener.
The output has both listeners, renamed `front-a` and `front-b` (their stat
prefixes, route configurations and wasm plugins and VM ids get the side's
suffix too, so that each wasm side has a VM of its own), the first input's
admin section, and the union of the clusters by name.
"""

import sys

try:
    import yaml
except ImportError:
    sys.exit("pair-config.py: PyYAML is needed (Debian: python3-yaml; pip: pyyaml)")


def rename(listener, side):
    """Gives a listener, its connection manager and its wasm filters the side's names."""
    listener["name"] = f"front-{side}"
    for chain in listener.get("filter_chains", []):
        for net in chain.get("filters", []):
            hcm = net.get("typed_config", {})
            if "stat_prefix" in hcm:
                hcm["stat_prefix"] = f"{hcm['stat_prefix']}_{side}"
            if "route_config" in hcm:
                hcm["route_config"]["name"] = f"front-{side}"
            for http in hcm.get("http_filters", []):
                wasm = http.get("typed_config", {}).get("config")
                if http.get("name") == "envoy.filters.http.wasm" and wasm:
                    wasm["name"] = f"{wasm['name']}-{side}"
                    wasm["vm_config"]["vm_id"] = f"{wasm['vm_config']['vm_id']}-{side}"
    return listener


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2])
    out, *sides = sys.argv[1:]
    configs = []
    for path in sides:
        with open(path) as f:
            config = yaml.safe_load(f)
        listeners = config.get("static_resources", {}).get("listeners", [])
        if len(listeners) != 1:
            sys.exit(f"pair-config.py: {path}: want one listener, found {len(listeners)}")
        configs.append(config)
    merged = {"admin": configs[0]["admin"], "static_resources": {"listeners": [], "clusters": []}}
    names = set()
    for side, config in zip("ab", configs):
        resources = config["static_resources"]
        merged["static_resources"]["listeners"].append(rename(resources["listeners"][0], side))
        for cluster in resources.get("clusters", []):
            if cluster["name"] not in names:
                names.add(cluster["name"])
                merged["static_resources"]["clusters"].append(cluster)
    with open(out, "w") as f:
        f.write("# Setup (p), written by tests/bench/pair-config.py from the configurations of its two sides.\n")
        yaml.safe_dump(merged, f, sort_keys=False)


if __name__ == "__main__":
    main()
