"""Helpers shared by the bench/ comparison scripts: find the esync binary, run it, read the
JSON it prints after its '#json' line, print a table and a JSON document, and give the PyTorch
references the process settings esync gives itself (reference_env)."""
import json, os, queue, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def esync_binary():
    path = os.environ.get("ESYNC", os.path.join(ROOT, "build", "esync"))
    if not os.path.exists(path):
        sys.exit(f"bench: {path} not found: build first (./launch/setup.sh) or set ESYNC=")
    return path


def reference_env(threads):
    """os.environ plus the settings esync applies to itself, for every PyTorch reference (and, for
    symmetry, every esync run) of a comparison: OpenBLAS and OpenMP capped at the intra-op thread
    count (src/train/threads.cpp: openblas_set_num_threads(n)) and glibc malloc's
    mallopt(M_MMAP_THRESHOLD, 256 MiB) and mallopt(M_TRIM_THRESHOLD, 1 GiB) (src/cli/main.cpp),
    here as glibc's environment tunables (mallopt(3); note the trailing underscore). They act only
    in a process started with them: glibc reads them at start, OpenBLAS when it is loaded."""
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MALLOC_MMAP_THRESHOLD_=str(256 << 20), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
    return env


def use_reference_env(threads):
    """Re-executes this script under reference_env(threads) unless it already runs under it (a
    bench script started it so), so a reference run by hand gets esync's settings too."""
    env = reference_env(threads)
    if any(os.environ.get(k) != env[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                 "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def run_esync(args, threads):
    out = subprocess.run([esync_binary()] + args, check=True, capture_output=True, text=True,
                         env=reference_env(threads)).stdout
    lines = out.splitlines()
    return json.loads(lines[lines.index("#json") + 1])


def write_pair(out, doc, ours, theirs, name):
    """An alternated esync-against-reference benchmark: adds both series, their medians and the
    ratios (per round and of the medians; `name` keys the reference) to doc, writes it as JSON to
    `out` and returns it."""
    import statistics
    mo, mt = statistics.median(ours), statistics.median(theirs)
    doc.update({"esync": ours, name: theirs, "ratio_per_round": [o / t for o, t in zip(ours, theirs)],
                "esync_median": mo, f"{name}_median": mt, "ratio": mo / mt})
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    return doc


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
