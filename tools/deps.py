#!/usr/bin/env python3
"""Which file of src/ calls which, from the objects' symbol tables (a file
depends on the file that defines a symbol it uses), and whether any files
reach each other (a cycle). Exit 1 on a cycle.

Usage: tools/deps.py [OBJDIR]   (default build/obj)"""
import glob
import os
import subprocess
import sys

objdir = sys.argv[1] if len(sys.argv) > 1 else "build/obj"
defs, uses = {}, {}
for o in sorted(glob.glob(os.path.join(objdir, "*.o"))):
    f = os.path.basename(o)[:-2]
    uses[f] = set()
    for line in subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "TDBRC":
            defs[p[2]] = f
        elif len(p) == 2 and p[0] == "U":
            uses[f].add(p[1])
edges = {f: sorted({defs[s] for s in u if s in defs and defs[s] != f}) for f, u in uses.items()}

# Strongly connected components (Tarjan): any with more than one file is a cycle.
index, low, stack, on, comps = {}, {}, [], set(), []
def visit(v, n=[0]):
    index[v] = low[v] = n[0]; n[0] += 1
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        comps.append(c)
for v in edges:
    if v not in index:
        visit(v)
for f in sorted(edges):
    print(f"{f:10} -> {' '.join(edges[f]) or '(nothing)'}")
cycles = [sorted(c) for c in comps if len(c) > 1]
for c in cycles:
    print("cycle:", " ".join(c))
sys.exit(1 if cycles else 0)
