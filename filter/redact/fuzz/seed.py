#!/usr/bin/env python3
"""Seeds the fuzz corpora from the engine's labelled corpus: every fourth
sample; JSON samples for `json_walker`, all of them (a first byte picking the
content kind as the target does) for `redact`."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "tests", "corpus", "redaction.jsonl")
KIND_BYTE = {"json": 0, "form": 1, "query": 2, "header": 3, "text": 8}

for target in ("json_walker", "redact"):
    os.makedirs(os.path.join(HERE, "corpus", target), exist_ok=True)
with open(SOURCE, encoding="utf-8") as lines:
    for i, line in enumerate(lines):
        if i % 4:
            continue
        sample = json.loads(line)
        text = sample["text"].encode()
        if sample["kind"] == "json":
            with open(os.path.join(HERE, "corpus", "json_walker", f"seed{i}"), "wb") as f:
                f.write(text)
        with open(os.path.join(HERE, "corpus", "redact", f"seed{i}"), "wb") as f:
            f.write(bytes([KIND_BYTE.get(sample["kind"], 8)]) + text)
