"""Helpers shared by the bench/ comparison scripts: find the esync binary, run it, read the
JSON it prints after its '#json' line, print a table and a JSON document."""
import json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def esync_binary():
    path = os.environ.get("ESYNC", os.path.join(ROOT, "build", "esync"))
    if not os.path.exists(path):
        sys.exit(f"bench: {path} not found: build first (./launch/setup.sh) or set ESYNC=")
    return path


def run_esync(args):
    out = subprocess.run([esync_binary()] + args, check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    return json.loads(lines[lines.index("#json") + 1])


def print_table(title, columns, rows, doc):
    widths = [max(len(c), *(len(fmt(r[i])) for r in rows)) for i, c in enumerate(columns)]
    print(f"# {title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(fmt(v).rjust(w) for v, w in zip(r, widths)))
    print("#json")
    print(json.dumps(doc))


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
