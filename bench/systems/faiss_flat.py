"""Benchmark child: FAISS IndexFlatL2 (exact), through Debian's python3-faiss.
(metric cosine: IndexFlatIP on L2-normalised rows; the HNSW suite's ground-truth fallback.)

single: one index.search(q[i:i+1], k) per query with omp_set_num_threads(1).
batch:  one index.search(all queries, k) with all cores (BLAS sgemm path for nq >= 20).
The parent sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS for the mode; we set them again before
importing faiss in case this script is run by hand.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

spec = c.read_spec()
threads = 1 if spec["mode"] == "single" else int(spec["threads"])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(threads)

try:
    import numpy as np
    import faiss
except Exception as e:  # noqa: BLE001 - any import failure means "not available here"
    c.skip(spec, f"cannot import faiss/numpy with {sys.executable}: {type(e).__name__}: {e}")

if spec["metric"] not in ("euclidean", "cosine"):
    c.skip(spec, "faiss_flat.py implements euclidean (IndexFlatL2) and cosine (IndexFlatIP on normalised rows)")
cosine = spec["metric"] == "cosine"

faiss.omp_set_num_threads(threads)
compile_options = faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else "?"
version = f"faiss {faiss.__version__} ({compile_options.strip()}), numpy {np.__version__}"

corpus, queries = c.load_data(spec, np)
d, k = spec["dim"], spec["k"]
if cosine:
    # cosine = inner product of L2-normalised rows (used for the HNSW suite's ground truth fallback)
    faiss.normalize_L2(corpus)
    faiss.normalize_L2(queries)

rss0 = c.rss()
sw = c.Stopwatch()
index = faiss.IndexFlatIP(d) if cosine else faiss.IndexFlatL2(d)
index.add(corpus)
build_seconds = sw.read()[0]
memory_bytes = c.rss() - rss0

if spec["mode"] == "single":
    def search(i):
        _, ids = index.search(queries[i : i + 1], k)
        return ids[0]

    done, ids, wall, cpu = c.run_single(spec, search)
    c.report(spec, done, ids, wall, cpu, build_seconds, memory_bytes,
             "IndexFlatL2.search(q[i:i+1], k) per query, omp threads 1", version=version, threads=1)
else:
    warm = min(spec["warmup"], spec["queryRows"])
    if warm > 0:
        index.search(queries[:warm], k)
    sw = c.Stopwatch()
    _, ids = index.search(queries, k)
    wall, cpu = sw.read()
    c.report(spec, spec["queryRows"], ids.astype("<i4").ravel().tolist(), wall, cpu, build_seconds, memory_bytes,
             f"IndexFlatL2.search(all queries, k), omp threads {threads}, OpenBLAS threads {threads}", version=version)
