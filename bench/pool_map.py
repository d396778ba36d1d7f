#!/usr/bin/env python3
"""Python's multiprocessing.Pool.map with 2 worker processes over trivial
items (x -> x * 2 + 1): the peer of forkpool_map.

Two variants, run in interleaved rounds:
  chunksize=1   one item per round trip to a worker. At ~10-50 us an item,
                1,000,000 items would take minutes per round, so this variant
                maps fewer items (50,000; 5,000 with BENCH_QUICK=1) and
                reports the time per item.
  default       Pool.map's own chunksize (len / (4 * workers), rounded up):
                1,000,000 items (100,000 with BENCH_QUICK=1).
A round's time includes creating the Pool and closing and joining it, as
forkpool's figures include starting and stopping its workers; the results
are checked.

    pool_map.py --once CHUNKSIZE N   one round (CHUNKSIZE 0: the default);
                                     prints microseconds per item
    pool_map.py                      both variants; prints the measurement
                                     lines of bench/bench.h's output contract
"""
import multiprocessing
import os
import statistics
import sys
import time

WORKERS = 2


def trivial(x):
    return x * 2 + 1


def one_round(chunksize, n):
    items = list(range(n))
    t0 = time.perf_counter()
    with multiprocessing.Pool(WORKERS) as pool:
        out = pool.map(trivial, items, chunksize or None)
        pool.close()
        pool.join()
    us = (time.perf_counter() - t0) / n * 1e6
    if out != [x * 2 + 1 for x in items]:
        raise RuntimeError("wrong results")
    return us


def quick():
    return os.environ.get("BENCH_QUICK", "0") not in ("", "0")


def rounds(full, quick_rounds):
    r = os.environ.get("BENCH_ROUNDS", "")
    if r.isdigit() and 1 <= int(r) <= 64:
        return int(r)
    return quick_rounds if quick() else full


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--once":
        print(f"{one_round(int(sys.argv[2]), int(sys.argv[3])):.4f}")
        return
    n1 = 5000 if quick() else 50000
    nd = 100000 if quick() else 1000000
    one_round(1, n1 // 10)  # warm-up
    one_round(0, nd // 10)
    r1, rd = [], []
    for _ in range(rounds(5, 2)):
        r1.append(one_round(1, n1))
        rd.append(one_round(0, nd))
    method = multiprocessing.get_start_method()
    for key, v, what in (
        ("py.poolmap1", r1, f"Pool.map chunksize=1, {WORKERS} workers ({method}), "
                            f"per item measured on {n1:,} items"),
        ("py.poolmap_default", rd, f"Pool.map default chunksize, {WORKERS} workers "
                                   f"({method}), {nd:,} items"),
    ):
        print(f"M\t{key}\t{statistics.median(v):.4g}\t{min(v):.4g}\t{max(v):.4g}\tus/item\t{what}")


if __name__ == "__main__":
    main()
