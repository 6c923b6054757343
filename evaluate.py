"""Score a trained model: ``python evaluate.py MODEL_DIR [--split valid|test] [--data-dir D] [--json out.json]``.

The same command as ``tagger evaluate``; see ``python evaluate.py --help``.
"""
import typer

from tagger.cli import evaluate

if __name__ == "__main__":
    typer.run(evaluate)
