#!/usr/bin/env python3
"""Regenerates conf/cistern.properties and the key table in docs/configuration.md from
src/common/config_keys.inc, the one list of configuration keys."""
import pathlib, re

root = pathlib.Path(__file__).resolve().parent.parent
text = "\n".join(l for l in (root / "src/common/config_keys.inc").read_text().splitlines() if not l.lstrip().startswith("//")) + "\n"
keys = []
for m in re.finditer(r'CISTERN_CONFIG_KEY\((.*?)\)\n', text, re.S):
    args = re.findall(r'"((?:[^"\\]|\\.)*)"|(\bk[A-Za-z]+\b)', m.group(1))
    strings = [a for a, _ in args if a or _ == ""]
    idents = [b for _, b in args if b]
    # idents: [C++ name, type]; strings: [key, default, description, (allowed)]
    key, default, desc = strings[0], strings[1], strings[2]
    allowed = strings[3] if len(strings) > 3 else ""
    typ = idents[1][1:].lower()
    keys.append((key, typ, default, desc, allowed))

lines = ["# Cistern configuration. Every key, its type, default and meaning; uncomment to change.",
         "# Values: sizes take units (64MiB, 1GiB), durations take units (500ms, 30s, 5min).",
         "# Read from $CISTERN_CONF_DIR/cistern.properties; environment variables",
         "# (CISTERN_MASTER_RPC_PORT for master.rpc.port) and --conf key=value flags override it.",
         "# Generated from src/common/config_keys.inc by scripts/gen-properties.py.", ""]
section = None
for key, typ, default, desc, allowed in keys:
    sec = key.split(".")[0]
    if sec != section:
        lines += ["", f"## {sec}"]
        section = sec
    extra = f" One of: {allowed}." if allowed else ""
    lines.append(f"# ({typ}) {desc}.{extra}")
    lines.append(f"# {key}={default}")
(root / "conf/cistern.properties").write_text("\n".join(lines) + "\n")

table = ["| key | type | default | meaning |", "|---|---|---|---|"]
for key, typ, default, desc, allowed in keys:
    extra = f" One of `{allowed}`." if allowed else ""
    table.append(f"| `{key}` | {typ} | `{default}` | {desc}.{extra} |")
doc = root / "docs/configuration.md"
begin, end = "<!-- keys:begin -->", "<!-- keys:end -->"
if doc.exists():
    d = doc.read_text()
    if begin in d and end in d:
        d = d[: d.index(begin) + len(begin)] + "\n" + "\n".join(table) + "\n" + d[d.index(end):]
        doc.write_text(d)
print(f"{len(keys)} keys")
