"""HNSW sweep child: hnswlib (C++) through Debian's python3-hnswlib.

Build: init_index(n, M=m, ef_construction=efConstruction, random_seed=100), add_items(rows,
num_threads=buildThreads) -- hnswlib's own parallel add, the build-time reference.
Search: set_num_threads(1), set_ef(ef), knn_query(q[i:i+1], k=k) per query.
Spaces: 'l2' for euclidean; 'cosine' (normalise + inner product) for the normalised dataset.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

spec = c.read_spec()
try:
    import numpy as np
    import hnswlib
except Exception as e:  # noqa: BLE001 - any import failure means "not available here"
    c.skip(spec, f"cannot import hnswlib/numpy with {sys.executable}: {type(e).__name__}: {e}")


def hnswlib_version():
    try:
        from importlib.metadata import version

        return version("hnswlib")
    except Exception:  # noqa: BLE001
        return getattr(hnswlib, "__version__", "unknown")


corpus, queries = c.load_data(spec, np)
d, k, n = spec["dim"], spec["k"], spec["corpusRows"]
space = "l2" if spec["metric"] == "euclidean" else "cosine"
threads = int(spec["buildThreads"])


def build():
    index = hnswlib.Index(space=space, dim=d)
    index.init_index(max_elements=n, M=spec["m"], ef_construction=spec["efConstruction"], random_seed=100)
    index.add_items(corpus, np.arange(n), num_threads=threads)
    return index


index, measure = c.measure_build(spec, build)
index.set_num_threads(1)


def prepare(ef):
    index.set_ef(ef)

    def search(i):
        labels, _ = index.knn_query(queries[i : i + 1], k=k, num_threads=1)
        return labels[0]

    return search


points, stopped = c.run_sweep(spec, np, corpus, queries, prepare)
c.sweep_report(
    spec, measure, points, stopped, threads,
    f"hnswlib.Index('{space}', {d}).init_index(n, M={spec['m']}, ef_construction={spec['efConstruction']}, random_seed=100); "
    f"add_items(rows, num_threads={threads}); set_num_threads(1); set_ef(ef); knn_query(q[i:i+1], k={k}) per query",
    version=f"hnswlib {hnswlib_version()} (Debian python3-hnswlib), numpy {np.__version__}",
)
