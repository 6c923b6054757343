"""How long the command line takes before it does anything: ``tagger --help``,
``tagger train --help`` and ``import tagger`` against a bare ``python -c pass``, in
interleaved rounds (the machine is noisy, so each command's time is the median of its
rounds and reported as seconds over the bare interpreter in the same run).

    python bench/startup.py                        # this checkout
    python bench/startup.py --tree /tmp/before     # another checkout (e.g. a git worktree of an older commit)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchutil import ROOT, write_result

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import tagger": ["-c", "import tagger"],
    "tagger --help": ["-m", "tagger", "--help"],
    "tagger train --help": ["-m", "tagger", "train", "--help"],
    "tagger predict --help": ["-m", "tagger", "predict", "--help"],
}


def time_once(args: list[str], tree: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system: much less disturbed by other load)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="The checkout to time (default: this one).")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--name", default="startup", help="Result file name under bench/results/.")
    opts = parser.parse_args()
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    load_before = os.getloadavg()[0]
    for _ in range(opts.rounds):
        for name, args in COMMANDS.items():
            wall, cpu = time_once(args, opts.tree.resolve())
            walls[name].append(wall)
            cpus[name].append(cpu)
    bare_wall, bare_cpu = statistics.median(walls["python -c pass"]), statistics.median(cpus["python -c pass"])
    rows = {
        name: {"median_wall_s": statistics.median(walls[name]), "wall_over_bare_s": statistics.median(walls[name]) - bare_wall,
               "median_cpu_s": statistics.median(cpus[name]), "cpu_over_bare_s": statistics.median(cpus[name]) - bare_cpu,
               "wall_s": walls[name], "cpu_s": cpus[name]}
        for name in COMMANDS
    }
    print(f"{'command':<24} {'wall s':>8} {'over bare':>10} {'cpu s':>8} {'over bare':>10}")
    for name, row in rows.items():
        print(f"{name:<24} {row['median_wall_s']:8.3f} {row['wall_over_bare_s']:10.3f} "
              f"{row['median_cpu_s']:8.3f} {row['cpu_over_bare_s']:10.3f}")
    load = {"loadavg_1min_before": load_before, "loadavg_1min_after": os.getloadavg()[0], "cpus": os.cpu_count()}
    print(f"machine load (1-min average) before {load['loadavg_1min_before']:.2f}, after {load['loadavg_1min_after']:.2f}")
    out = write_result(opts.name, {"tree": str(opts.tree), "rounds": opts.rounds, "commands": rows, **load})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
