"""Durable-write benchmark child (bench/durable.ts): Python's sqlite3 in WAL mode, synchronous=FULL.

The spec arrives as JSON in argv[1]; one JSON line goes to stdout (a report, or a skip), progress to
stderr. Standard library only. The records are the parent's: `poolSize` vectors of `dim` float32
(little-endian, row-major) in spec.vectorPath and one JSON metadata object per line in
spec.metaPath; record i has id f"{prefix}{i}", vector row i % poolSize and metadata line
i % poolSize, exactly as the parent builds them for our store.

Table `items(id TEXT PRIMARY KEY, vector BLOB, metadata TEXT)`; a write of one batch is
`BEGIN IMMEDIATE; INSERT OR REPLACE ... (executemany); COMMIT` — the COMMIT is the durability
point (WAL append + fsync with synchronous=FULL). BEGIN IMMEDIATE takes the write lock up front, as
SQLite advises for writers (a deferred transaction that upgrades can fail with SQLITE_BUSY at once
instead of waiting). Metadata is serialised with json.dumps inside the timed section (our store
runs JSON.stringify inside upsert); vectors are pre-sliced bytes (ours gets Float32Array views).

mode "throughput": per cell {batch, writers} a fresh database file, `warmup` untimed single-record
writes, then writes until `seconds` have passed (at least `minCalls` calls; with writers > 1 every
writer thread has its own connection and loops until the deadline). Wall time, process CPU time
(resource.getrusage: all threads) and the records written.

mode "latency": per repeat, batch size and checkpoint mode in `checkpointModes` a fresh database
with wal_autocheckpoint=0 holding `records` rows, all in the WAL when the checkpoint starts: for
the first mode an idle open-loop run of `idleCalls` calls on a table loaded short by as many rows
(batches of `loadBatch`), for the others a full load; then an open-loop run while a second
connection (in a thread) runs `PRAGMA wal_checkpoint(MODE)`.
Open loop: call i is scheduled at t0 + i * interval and issued then (or as soon as the previous
call returns, if late); its latency counts from the scheduled time, so a stall counts against
every call scheduled during it. Calls scheduled after the checkpoint returned are not issued.
"""
import json
import os
import platform
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import log, skip_with as skip  # noqa: E402

spec = json.loads(sys.argv[1])
try:
    import sqlite3
except Exception as e:  # noqa: BLE001
    skip(f"cannot import sqlite3 with {sys.executable}: {type(e).__name__}: {e}")


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


dim, pool_size = spec["dim"], spec["poolSize"]
row_bytes = 4 * dim
with open(spec["vectorPath"], "rb") as f:
    raw = f.read()
if len(raw) != pool_size * row_bytes:
    skip(f"{spec['vectorPath']} holds {len(raw)} bytes, expected {pool_size * row_bytes}")
vectors = [raw[i * row_bytes:(i + 1) * row_bytes] for i in range(pool_size)]
del raw
with open(spec["metaPath"], encoding="utf8") as f:
    metas = [json.loads(line) for line in f]
if len(metas) != pool_size:
    skip(f"{spec['metaPath']} holds {len(metas)} lines, expected {pool_size}")

INSERT = "INSERT OR REPLACE INTO items (id, vector, metadata) VALUES (?, ?, ?)"


def connect(path, autocheckpoint=None):
    # isolation_level=None: no implicit transactions, BEGIN/COMMIT are ours. The busy timeout lets
    # a writer wait out a checkpoint (or another writer) instead of failing with SQLITE_BUSY.
    conn = sqlite3.connect(path, timeout=600, isolation_level=None, check_same_thread=False)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise RuntimeError(f"journal_mode is {mode}, not wal")
    conn.execute("PRAGMA synchronous=FULL")
    if autocheckpoint is not None:
        conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    return conn


def create(path, autocheckpoint=None):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    conn = connect(path, autocheckpoint)
    conn.execute("CREATE TABLE items (id TEXT PRIMARY KEY, vector BLOB, metadata TEXT)")
    return conn


def rows(prefix, start, count):
    out = []
    for i in range(start, start + count):
        j = i % pool_size
        out.append((f"{prefix}{i}", vectors[j], json.dumps(metas[j], separators=(",", ":"), ensure_ascii=False)))
    return out


def write(conn, prefix, start, count):
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT, rows(prefix, start, count))
    conn.execute("COMMIT")


def files_bytes(path):
    return sum(os.path.getsize(path + s) for s in ("", "-wal", "-shm") if os.path.exists(path + s))


def remove(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


# ---- throughput --------------------------------------------------------------------------------


def throughput_cell(path, batch, writers):
    conn = create(path)
    for i in range(spec["warmup"]):
        write(conn, "warm-", i, 1)
    counter = {"next": 0, "calls": 0}
    lock = threading.Lock()
    seconds = spec["seconds"]

    def take():
        with lock:
            start = counter["next"]
            counter["next"] += batch
            counter["calls"] += 1
            return start

    def worker(c, min_calls):
        mine = 0
        while mine < min_calls or time.perf_counter() < deadline:
            write(c, "doc-", take(), batch)
            mine += 1

    conns = [conn] + [connect(path) for _ in range(writers - 1)]
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    if writers == 1:
        worker(conn, spec["minCalls"])
    else:
        threads = [threading.Thread(target=worker, args=(c, 1)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    disk = files_bytes(path)
    for c in conns:
        c.close()
    remove(path)
    return {"batch": batch, "writers": writers, "records": counter["next"], "calls": counter["calls"],
            "wallSeconds": wall, "cpuSeconds": cpu, "diskBytes": disk}


# ---- latency -----------------------------------------------------------------------------------


def open_loop(conn, batch, interval, state, t0, calls=None):
    """Latencies (s) of calls scheduled every `interval` from t0 (`calls` of them, or while a fold
    runs) and the issue lags: how late a call whose time came while the client was idle was issued."""
    lat, lags = [], []
    i = 0
    last_done = t0

    def stopped(sched):
        if calls is not None:
            return i >= calls
        end = state["end"]
        return end is not None and sched >= end

    while True:
        sched = t0 + i * interval
        if stopped(sched):
            break
        while True:
            now = time.perf_counter()
            if now >= sched:
                break
            time.sleep(sched - now)
            if stopped(sched):
                break
        if stopped(sched):
            break
        issued = time.perf_counter()
        write(conn, "lat-", state["ids"], batch)
        state["ids"] += batch
        lat.append(time.perf_counter() - sched)
        if i == 0 or sched >= last_done:
            lags.append(issued - sched)
        last_done = time.perf_counter()
        i += 1
    return {"latencies": lat, "lags": lags}


def during_checkpoint(path, conn, batch, interval, mode, state):
    result = {}
    state["end"] = None

    c = connect(path)

    def fold():
        t = time.perf_counter()
        busy, log_frames, checkpointed = c.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        state["end"] = time.perf_counter()
        result.update(foldSeconds=state["end"] - t, busy=busy, logFrames=log_frames, checkpointedFrames=checkpointed)
        c.close()

    t0 = time.perf_counter()
    thread = threading.Thread(target=fold)
    thread.start()
    result.update(open_loop(conn, batch, interval, state, t0))
    thread.join()
    return result


def load(conn, n, load_batch):
    t = time.perf_counter()
    for start in range(0, n, load_batch):
        write(conn, "doc-", start, min(load_batch, n - start))
    return time.perf_counter() - t


def latency(path):
    n, load_batch = spec["records"], spec["loadBatch"]
    state = {"ids": 0, "end": None}
    runs, loads = [], []
    for r in range(spec["repeats"]):
        for batch in spec["batches"]:
            interval = spec["intervals"][str(batch)]
            run = {"repeat": r, "batch": batch, "intervalSeconds": interval}
            idle_calls = spec["idleCalls"][str(batch)]
            for k, mode in enumerate(spec["checkpointModes"]):
                # A fresh database per fold. Before the first mode's, an idle run whose rows
                # complete the table (it is loaded short by as many), so that every fold starts
                # with exactly `records` rows in the WAL.
                conn = create(path, autocheckpoint=0)
                loads.append(load(conn, max(0, n - idle_calls * batch) if k == 0 else n, load_batch))
                if k == 0:
                    run["idle"] = open_loop(conn, batch, interval, state, time.perf_counter(), calls=idle_calls)
                wal = os.path.getsize(path + "-wal")
                res = during_checkpoint(path, conn, batch, interval, mode, state)
                res["walBytesBefore"] = wal
                run[mode] = res
                log(f"sqlite {dim}-d batch {batch}: wal_checkpoint({mode}) of {wal / 1e6:.0f} MB WAL in {res['foldSeconds']:.2f} s "
                    f"(busy {res['busy']}), {len(res['latencies'])} writes during it")
                conn.close()
                remove(path)
            runs.append(run)
    loads.sort()
    return {"loadSeconds": loads[len(loads) // 2], "records": n, "runs": runs}


version = f"SQLite {sqlite3.sqlite_version} (Python {platform.python_version()} sqlite3)"
path = os.path.join(spec["dir"], f"sqlite-{dim}.db")
os.makedirs(spec["dir"], exist_ok=True)
if spec["mode"] == "throughput":
    cells = [throughput_cell(path, c["batch"], c["writers"]) for c in spec["cells"]]
    for c in cells:
        log(f"sqlite {dim}-d batch {c['batch']} x {c['writers']} writers: {c['records'] / c['wallSeconds']:,.0f} records/s")
    print(json.dumps({"version": version, "cells": cells}), flush=True)
elif spec["mode"] == "latency":
    print(json.dumps({"version": version, **latency(path)}), flush=True)
else:
    skip(f"unknown mode {spec['mode']}")
