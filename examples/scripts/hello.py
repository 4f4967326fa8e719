"""Counts loop iterations for a fixed time and reports them with where it ran, as JSON on stdout."""
import json
import os
import platform
import time

DURATION = float(os.environ.get("HELLO_SECONDS", "0.2"))

start = time.perf_counter()
iterations = 0
while time.perf_counter() - start < DURATION:
    iterations += 1
elapsed = time.perf_counter() - start

print(json.dumps({
    "greeting": os.environ.get("GREETING", ""),
    "item": os.environ.get("AMUN_ITEM"),
    "iterations": iterations,
    "iterations_per_second": round(iterations / elapsed),
    "python": platform.python_version(),
    "machine": platform.machine(),
    "system": platform.system(),
}))
