"""Each benchmark child's own peak RSS, written at exit to $BENCH_PEAK_RSS_FILE (bench/measure.py).

ru_maxrss from wait4 cannot be used: when a process execs, Linux records the high-water RSS of the
memory it leaves into the new program's maxrss, and subprocess starts children with vfork, so that
memory is the parent's. A benchmark parent holding 600 MB of recorded pages made every child "peak"
at 650 MB. VmHWM in /proc/self/status belongs to the child's own address space. This file reaches
every Python child (Rooftop's venv and dlt's) because measure.py puts its folder first on PYTHONPATH.
"""

import atexit
import os


def _write_peak() -> None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(os.environ["BENCH_PEAK_RSS_FILE"], "w") as out:
                    out.write(line.split()[1])  # KiB
                return


if os.environ.get("BENCH_PEAK_RSS_FILE"):
    atexit.register(_write_peak)
