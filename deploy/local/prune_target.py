#!/usr/bin/env python3
"""Deletes superseded builds of this workspace's own crates from a cargo target directory.

Cargo never deletes an artefact it has replaced: every change to a workspace crate leaves
its previous test binaries (80-90 MB each) and libraries behind under a new hash, and a
long-lived target directory (the CI cache) grows until the disk is full. This keeps, per
profile, the newest build of each of our executables and of each `lib<crate>` of the
workspace, and removes the older ones. Third-party libraries are left alone (their variants
differ by features and are all in use). Anything removed that is still needed is rebuilt.

    deploy/local/prune_target.py TARGET_DIR
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def workspace_crates():
    text = open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8").read()
    members = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S).group(1)
    return {m.replace("-", "_") for m in re.findall(r'"([^"]+)"', members)}


def prune(deps, ours):
    parsed = []
    for name in os.listdir(deps):
        m = re.match(r"^(.*)-([0-9a-f]{16})(\.[a-z.]+)?$", name)
        if m:
            parsed.append((name, m.group(1), m.group(3) or ""))
    # Executables in deps/ are ours (test and bench binaries, services); their `.d` files too.
    executables = {stem for name, stem, ext in parsed
                   if ext == "" and os.access(os.path.join(deps, name), os.X_OK)}
    groups = defaultdict(list)
    for name, stem, ext in parsed:
        executable = ext in ("", ".d") and (stem in executables or stem in ours)
        library = stem.startswith("lib") and stem[3:] in ours
        if executable or library:
            groups[(stem, ext)].append(name)
    freed = 0
    for names in groups.values():
        names.sort(key=lambda n: os.path.getmtime(os.path.join(deps, n)), reverse=True)
        for stale in names[1:]:
            path = os.path.join(deps, stale)
            freed += os.path.getsize(path)
            os.remove(path)
    return freed


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target")
    ours = workspace_crates()
    total = 0
    for profile in ("debug", "release"):
        deps = os.path.join(target, profile, "deps")
        if os.path.isdir(deps):
            total += prune(deps, ours)
    print(f"prune_target: {total // 2**20} MiB of superseded builds removed from {target}")


if __name__ == "__main__":
    main()
