"""How long the command line takes before it does anything: ``tagger --help``,
``tagger train --help``, ``import tagger`` and (``--export``) ``tagger predict EXPORT
"Some text ."`` from process start to its first output line, against a bare ``python
-c pass`` and ``python -c "import onnxruntime"`` in interleaved rounds. The machine is
noisy (``uptime`` is recorded), so each command's time is given as best and median of
its rounds, and as a ratio to the bare interpreter and to importing ONNX Runtime in the
same run. With ``--export``, ``python -X importtime`` of the predict command also
lists what it imports (the slowest top-level packages, and whether torch, spaCy or
datasets are among them).

    python bench/startup.py                        # this checkout
    python bench/startup.py --export               # + tagger predict on a demo export (made in a temp dir)
    python bench/startup.py --export DIR --rounds 10 --name startup_export
    python bench/startup.py --tree /tmp/before     # another checkout (e.g. a git worktree of an older commit)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
HEAVY = ("torch", "spacy", "datasets", "thinc", "pandas", "pyarrow", "safetensors", "onnx")


def export_commands(export_dir: Path) -> dict[str, list[str]]:
    return {
        "python -c pass": ["-c", "pass"],
        "import numpy": ["-c", "import numpy"],
        "import onnxruntime": ["-c", "import onnxruntime"],
        "tagger predict EXPORT": ["-m", "tagger", "predict", str(export_dir), "Some text .", "--threads", "1"],
    }


def time_once(args: list[str], tree: Path) -> tuple[float, float, float]:
    """Wall seconds to the first output line (or to the exit, for a command that prints
    nothing), wall seconds to the exit, and CPU seconds (user + system: much less
    disturbed by other load)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=tree, stdout=subprocess.PIPE)
    proc.stdout.readline()
    first = time.perf_counter() - start
    proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"failed: python {' '.join(args)}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return first, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def import_profile(args: list[str], tree: Path, top: int = 12) -> dict:
    """``python -X importtime``: the slowest top-level packages (cumulative microseconds of
    their first import) and which of the heavy packages were imported at all."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-X", "importtime", *args], env=env, cwd=tree, capture_output=True,
                          text=True, check=True)
    cumulative: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _, cum, name = line[len("import time:"):].split("|")
        package = name.strip().split(".")[0]
        cumulative[package] = max(cumulative.get(package, 0), int(cum))
    slowest = sorted(cumulative.items(), key=lambda kv: -kv[1])[:top]
    return {"slowest_packages_ms": {k: round(v / 1000, 1) for k, v in slowest},
            "heavy_imported": [m for m in HEAVY if m in cumulative]}


def make_demo_export(out: Path) -> Path:
    """An untrained demo model's export (the timing does not depend on the weights)."""
    code = (
        "import sys, torch\nfrom tagger.batching import build_vocabs\nfrom tagger.config import load_recipe\n"
        "from tagger.export import export_model\nfrom tagger.io.conll import read_conll2003\n"
        "from tagger.model import SequenceTagger\nfrom tagger.sources import demo_dir\n"
        "torch.manual_seed(0)\nrec = load_recipe('demo', [])\n"
        "vocabs = build_vocabs(read_conll2003(demo_dir() / 'train.txt'), rec.heads, rec.embed)\n"
        "d = SequenceTagger(rec, vocabs).eval().save(sys.argv[1] + '/model')\n"
        "export_model(d, sys.argv[1] + '/onnx')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return out / "onnx"


def summarise(firsts: dict[str, list[float]], walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> dict:
    bare = statistics.median(firsts["python -c pass"])
    ort = statistics.median(firsts["import onnxruntime"]) if "import onnxruntime" in firsts else None
    rows = {}
    for name in firsts:
        median = statistics.median(firsts[name])
        rows[name] = {"best_first_line_s": min(firsts[name]), "median_first_line_s": median,
                      "median_wall_s": statistics.median(walls[name]), "over_bare_s": median - bare,
                      "ratio_to_bare": median / bare, "median_cpu_s": statistics.median(cpus[name]),
                      "first_line_s": firsts[name], "wall_s": walls[name], "cpu_s": cpus[name]}
        if ort:
            rows[name]["ratio_to_import_onnxruntime"] = median / ort
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="The checkout to time (default: this one).")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--export", type=Path, nargs="?", const=Path(), default=None,
                        help="Time 'tagger predict' on this export directory (no value: a demo export made in a temp dir).")
    parser.add_argument("--name", default=None, help="Result file name under bench/results/ (startup, or startup_export).")
    opts = parser.parse_args()
    tree = opts.tree.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        if opts.export is None:
            commands = COMMANDS
        else:
            export_dir = opts.export.resolve() if opts.export != Path() else make_demo_export(Path(tmp))
            commands = export_commands(export_dir)
        firsts: dict[str, list[float]] = {name: [] for name in commands}
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        load_before = os.getloadavg()[0]
        for _ in range(opts.rounds):
            for name, args in commands.items():
                first, wall, cpu = time_once(args, tree)
                firsts[name].append(first)
                walls[name].append(wall)
                cpus[name].append(cpu)
        rows = summarise(firsts, walls, cpus)
        profile = import_profile(commands["tagger predict EXPORT"], tree) if opts.export is not None else None
    print(f"{'command':<24} {'best s':>8} {'median s':>9} {'x bare':>7} {'x ort':>6} {'cpu s':>7}")
    for name, row in rows.items():
        ort = row.get("ratio_to_import_onnxruntime")
        print(f"{name:<24} {row['best_first_line_s']:8.3f} {row['median_first_line_s']:9.3f} {row['ratio_to_bare']:7.1f} "
              f"{(f'{ort:6.2f}' if ort else '     -')} {row['median_cpu_s']:7.3f}")
    load = {"uptime_before": uptime_before, "loadavg_1min_before": load_before,
            "loadavg_1min_after": os.getloadavg()[0], "cpus": os.cpu_count()}
    print(f"machine: {uptime_before}; 1-min load after {load['loadavg_1min_after']:.2f} on {load['cpus']} cpus")
    if profile:
        print("python -X importtime of tagger predict EXPORT, slowest packages (ms):", profile["slowest_packages_ms"])
        print("heavy packages imported:", profile["heavy_imported"] or "none")
    name = opts.name or ("startup" if opts.export is None else "startup_export")
    result = {"tree": str(tree), "rounds": opts.rounds, "timed_to": "first output line", "commands": rows, **load}
    if profile:
        result["import_profile"] = profile
    print(f"wrote {write_result(name, result)}")


if __name__ == "__main__":
    main()
