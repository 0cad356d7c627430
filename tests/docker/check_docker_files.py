#!/usr/bin/env python3
"""Checks docker/Dockerfile and docker/compose.yaml as far as a machine without a container
engine can (docker build cannot run here):

- the Dockerfile builds with the scripts CI runs (scripts/install-deps.sh, scripts/build.sh),
  which exist, and copies the three binaries the build produces;
- its runtime packages are real Debian 12 packages (installed here as dependencies of the build
  packages, so dpkg knows them) and cover every shared library the built binaries link;
- compose.yaml parses, has 3 masters, 2 workers and an S3 service, and every CISTERN_* variable
  in it names a declared configuration key (conf/cistern.properties).
"""
import os
import re
import subprocess
import sys

import yaml

src = os.environ.get("CISTERN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
build = os.environ.get("CISTERN_BUILD_DIR", os.path.join(src, "build"))
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


dockerfile = open(os.path.join(src, "docker", "Dockerfile")).read()
check(re.search(r"^FROM debian:12 AS build$", dockerfile, re.M), "build stage is not FROM debian:12")
check(re.search(r"^FROM debian:12-slim AS runtime$", dockerfile, re.M), "runtime stage is not FROM debian:12-slim")
for script in ("scripts/install-deps.sh", "scripts/build.sh"):
    check(script in dockerfile, f"Dockerfile does not run {script}")
    check(os.access(os.path.join(src, script), os.X_OK), f"{script} is missing or not executable")
check("CISTERN_DEPS=build" in dockerfile and "CISTERN_DEPS" in open(os.path.join(src, "scripts/install-deps.sh")).read(),
      "install-deps.sh has no build-only mode the Dockerfile uses")
for binary in ("cistern-master", "cistern-worker", "cistern"):
    check(f"/build/bin/{binary}" in dockerfile, f"Dockerfile does not install {binary}")

runtime = dockerfile[dockerfile.index("AS runtime"):]
packages = re.findall(r"\b(lib[a-z0-9.+-]+|ca-certificates)\b", runtime.split("rm -rf")[0])
packages = sorted(set(p for p in packages if p != "libs"))
for p in packages:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True)
    check(r.returncode == 0, f"runtime package {p} is not a known Debian package here")

# Every library the binaries link directly must come from a listed runtime package (or libc /
# the compiler runtime, which debian:12-slim has).
base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
owners = {}
for binary in ("cistern-master", "cistern-worker", "cistern"):
    path = os.path.join(build, "bin", binary)
    if not os.path.exists(path):
        failures.append(f"{path} not built")
        continue
    needed = subprocess.run(["objdump", "-p", path], capture_output=True, text=True).stdout
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", path], capture_output=True, text=True).stdout, re.M))
    for lib in re.findall(r"NEEDED\s+(\S+)", needed):
        if lib.startswith("ld-linux"):
            continue  # the dynamic loader, part of libc6
        where = resolved.get(lib, "")
        if where in owners:
            check(owners[where] in packages or owners[where] in base, f"{binary} needs {lib} from {owners[where]}")
            continue
        owner = ""
        for candidate in (where, os.path.realpath(where) if where else ""):
            if not candidate:
                continue
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        owners[where] = owner
        check(owner in packages or owner in base, f"{binary} needs {lib} ({where}) from {owner or '?'}, not in the runtime stage")

compose = yaml.safe_load(open(os.path.join(src, "docker", "compose.yaml")))
services = compose.get("services", {})
masters = [s for s, v in services.items() if v.get("command") == ["cistern-master"]]
workers = [s for s, v in services.items() if v.get("command") == ["cistern-worker"]]
check(len(masters) == 3, f"compose has {len(masters)} masters, want 3")
check(len(workers) == 2, f"compose has {len(workers)} workers, want 2")
check(any("minio" in str(v.get("image", "")) for v in services.values()), "compose has no S3-compatible server")

keys = set()
for line in open(os.path.join(src, "conf", "cistern.properties")):
    m = re.match(r"^#?\s*([a-z][a-z0-9_.]+)\s*=", line)
    if m:
        keys.add(m.group(1))
env_names = {"CISTERN_" + re.sub(r"[^A-Z0-9]", "_", k.upper()) for k in keys}
for service, v in services.items():
    for name in (v.get("environment") or {}):
        if name.startswith("CISTERN_") and name != "CISTERN_CONF_DIR":
            check(name in env_names, f"compose service {service}: {name} is no configuration key")
for name in re.findall(r"\b(CISTERN_[A-Z_]+)=", dockerfile):
    check(name == "CISTERN_CONF_DIR" or name == "CISTERN_DEPS" or name in env_names, f"Dockerfile: {name} is no configuration key")

for f in failures:
    print("FAIL:", f)
print(f"{len(packages)} runtime packages, {len(services)} compose services checked")
sys.exit(1 if failures else 0)
