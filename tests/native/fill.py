#!/usr/bin/env python3
"""Authoring aid: rewrite transcripts with the actions the core produces now.

    python3 tests/native/fill.py build/scenarios tests/scenarios/x.txt ...

Replaces the '>' lines after every input with what the runner printed (-v). Review the
diff before committing: a filled transcript is only a test once a person agreed with it."""
import subprocess
import sys

runner, files = sys.argv[1], sys.argv[2:]
for path in files:
    out = subprocess.run([runner, "-v", path], capture_output=True, text=True).stdout
    blocks, cur = [], None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = []
            blocks.append(cur)
        elif line.startswith("  > ") and cur is not None:
            cur.append("> " + line[4:])
    src = open(path).read().splitlines()
    res, i = [], 0
    for line in src:
        if line.startswith(">"):
            continue
        res.append(line)
        if line.startswith("@"):
            res.extend(blocks[i] if i < len(blocks) else [])
            i += 1
    open(path, "w").write("\n".join(res) + "\n")
