"""Every hook is documented and tested: adding a hookspec without a section in docs/plugins.md
(signature, example) and a test in tests/test_plugins.py fails here."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from studio import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
PLUGIN_TESTS = ROOT / "tests" / "test_plugins.py"

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.M)


def marked_specs() -> dict[str, Callable[..., Any]]:
    """Functions of studio.hookspecs that pluggy's hookspec marker marked."""
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "studio_spec")}


def hook_section(name: str) -> str:
    """The text of the ``### <name>(...)`` section, up to the next heading of level 1 to 3."""
    text = DOCS.read_text(encoding="utf-8")
    start = re.search(rf"^###\s+{re.escape(name)}\(.*$", text, re.M)
    assert start, f"docs/plugins.md has no '### {name}(' heading"
    rest = text[start.end():]
    end = next((m.start() for m in _HEADING.finditer(rest) if len(m.group(1)) <= 3), len(rest))
    return rest[:end]


def code_blocks(section: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced code block."""
    return [(m["lang"], m["body"]) for m in _FENCE.finditer(section)]


def _norm(annotation: str) -> str:
    return ast.unparse(ast.parse(annotation, mode="eval"))


def spec_signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, str | None]], str | None]:
    """Parameters (name, annotation) and return annotation of a spec, as source text."""
    sig = inspect.signature(fn)

    def text(annotation: Any) -> str | None:
        if annotation is inspect.Parameter.empty:
            return None
        if isinstance(annotation, str):  # `from __future__ import annotations`
            return _norm(annotation)
        return _norm(inspect.formatannotation(annotation))

    params = [(p.name, text(p.annotation)) for p in sig.parameters.values()]
    return params, text(sig.return_annotation)


def documented_signature(line: str) -> tuple[list[tuple[str, str | None]], str | None]:
    """The same for a documented signature line such as ``studio_models() -> list[Any]``."""
    node = ast.parse(f"def {line.strip()}:\n    pass").body[0]
    assert isinstance(node, ast.FunctionDef)
    args = node.args
    every = args.posonlyargs + args.args + ([args.vararg] if args.vararg else []) \
        + args.kwonlyargs + ([args.kwarg] if args.kwarg else [])
    params = [(a.arg, ast.unparse(a.annotation) if a.annotation else None) for a in every]
    return params, ast.unparse(node.returns) if node.returns else None


def names_in_test_functions(path: Path) -> dict[str, set[str]]:
    """For each test function of ``path``: the identifiers, attribute names and string
    constants its body mentions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                node.name.startswith("test"):
            words: set[str] = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name):
                    words.add(sub.id)
                elif isinstance(sub, ast.Attribute):
                    words.add(sub.attr)
                elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    words.update(re.findall(r"\w+", sub.value))
            found[node.name] = words
    return found


def test_hooks_lists_exactly_the_marked_hookspecs():
    assert set(hookspecs.HOOKS) == set(marked_specs())
    assert len(hookspecs.HOOKS) == len(set(hookspecs.HOOKS))


@pytest.mark.parametrize("name", hookspecs.HOOKS)
def test_hook_has_a_docs_section_with_its_signature(name):
    section = hook_section(name)
    lines = [body.strip() for _, body in code_blocks(section)
             if body.strip().startswith(f"{name}(") and "\n" not in body.strip()]
    assert lines, f"the {name} section has no code block with the signature line '{name}(...)'"
    assert documented_signature(lines[0]) == spec_signature(getattr(hookspecs, name)), (
        f"docs/plugins.md documents {lines[0]!r}, but the spec is "
        f"{name}{inspect.signature(getattr(hookspecs, name))}")


@pytest.mark.parametrize("name", hookspecs.HOOKS)
def test_hook_has_a_complete_example(name):
    examples = [body for lang, body in code_blocks(hook_section(name))
                if lang == "python" and "@hookimpl" in body and f"def {name}(" in body]
    assert examples, (f"the {name} section needs a ```python example with @hookimpl and "
                      f"def {name}(...)")
    ast.parse(examples[0])  # it is valid Python


@pytest.mark.parametrize("name", hookspecs.HOOKS)
def test_hook_is_tested(name):
    testing = [test for test, words in names_in_test_functions(PLUGIN_TESTS).items()
               if name in words]
    assert testing, f"no test function in tests/test_plugins.py mentions {name}"


def test_docs_describe_no_hook_that_does_not_exist():
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^###\s+(studio_\w+)\(", text, re.M))
    assert documented == set(hookspecs.HOOKS)
