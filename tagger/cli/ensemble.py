"""``tagger ensemble``: taggers trained on the same data, combined into one model directory."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import stderr_console, user_errors

DOC_CONSISTENCY_HELP = ("The ensemble's heads.N.doc_consistency for its span tasks (default: the first model's): none, "
                        "vote or vote+propagate (see tagger evaluate --help).")


@user_errors
def ensemble_command(
    models: Annotated[list[Path], typer.Argument(help="Two or more tagger model directories (or run directories holding best/), trained on the same data: seeds of one recipe, or recipes that share its data and tasks. An ensemble given here adds its members.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The model directory to write (config.json, vocab.json, model.safetensors).")],
    doc_consistency: Annotated[Optional[str], typer.Option(help=DOC_CONSISTENCY_HELP)] = None,
) -> None:
    """Combine taggers into one model that labels with the product of their probabilities
    (for a CRF, Viterbi over the mean of the models' scores). The directory works wherever
    a model does: evaluate, predict, tagger.load, the spaCy component and tagger serve.
    It costs each member's time per sentence, less their shared frozen char LMs, which run once;
    or it can teach one model to label like it (tagger train RECIPE --set distill.teacher=OUTPUT)."""
    from ..consistency import check_mode
    from ..errors import TaggerError
    from ..family import model_family
    from ..model import build_ensemble
    from ..predict import Tagger

    if len(models) < 2:
        raise TaggerError("an ensemble needs two or more models")
    if doc_consistency is not None:
        check_mode(doc_consistency)  # before any model is read
    for path in models:
        family = model_family(path)
        if family != "tagger":
            raise TaggerError(f"an ensemble combines taggers, and this is a {family} model", path)
    ensemble = build_ensemble(models)
    if doc_consistency is not None:
        Tagger(ensemble).set_doc_consistency(doc_consistency)  # its span tasks, in the recipe it saves
    ensemble.save(output)
    shared = ", their char LMs run once" if ensemble.shared_lms else ""
    stderr_console().print(f"wrote {output}: an ensemble of {len(ensemble.members)} taggers{shared}")
