"""Helpers for Python benchmark children (same contract as bench/lib/child.ts / protocol.ts).

The spec arrives as JSON in argv[1]; the child prints exactly one JSON line on stdout (a report or a
skip) and writes the ids it found as int32 little-endian (queries x k, -1 for none) to spec.idsPath.
"""
import json
import os
import resource
import sys
import time


def read_spec():
    return json.loads(sys.argv[1])


def skip(spec, reason):
    print(json.dumps({"system": spec["system"], "mode": spec["mode"], "skipped": True, "reason": reason}), flush=True)
    sys.exit(0)


def skip_with(reason):
    """The skip line of a child outside the query protocol (persistence, durable writes)."""
    print(json.dumps({"skipped": True, "reason": reason}), flush=True)
    sys.exit(0)


def log(message):
    """A progress line on stderr (the parent echoes it, prefixed)."""
    print(message, file=sys.stderr, flush=True)


def load_data(spec, np):
    d = spec["dim"]
    corpus = np.fromfile(spec["corpusPath"], dtype="<f4", count=spec["corpusRows"] * d).reshape(spec["corpusRows"], d)
    queries = np.fromfile(spec["queriesPath"], dtype="<f4", count=spec["queryRows"] * d).reshape(spec["queryRows"], d)
    return np.ascontiguousarray(corpus), np.ascontiguousarray(queries)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Stopwatch:
    def __init__(self):
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def read(self):
        return time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def run_single(spec, search):
    """warmup untimed calls, then timed calls until queryRows are done or the time budget is spent."""
    k, n = spec["k"], spec["queryRows"]
    for i in range(min(spec["warmup"], n)):
        search(i)
    ids = [-1] * (n * k)
    budget = spec["timeBudgetSeconds"]
    sw = Stopwatch()
    done = 0
    while done < n:
        found = search(done)
        for j, v in enumerate(found[:k]):
            ids[done * k + j] = int(v)
        done += 1
        if time.perf_counter() - sw.wall0 > budget:
            break
    wall, cpu = sw.read()
    return done, ids[: done * k], wall, cpu


def report(spec, queries, ids, wall, cpu, build_seconds, memory_bytes, notes, version=None, threads=None):
    import array

    arr = array.array("i", ids)
    if sys.byteorder != "little":
        arr.byteswap()
    with open(spec["idsPath"], "wb") as f:
        arr.tofile(f)
    out = {
        "system": spec["system"],
        "mode": spec["mode"],
        "threads": threads if threads is not None else spec["threads"],
        "queries": queries,
        "wallSeconds": wall,
        "cpuSeconds": cpu,
        "qps": queries / wall,
        "qpsPerCpuSecond": queries / max(cpu, 1e-9),
        "buildSeconds": build_seconds,
        "memoryBytes": memory_bytes,
        "peakRssBytes": peak_rss(),
        "notes": notes,
        "idsPath": spec["idsPath"],
    }
    if version is not None:
        out["version"] = version
    print(json.dumps(out), flush=True)


# ---- HNSW sweeps (same contract as bench/lib/sweep.ts) -------------------------------------------


def progress(spec, message):
    """Progress line on stderr (the parent echoes it, prefixed with system/dataset)."""
    print(message, file=sys.stderr, flush=True)


def measure_build(spec, build):
    """Runs build() between RSS readings and a wall + CPU stopwatch; returns (value, measure dict)."""
    progress(spec, f"building {spec['corpusRows']} x {spec['dim']} (m {spec['m']}, efConstruction {spec['efConstruction']})")
    rss0 = rss()
    sw = Stopwatch()
    value = build()
    wall, cpu = sw.read()
    memory = rss() - rss0
    progress(spec, f"built in {wall:.1f} s wall, {cpu:.1f} CPU-s, RSS +{memory / 2**20:.1f} MB")
    return value, {"wallSeconds": wall, "cpuSeconds": cpu, "memoryBytes": memory}


def _distance64(np, metric, corpus, queries, ids, q0, q1):
    """float64 distances of ids (rows q0..q1 of queries x k, all valid) in the reference metric."""
    rows = corpus[ids].astype(np.float64)  # (m, k, d)
    qs = queries[q0:q1].astype(np.float64)[:, None, :]
    if metric == "cosine":
        dot = (rows * qs).sum(axis=2)
        na = (rows * rows).sum(axis=2)
        nb = (qs * qs).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = 1.0 - dot / np.sqrt(na * nb)
        return np.where((na > 0) & (nb > 0), d, 1.0)
    diff = rows - qs
    return (diff * diff).sum(axis=2)


def tie_aware_recall(np, spec, found, gt, kth, corpus, queries):
    """recall@k counting ids within the k-th true distance (bench/lib/exact.ts recall, tieAware)."""
    k, n = spec["k"], spec["corpusRows"]
    slack = 1e-6 if spec["metric"] == "cosine" else 1e-12
    hits = 0
    chunk = 256
    for q0 in range(0, found.shape[0], chunk):
        q1 = min(found.shape[0], q0 + chunk)
        f = found[q0:q1]
        d = _distance64(np, spec["metric"], corpus, queries, np.where((f >= 0) & (f < n), f, 0), q0, q1)
        limit = kth[q0:q1] * (1 + 1e-5) + slack
        for r in range(q1 - q0):
            truth = set(gt[q0 + r].tolist())
            seen = set()
            for j in range(k):
                v = int(f[r, j])
                if not (0 <= v < n) or v in seen:
                    continue
                seen.add(v)
                if v in truth or d[r, j] <= limit[r]:
                    hits += 1
    return hits / (found.shape[0] * k)


def run_sweep(spec, np, corpus, queries, prepare):
    """efSearch sweep: prepare(ef) returns search(i) -> ids of query i; see bench/lib/sweep.ts runSweep."""
    k, nq = spec["k"], spec["queryRows"]
    gt = np.fromfile(spec["groundTruthPath"], dtype="<i4", count=nq * k).reshape(nq, k)
    kth = np.fromfile(spec["kthPath"], dtype="<f8", count=nq)
    points = []
    efs = spec["efSearch"]
    for e, ef in enumerate(efs):
        search = prepare(ef)
        for i in range(min(spec["warmup"], nq)):
            search(i)
        passes = []
        ids = np.full((nq, k), -1, dtype=np.int64)
        for _ in range(spec["passes"]):
            ids.fill(-1)
            sw = Stopwatch()
            for i in range(nq):
                found = search(i)
                ids[i, : len(found)] = found[:k]
            wall, cpu = sw.read()
            passes.append({"wallSeconds": wall, "cpuSeconds": cpu})
        ids_path = f"{spec['idsPrefix']}-ef{ef}.i32"
        ids.astype("<i4").tofile(ids_path)
        rc = tie_aware_recall(np, spec, ids, gt, kth, corpus, queries)
        qps = sorted(nq / p["wallSeconds"] for p in passes)
        qpc = sorted(nq / max(p["cpuSeconds"], 1e-9) for p in passes)

        def med(v):
            m = len(v) // 2
            return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2

        point = {"ef": ef, "queries": nq, "passes": passes, "qps": med(qps), "qpsPerCpuSecond": med(qpc),
                 "childRecall": rc, "idsPath": ids_path}
        points.append(point)
        progress(spec, f"ef {ef:>3}: recall@{k} {rc:.4f}, {point['qps']:.0f} QPS, {point['qpsPerCpuSecond']:.0f} QPS/CPU-s")
        if e == len(efs) - 1:
            break
        if rc >= spec["stopRecall"]:
            return points, f"recall {rc:.4f} >= {spec['stopRecall']} at ef {ef}"
        if point["qps"] < spec["minQps"]:
            return points, f"QPS {point['qps']:.0f} < {spec['minQps']} at ef {ef}"
    return points, None


def sweep_report(spec, build, points, stopped, build_threads, notes, version=None):
    out = {
        "system": spec["system"],
        "dataset": spec["dataset"],
        "buildWallSeconds": build["wallSeconds"],
        "buildCpuSeconds": build["cpuSeconds"],
        "buildThreads": build_threads,
        "memoryBytes": build["memoryBytes"],
        "peakRssBytes": peak_rss(),
        "notes": notes,
        "points": points,
    }
    if version is not None:
        out["version"] = version
    if stopped is not None:
        out["stoppedEarly"] = stopped
    print(json.dumps(out), flush=True)
