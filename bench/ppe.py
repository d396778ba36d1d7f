#!/usr/bin/env python3
"""Python's concurrent.futures.ProcessPoolExecutor on the `fresh` workload:
1000 empty tasks with 2 workers, for comparison with bench/fresh.c.

Not like for like: the executor starts 2 workers once and reuses them, so a
task costs a pickle round trip over a pipe, not a process. The time includes
starting and shutting down the executor. Output follows bench/bench.h:
table rows start with "|", placeholder values are "BENCH key value" lines.
"""
import concurrent.futures
import multiprocessing
import statistics
import time

TASKS, WORKERS, ROUNDS = 1000, 2, 5


def empty():
    return 42


def one_round():
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS) as ex:
        for f in [ex.submit(empty) for _ in range(TASKS)]:
            f.result()
    return (time.perf_counter() - t0) / TASKS * 1e6


def main():
    one_round()  # warm-up: imports, page cache
    us = [one_round() for _ in range(ROUNDS)]
    med = statistics.median(us)
    method = multiprocessing.get_start_method()
    print(f"| python ProcessPoolExecutor, {TASKS} empty tasks, {WORKERS} reused workers "
          f"({method}), incl. start-up | {med:.1f} us/task | {min(us):.1f}..{max(us):.1f} | | |")
    print(f"BENCH ppe_us {med:.1f}")


if __name__ == "__main__":
    main()
