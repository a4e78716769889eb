"""Persistence benchmark child (bench/persist.ts): Debian python3-hnswlib save_index / load_index.

The spec arrives as JSON in argv[1]; one JSON line goes to stdout (a report, or a skip), progress to
stderr. Builds an HNSW index over the corpus file (init_index(n, M=m, ef_construction=efC,
random_seed=seed), add_items(rows, num_threads=threads)), records the answers to a few check
queries (set_ef(ef), knn_query one at a time), then `repeats` times save_index(path) and `repeats`
times load_index(path) into a fresh Index, timing each, and checks that the loaded index answers
the check queries with the same ids. The saved file stays at `path` for hnswlib-node to read (same
on-disk format).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

spec = json.loads(sys.argv[1])
threads = int(spec["threads"])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(threads)


def skip(reason):
    print(json.dumps({"skipped": True, "reason": reason}), flush=True)
    sys.exit(0)


try:
    import numpy as np
    import hnswlib
except Exception as e:  # noqa: BLE001
    skip(f"cannot import hnswlib/numpy with {sys.executable}: {type(e).__name__}: {e}")


def log(message):
    print(message, file=sys.stderr, flush=True)


def package_version():
    try:
        from importlib.metadata import version
        return version("hnswlib")
    except Exception:  # noqa: BLE001
        return getattr(hnswlib, "__version__", "?")


n, d, k = spec["n"], spec["dim"], spec["k"]
data = np.ascontiguousarray(np.fromfile(spec["dataPath"], dtype="<f4", count=n * d).reshape(n, d))
checks = np.ascontiguousarray(np.fromfile(spec["checkPath"], dtype="<f4", count=spec["checkRows"] * d).reshape(spec["checkRows"], d))
path = spec["path"]


def answers(index):
    index.set_num_threads(1)
    index.set_ef(spec["ef"])
    out = []
    for i in range(checks.shape[0]):
        labels, _ = index.knn_query(checks[i:i + 1], k=k)
        out.append([int(v) for v in labels[0]])
    return out


index = hnswlib.Index(space="l2", dim=d)
sw = c.Stopwatch()
index.init_index(max_elements=n, M=spec["m"], ef_construction=spec["efConstruction"], random_seed=spec["seed"])
index.add_items(data, np.arange(n), num_threads=threads)
build_wall, build_cpu = sw.read()
log(f"hnswlib: built {n} x {d} (M {spec['m']}, ef_construction {spec['efConstruction']}, {threads} threads) in {build_wall:.1f} s")
before = answers(index)

save = []
for _ in range(spec["repeats"]):
    if os.path.exists(path):
        os.remove(path)
    sw = c.Stopwatch()
    index.save_index(path)
    wall, cpu = sw.read()
    save.append({"wallSeconds": wall, "cpuSeconds": cpu})
size = os.path.getsize(path)
del index

load = []
loaded = None
for _ in range(spec["repeats"]):
    loaded = None
    fresh = hnswlib.Index(space="l2", dim=d)
    sw = c.Stopwatch()
    fresh.load_index(path, max_elements=0)
    wall, cpu = sw.read()
    load.append({"wallSeconds": wall, "cpuSeconds": cpu})
    loaded = fresh
after = answers(loaded)
same = sum(1 for a, b in zip(before, after) if a == b)
log(f"hnswlib: file {size / 1e6:.1f} MB, save {[round(s['wallSeconds'], 3) for s in save]} s, load {[round(s['wallSeconds'], 3) for s in load]} s, "
    f"{same}/{len(before)} check queries identical after load")
print(json.dumps({
    "version": f"hnswlib {package_version()} (Debian python3-hnswlib), numpy {np.__version__}",
    "buildWallSeconds": build_wall, "buildCpuSeconds": build_cpu, "threads": threads,
    "fileBytes": size, "save": save, "load": load, "checkAnswers": before, "identicalAfterLoad": same, "checkQueries": len(before),
    "calls": f"init_index(max_elements={n}, M={spec['m']}, ef_construction={spec['efConstruction']}, random_seed={spec['seed']}), "
             f"add_items(rows, num_threads={threads}); save_index(path); Index('l2', {d}).load_index(path, max_elements=0)",
}), flush=True)
