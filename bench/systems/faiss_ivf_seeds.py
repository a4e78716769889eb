"""FAISS side of bench/ivf-seeds.ts: IVF-Flat recall@10 at small nprobe for several k-means seeds.

usage: python3 faiss_ivf_seeds.py <nlist> <niter> <nq> <seed,seed,...> <nprobe,nprobe,...>
Prints one JSON line: {"seeds": {seed: [recall per nprobe]}}.
"""
import gzip
import json
import sys

import faiss
import numpy as np

DIR = "/usr/share/datasets/fashion-mnist"


def images(name):
    data = gzip.open(f"{DIR}/{name}").read()
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 784).astype(np.float32)


def main():
    nlist, niter, nq = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    seeds = [int(s) for s in sys.argv[4].split(",")]
    nprobes = [int(p) for p in sys.argv[5].split(",")]
    xb = images("train-images-idx3-ubyte.gz")
    xq = images("t10k-images-idx3-ubyte.gz")[:nq]
    flat = faiss.IndexFlatL2(xb.shape[1])
    flat.add(xb)
    _, truth = flat.search(xq, 10)
    out = {}
    for seed in seeds:
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(xb.shape[1]), xb.shape[1], nlist)
        ivf.cp.niter = niter
        ivf.cp.seed = seed
        ivf.train(xb)
        ivf.add(xb)
        recalls = []
        for nprobe in nprobes:
            ivf.nprobe = nprobe
            _, found = ivf.search(xq, 10)
            hits = sum(len(set(found[i]) & set(truth[i])) for i in range(nq))
            recalls.append(hits / (nq * 10))
        out[seed] = recalls
        print(f"faiss seed {seed}: {recalls}", file=sys.stderr, flush=True)
    print(json.dumps({"seeds": out}))


main()
