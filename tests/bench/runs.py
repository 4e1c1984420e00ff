"""Reads load.sh's runs.tsv, for the scripts that summarise rounds of it."""


def read(path):
    """The last run of each setup: req/s, p50 and p99 (µs) and front-Envoy CPU µs per request."""
    rows = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "setup":
            continue
        req, dur = int(f[2]), int(f[3])
        rows[f[0]] = {
            "rps": req / (dur / 1e6),
            "p50": int(f[4]),
            "p99": int(f[5]),
            "cpu": int(f[8]) / req,
        }
    return rows
