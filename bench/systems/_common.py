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
