"""The shared Trainer against the training loops it replaced (issue #13): the same
recipes and seeds trained by a checkout of the code before the change and by this one,
in separate processes, one thread each, in interleaved rounds.

    git worktree add /tmp/before 672e24b      # the last commit with three training loops
    python bench/trainer_before_after.py --before /tmp/before

Reports, per task and version: the dev score, the training throughput and the wall
time, a hash of the best weights (equal hashes: the same computation), and the
throughput ratio after/before. Tasks (real data from ../shared/data or $TAGGER_DATA_DIR):
NER (conll2003 recipe, 1 epoch), SST-2 (sst2 recipe, 1 epoch), a char LM on
tinyshakespeare (1 epoch, 256 units).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import find_data, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Run inside a child process whose sys.path starts with the checkout under test.
CHILD = r'''
import hashlib, json, sys, time
from pathlib import Path
task, out, data_root = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
from safetensors.torch import load_file

def digest(folder):
    w = load_file(folder / "model.safetensors")
    h = hashlib.sha256()
    for k in sorted(w):
        h.update(k.encode()); h.update(w[k].float().numpy().tobytes())
    return h.hexdigest()[:16]

start = time.perf_counter()
if task in ("ner", "sst2"):
    from tagger.config import load_recipe
    from tagger.train import train
    name = "conll2003" if task == "ner" else "sst2"
    folder = data_root / ("conll2003" if task == "ner" else "sst2")
    recipe = load_recipe(name, ["train.max_epochs=1", "train.threads=1", f"data.data_dir='{folder}'"])
    result = train(recipe, out)
    record = result.epochs[-1]
    speed = getattr(record, "units_per_second", None) or record.tokens_per_second
    score = result.best_score
else:
    import tagger.lm.config as lmc
    from tagger.lm.text import read_text
    from tagger.lm.train import train_lm
    text = read_text(data_root / "tinyshakespeare" / "input.txt")
    fields = dict(hidden=256, embed_dim=64, bptt=100, batch_size=64, max_epochs=1, threads=1)
    if hasattr(lmc, "LMRecipe"):
        result = train_lm(lmc.LMRecipe.from_fields(**fields), out, train_text=text)
        score, speed = result.best_dev["bits"], result.epochs[-1].units_per_second
    else:
        result = train_lm(lmc.LMConfig(**fields), text, out)
        score, speed = result.best_loss / 0.6931471805599453, result.records[-1].symbols_per_second
print(json.dumps({"score": score, "speed": speed, "seconds": time.perf_counter() - start,
                  "sha": digest(out / "best")}))
'''

TASKS = {"ner": ("NER conll2003, 1 epoch", "dev F1", "tok/s"), "sst2": ("SST-2 sst2, 1 epoch", "dev acc", "tok/s"),
         "lm": ("char LM tinyshakespeare, 1 epoch", "valid bits/char", "chars/s")}


def run_child(checkout: Path, task: str, out: Path, data_root: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0")
    done = subprocess.run([sys.executable, "-c", CHILD, task, str(out), str(data_root)], env=env, capture_output=True,
                          text=True, cwd=checkout)
    if done.returncode != 0:
        raise SystemExit(f"{task} with {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before the change")
    parser.add_argument("--after", type=Path, default=ROOT, help="the checkout with the shared Trainer (default: this one)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", default="ner,sst2,lm")
    parser.add_argument("--work", type=Path, default=Path("runs/bench-trainer"))
    args = parser.parse_args()
    conll = find_data("conll2003")
    if conll is None:
        print("skipped: CoNLL-2003 not found under $TAGGER_DATA_DIR or ../shared/data")
        return
    data_root = conll.parent
    console = Console(stderr=True)
    load_before = os.getloadavg()
    runs: dict[str, dict[str, list[dict]]] = {}
    versions = {"before": args.before.resolve(), "after": args.after.resolve()}
    for round_no in range(args.rounds):
        order = list(versions) if round_no % 2 == 0 else list(reversed(versions))  # interleaved
        for task in args.tasks.split(","):
            for version in order:
                out = args.work / f"{task}-{version}-{round_no}"
                got = run_child(versions[version], task, out, data_root)
                runs.setdefault(task, {}).setdefault(version, []).append(got)
                console.log(f"round {round_no + 1} {task} {version}: {got}")
    rows = []
    for task, by_version in runs.items():
        best = {v: max(r["speed"] for r in rs) for v, rs in by_version.items()}
        rows.append({"task": TASKS[task][0], "metric": TASKS[task][1], "unit": TASKS[task][2],
                     "score_before": by_version["before"][0]["score"], "score_after": by_version["after"][0]["score"],
                     "same_weights": by_version["before"][0]["sha"] == by_version["after"][0]["sha"],
                     "speed_before": best["before"], "speed_after": best["after"],
                     "speed_ratio": best["after"] / best["before"], "runs": by_version})
    table = Table(title="shared Trainer vs the loops it replaced (best of rounds, one thread)")
    for col in ("task", "metric", "before", "after", "same weights", "speed before", "speed after", "after/before"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["task"], r["metric"], f"{r['score_before']:.4f}", f"{r['score_after']:.4f}",
                      "yes" if r["same_weights"] else "no", f"{r['speed_before']:,.0f} {r['unit']}",
                      f"{r['speed_after']:,.0f} {r['unit']}", f"{r['speed_ratio']:.3f}")
    Console().print(table)
    path = write_result("trainer_before_after", {
        "before": str(args.before), "rounds": args.rounds, "rows": rows,
        "load_average_start": load_before, "load_average_end": os.getloadavg(), "cpus": os.cpu_count()})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
