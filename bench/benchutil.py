"""What every benchmark needs: finding the shared data, timing, writing results."""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # benchmarks run from a checkout, installed or not
    sys.path.insert(0, str(ROOT))


def find_data(name: str, required: tuple[str, ...] = ("train.txt", "valid.txt")) -> Path | None:
    """``$TAGGER_DATA_DIR/NAME`` or ``../shared/data/NAME``, if it holds the files."""
    candidates = []
    if os.environ.get("TAGGER_DATA_DIR"):
        candidates.append(Path(os.environ["TAGGER_DATA_DIR"]) / name)
    candidates.append(ROOT.parent / "shared" / "data" / name)
    return next((c for c in candidates if all((c / f).exists() for f in required)), None)


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Fastest of a few runs: the least disturbed by whatever else the machine does."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def write_result(name: str, result: dict) -> Path:
    out = HERE / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return out


def proc_status_kb(pid: int, field: str) -> int | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak so far) of a process, in kB, from /proc; None if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def train_tiny_model(folder: Path) -> Path:
    """A small demo NER model, for benchmarks that measure the machinery, not accuracy."""
    import io

    from rich.console import Console

    from tagger.config import load_recipe
    from tagger.train import train

    recipe = load_recipe("demo", ["encoder.hidden=32", "train.max_epochs=3", "train.threads=1"])
    train(recipe, folder, Console(file=io.StringIO()))
    return folder / "best"
