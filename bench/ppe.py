#!/usr/bin/env python3
"""Python's concurrent.futures.ProcessPoolExecutor with 2 workers on empty
tasks: the peer that bench/fresh.c (1000 tasks) and bench/workers.c (more)
run as one arm of their interleaved rounds, one interpreter per round.

    ppe.py --once N   one round of N tasks; prints microseconds per task

A round submits N tasks returning 42 and waits for every result; its time
includes starting and shutting down the executor (2 workers, reused for
every task), as forkpool's figures include starting and stopping children.
"""
import concurrent.futures
import sys
import time

WORKERS = 2


def empty():
    return 42


def one_round(tasks):
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS) as ex:
        for f in [ex.submit(empty) for _ in range(tasks)]:
            if f.result() != 42:
                raise RuntimeError("wrong result")
    return (time.perf_counter() - t0) / tasks * 1e6


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "--once" or not sys.argv[2].isdigit():
        sys.exit("usage: ppe.py --once N")
    print(f"{one_round(int(sys.argv[2])):.3f}")


if __name__ == "__main__":
    main()
