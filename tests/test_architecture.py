"""The habits that keep the code readable, checked: no function body in tagger/ over 60
lines (signature and docstring not counted), so every function can be read at once."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tagger"
LIMIT = 60


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    if is_docstring and len(body) > 1:
        first = body[1]
    return node.end_lineno - first.lineno + 1


def long_functions(root: Path = PACKAGE, limit: int = LIMIT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > limit:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({body_lines(node)} lines)")
    return found


def test_the_counter_counts_body_lines_only(tmp_path):
    source = 'def f(\n    a,\n    b,\n):\n    """Doc\n    string."""\n' + "    a += 1\n" * 61 + "    return a\n"
    (tmp_path / "m.py").write_text(source)
    assert long_functions(tmp_path) == [f"{tmp_path.name}/m.py:1 f (62 lines)"]
    (tmp_path / "m.py").write_text(source.replace("    a += 1\n", "", 2))
    assert long_functions(tmp_path) == []


def test_no_function_in_the_package_is_over_60_lines():
    assert long_functions() == []


def test_every_family_is_registered_and_its_hooks_resolve():
    from tagger.family import family_hook
    from tagger.registry import families

    assert set(families) >= {"tagger", "tree", "lm", "seq2seq"}
    for family in families:
        assert callable(family_hook(family, "train")) and callable(family_hook(family, "load"))


def test_a_recipe_of_an_unknown_family_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from tagger.cli import app

    recipe = tmp_path / "odd.toml"
    recipe.write_text('family = "transformer"\n')
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "unknown model family 'transformer'" in result.output and "lm" in result.output
