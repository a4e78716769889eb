"""HNSW sweep child: FAISS IndexHNSWFlat through Debian's python3-faiss.

Build: IndexHNSWFlat(d, m[, METRIC_INNER_PRODUCT for the normalised cosine dataset]),
hnsw.efConstruction = efConstruction, add(rows) with buildThreads OpenMP threads.
Search: omp_set_num_threads(1), hnsw.efSearch = ef, search(q[i:i+1], k) per query.
The parent sets OMP_NUM_THREADS to buildThreads before the interpreter starts.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

spec = c.read_spec()
threads = int(spec["buildThreads"])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(threads)
try:
    import numpy as np
    import faiss
except Exception as e:  # noqa: BLE001
    c.skip(spec, f"cannot import faiss/numpy with {sys.executable}: {type(e).__name__}: {e}")

compile_options = faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else "?"
version = f"faiss {faiss.__version__} ({compile_options.strip()}), numpy {np.__version__}"
corpus, queries = c.load_data(spec, np)
d, k = spec["dim"], spec["k"]
inner = spec["metric"] != "euclidean"


def build():
    faiss.omp_set_num_threads(threads)
    if inner:
        index = faiss.IndexHNSWFlat(d, spec["m"], faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexHNSWFlat(d, spec["m"])
    index.hnsw.efConstruction = spec["efConstruction"]
    index.add(corpus)
    return index


index, measure = c.measure_build(spec, build)
faiss.omp_set_num_threads(1)


def prepare(ef):
    index.hnsw.efSearch = ef

    def search(i):
        _, ids = index.search(queries[i : i + 1], k)
        return ids[0]

    return search


points, stopped = c.run_sweep(spec, np, corpus, queries, prepare)
metric = "METRIC_INNER_PRODUCT" if inner else "METRIC_L2"
c.sweep_report(
    spec, measure, points, stopped, threads,
    f"IndexHNSWFlat({d}, {spec['m']}, {metric}), hnsw.efConstruction={spec['efConstruction']}, add with omp {threads} threads; "
    f"omp 1 thread, hnsw.efSearch=ef, search(q[i:i+1], {k}) per query",
    version=version,
)
