"""IVF benchmark child (bench/ivf.ts): FAISS k-means and IVF indexes through Debian's python3-faiss.

The spec arrives as JSON in argv[1]; one JSON line goes to stdout (a report, or a skip), progress to
stderr. Two modes:

- "kmeans": faiss.Kmeans(d, k, niter=niter, seed=seed) trained on all corpus rows with `threads`
  OpenMP threads (and OpenBLAS threads, set before the import); reports wall / CPU seconds and the
  objective per iteration.
- "index": one IVF configuration built over the corpus (train on all corpus rows, then add them)
  with `threads` OpenMP threads, then an nprobe sweep with omp_set_num_threads(1) and one
  search(q[i:i+1], k) call per query: `warmup` untimed queries, `passes` timed passes over all
  queries. The ids of every point go to `<idsPrefix>-np<nprobe>.i32` (int32 little-endian,
  queries x k); the parent computes recall.

Configurations (config.kind):
  flat       IndexIVFFlat(quantizer, d, nlist)
  pq         IndexIVFPQ(quantizer, d, nlist, m, nbits)
  pq-refine  IndexRefineFlat(IndexIVFPQ(...)), k_factor = config.kFactor
  pq4fs      IndexIVFPQFastScan(quantizer, d, nlist, m, 4) (fast-scan, 4-bit codes in blocks of 32)
  pq4fs-refine  IndexRefineFlat(IndexIVFPQFastScan(...)), k_factor = config.kFactor
  sq8        IndexIVFScalarQuantizer(quantizer, d, nlist, QT_8bit, METRIC_L2, by_residual=False)
             (ours quantises the vectors themselves with per-dimension min/max, not residuals)
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
# Idle OpenMP workers sleep instead of spinning: with libgomp's default (spin) on 2 cores, the
# spinning worker starves OpenBLAS's pthreads between FAISS's many small parallel regions and PQ
# training gets ~10x slower (17 s instead of 1.5 s for 28 sub-quantizers on 10k rows).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def skip(reason):
    print(json.dumps({"skipped": True, "reason": reason}), flush=True)
    sys.exit(0)


try:
    import numpy as np
    import faiss
except Exception as e:  # noqa: BLE001
    skip(f"cannot import faiss/numpy with {sys.executable}: {type(e).__name__}: {e}")

compile_options = faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else "?"
version = f"faiss {faiss.__version__} ({compile_options.strip()}), numpy {np.__version__}"


def log(message):
    print(message, file=sys.stderr, flush=True)


d, k = spec["dim"], spec["k"]
corpus = np.ascontiguousarray(
    np.fromfile(spec["corpusPath"], dtype="<f4", count=spec["corpusRows"] * d).reshape(spec["corpusRows"], d))
n = corpus.shape[0]


def run_kmeans():
    faiss.omp_set_num_threads(threads)
    km = faiss.Kmeans(d, spec["nlist"], niter=spec["niter"], seed=spec["seed"], verbose=False)
    sw = c.Stopwatch()
    km.train(corpus)
    wall, cpu = sw.read()
    obj = [float(v) for v in km.obj]
    trained_on = min(n, spec["nlist"] * km.cp.max_points_per_centroid)
    log(f"faiss.Kmeans k={spec['nlist']} niter={spec['niter']}: {wall:.1f} s wall, {cpu:.1f} CPU-s, objective {obj[-1]:.6g}")
    print(json.dumps({
        "wallSeconds": wall, "cpuSeconds": cpu, "threads": threads, "ompWaitPolicy": os.environ["OMP_WAIT_POLICY"], "objective": obj, "trainedOn": trained_on,
        "init": "random (FAISS default)", "version": version,
        "call": f"faiss.Kmeans({d}, {spec['nlist']}, niter={spec['niter']}, seed={spec['seed']}).train(x) with omp {threads} threads",
    }), flush=True)


def ivf_of(index):
    """The IndexIVF inside (IndexRefineFlat keeps it as base_index; extract_index_ivf does not look there)."""
    if isinstance(index, faiss.IndexRefine):
        return faiss.downcast_index(index.base_index)
    return faiss.downcast_index(faiss.extract_index_ivf(index))


def build_index(cfg):
    nlist = spec["nlist"]
    quantizer = faiss.IndexFlatL2(d)
    kind = cfg["kind"]
    if kind == "flat":
        index = faiss.IndexIVFFlat(quantizer, d, nlist)
        desc = f"IndexIVFFlat(IndexFlatL2({d}), {d}, {nlist})"
    elif kind in ("pq", "pq-refine"):
        index = faiss.IndexIVFPQ(quantizer, d, nlist, cfg["m"], cfg["nbits"])
        desc = f"IndexIVFPQ(IndexFlatL2({d}), {d}, {nlist}, {cfg['m']}, {cfg['nbits']})"
        if kind == "pq-refine":
            base = index
            index = faiss.IndexRefineFlat(base)
            index.k_factor = cfg["kFactor"]
            index._base = base  # keep the Python wrapper of the base alive
            desc = f"IndexRefineFlat({desc}), k_factor={cfg['kFactor']}"
    elif kind in ("pq4fs", "pq4fs-refine"):
        index = faiss.IndexIVFPQFastScan(quantizer, d, nlist, cfg["m"], 4)
        desc = f"IndexIVFPQFastScan(IndexFlatL2({d}), {d}, {nlist}, {cfg['m']}, 4)"
        if kind == "pq4fs-refine":
            base = index
            index = faiss.IndexRefineFlat(base)
            index.k_factor = cfg["kFactor"]
            index._base = base
            desc = f"IndexRefineFlat({desc}), k_factor={cfg['kFactor']}"
    elif kind == "sq8":
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2, False)
        desc = f"IndexIVFScalarQuantizer(IndexFlatL2({d}), {d}, {nlist}, QT_8bit, METRIC_L2, by_residual=False)"
    else:
        skip(f"unknown config kind {kind}")
    index._quantizer = quantizer
    ivf = ivf_of(index)
    ivf.cp.niter = spec["niter"]
    ivf.cp.seed = spec["seed"]
    if kind in ("pq", "pq-refine", "pq4fs", "pq4fs-refine"):
        ivf.pq.cp.niter = spec["niter"]
    return index, desc


def payload_bytes(index, kind):
    """Bytes of what the index holds: lists (codes + int64 ids), centroids, codebooks, tables, refine floats."""
    ivf = ivf_of(index)
    invlists = ivf.invlists
    entries = sum(invlists.list_size(i) for i in range(ivf.nlist))
    lists = entries * (ivf.code_size + 8)
    fixed = ivf.nlist * d * 4
    if kind in ("pq", "pq-refine", "pq4fs", "pq4fs-refine"):
        fixed += ivf.pq.M * ivf.pq.ksub * ivf.pq.dsub * 4
        try:
            fixed += ivf.precomputed_table.size() * 4
        except Exception:  # noqa: BLE001 (the fast-scan index keeps it in an AlignedTable)
            pass
    refine = n * d * 4 if kind.endswith("-refine") else 0
    return {"listBytes": lists, "fixedBytes": fixed, "refineBytes": refine, "codeSize": ivf.code_size,
            "total": lists + fixed + refine}


def run_index():
    cfg = spec["config"]
    index, desc = build_index(cfg)
    faiss.omp_set_num_threads(threads)
    rss0 = c.rss()
    sw = c.Stopwatch()
    index.train(corpus)
    train_wall, train_cpu = sw.read()
    sw = c.Stopwatch()
    index.add(corpus)
    add_wall, add_cpu = sw.read()
    memory = c.rss() - rss0
    payload = payload_bytes(index, cfg["kind"])
    log(f"{cfg['name']}: train {train_wall:.1f} s ({train_cpu:.1f} CPU-s), add {add_wall:.1f} s ({add_cpu:.1f} CPU-s), "
        f"{payload['total'] / n:.1f} B/vector payload")

    nq = spec["queryRows"]
    queries = np.ascontiguousarray(
        np.fromfile(spec["queriesPath"], dtype="<f4", count=nq * d).reshape(nq, d))
    faiss.omp_set_num_threads(1)
    # Let the build's OpenMP / OpenBLAS workers go idle (they spin for a while after their last
    # task and would be billed to the first timed pass).
    time.sleep(1.0)
    ivf = ivf_of(index)
    points = []
    for nprobe in spec["nprobes"]:
        ivf.nprobe = nprobe
        for i in range(min(spec["warmup"], nq)):
            index.search(queries[i:i + 1], k)
        ids = np.full((nq, k), -1, dtype=np.int64)
        passes = []
        for _ in range(spec["passes"]):
            sw = c.Stopwatch()
            for i in range(nq):
                _, found = index.search(queries[i:i + 1], k)
                ids[i] = found[0]
            wall, cpu = sw.read()
            passes.append({"wallSeconds": wall, "cpuSeconds": cpu})
        path = f"{spec['idsPrefix']}-np{nprobe}.i32"
        ids.astype("<i4").tofile(path)
        qps = sorted(nq / p["wallSeconds"] for p in passes)
        qpc = sorted(nq / max(p["cpuSeconds"], 1e-9) for p in passes)
        mid = len(qps) // 2
        med = (lambda v: v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2)
        points.append({"nprobe": nprobe, "queries": nq, "passes": passes, "qps": med(qps), "qpsPerCpuSecond": med(qpc), "idsPath": path})
        log(f"{cfg['name']} nprobe {nprobe:>3}: {med(qps):.0f} QPS, {med(qpc):.0f} QPS/CPU-s")
    print(json.dumps({
        "description": desc, "version": version, "threads": threads, "ompWaitPolicy": os.environ["OMP_WAIT_POLICY"],
        "trainWallSeconds": train_wall, "trainCpuSeconds": train_cpu, "addWallSeconds": add_wall, "addCpuSeconds": add_cpu,
        "rssGrowthBytes": memory, "payload": payload, "peakRssBytes": c.peak_rss(), "points": points,
        "search": f"omp 1 thread, nprobe set on the IVF, search(q[i:i+1], {k}) per query",
    }), flush=True)


if spec["mode"] == "kmeans":
    run_kmeans()
elif spec["mode"] == "index":
    run_index()
else:
    skip(f"unknown mode {spec['mode']}")
