#!/usr/bin/python3
"""Writes erf-vectors.json: Python's math.erf (CPython 3.11 on Debian: glibc's erf, < 1 ulp) at the
points erf.test.ts checks slalom's erf against. Run: /usr/bin/python3 test/kernels/float/erf-vectors.py"""
import json, math, os, sys

points = [k / 32 for k in range(-192, 193)]  # [-6, 6] in steps of 1/32
# Cody's interval ends (0.46875, 4) and their neighbours, tiny and huge arguments.
for t in (0.46875, 4.0, 26.543):
    points += [math.nextafter(t, 0), t, math.nextafter(t, math.inf)]
points += [1e-300, 5e-324, 1e-17, 1e-10, 3.3e-9, 1e-5, 0.1, 0.3, 0.999, 1.5, 2.5, 3.7, 4.5, 5.5, 7.0, 9.3, 12.0, 27.0, 1e10, 1e300]
points += [-p for p in points if p > 0.5]
points = sorted(set(points))
cases = [[x, math.erf(x)] for x in points]  # repr: shortest decimals that round-trip
doc = {
    "source": f"Python {sys.version.split()[0]} math.erf, by test/kernels/float/erf-vectors.py; cases are [x, erf(x)]",
    "cases": cases,
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "erf-vectors.json"), "w") as f:
    f.write('{\n"source": ' + json.dumps(doc["source"]) + ',\n"cases": [\n')
    f.write(",\n".join(json.dumps(c) for c in cases))
    f.write("\n]\n}\n")
