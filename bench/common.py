"""Helpers shared by the bench/ comparison scripts: find the esync binary, run it, read the
JSON it prints after its '#json' line, print a table and a JSON document."""
import json, os, queue, socket, subprocess, sys, time

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


def run_world(worker, a, world, timeout_s):
    """Spawns `world` processes worker(rank, a, port, out) on a free loopback port (torch's gloo
    rendezvous) and returns what rank 0 puts on `out`. A rank that dies, or no answer within
    timeout_s, stops them all with a one-line error instead of leaving the rest in an allreduce."""
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, a, port, out)) for r in range(world)]
    for p in procs:
        p.start()
    deadline = time.time() + timeout_s
    try:
        while True:
            try:
                res = out.get(timeout=1)
                break
            except queue.Empty:
                dead = [r for r, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if dead or time.time() > deadline:
                    sys.exit(f"rank {dead[0]} exited with {procs[dead[0]].exitcode}" if dead else
                             f"no result from rank 0 within {timeout_s} s")
        for p in procs:
            p.join(60)
        return res
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
