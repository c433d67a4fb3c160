"""`make bench`: every benchmark in turn; each writes its own section of docs/benchmarks.md."""

import subprocess
import sys

BENCHMARKS = [
    "bench.provision",
    "bench.events",
    "bench.image_copy",
    "bench.fanout",
    "bench.fleet_size",
    "bench.vm_changes",
    "bench.migration",
]

if __name__ == "__main__":
    failed = [name for name in BENCHMARKS if subprocess.run([sys.executable, "-m", name]).returncode != 0]
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")
