"""Notebook parameters that fail loudly.

papermill only *warns* when ``-p name value`` names a parameter the notebook does not declare,
then runs with the typo silently ignored. Every chapter therefore follows this pattern::

    guard = ParameterGuard()          # last line of the Imports cell
    # ---- cell tagged "parameters" (defaults = the quick profile) ----
    # ---- papermill inserts its "injected-parameters" cell here ----
    P = guard.check(globals())        # first cell after the parameters

``check`` looks at the cells executed since the guard was made: the first is the declared
``parameters`` cell, any later one was injected. A name assigned by an
injected cell that the parameters cell does not declare, or a value whose type does not match
the declared default, raises :class:`ParameterError` naming what is declared. So does a degenerate
value, judged against the declared default (:func:`degenerate`): an empty list where the default is a
non-empty one (``seeds: []``), an int below 1 where the default is positive (``epochs: 0``), a negative
or non-finite number where the default is not negative — all before any work is done.
"""
from __future__ import annotations

import ast
import math
from types import SimpleNamespace
from typing import Any


class ParameterError(ValueError):
    """A notebook was given a parameter it does not declare, or a value of the wrong type."""


def assigned_names(source: str) -> list[str]:
    """Names bound by top-level simple assignments in ``source`` (a parameters cell)."""
    names = []
    for node in ast.parse(source).body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Name):
                names.append(t.id)
    return names


def _compatible(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float) and isinstance(value, int):
        return True
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return True
    return type(default) is type(value)


def degenerate(default: Any, value: Any) -> str | None:
    """Why ``value`` cannot stand where the declared ``default`` does, or None if it can."""
    if isinstance(default, bool) or isinstance(value, bool) or value is None or default is None:
        return None
    if isinstance(default, (list, tuple)) and default and isinstance(value, (list, tuple)) and not value:
        return f"must not be empty (default {default!r})"
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if isinstance(default, int) and default >= 1 and value < 1:
            return f"must be >= 1 (default {default!r}), got {value!r}"
        if default >= 0 and value < 0:
            return f"must not be negative (default {default!r}), got {value!r}"
    return None


def validate(declared: dict[str, Any], given: dict[str, Any], where: str = "notebook") -> None:
    """Raise :class:`ParameterError` unless every name in ``given`` is declared with a matching type."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(
            f"{where}: unknown parameter(s) {unknown}; this notebook declares "
            f"{sorted(declared)}. Check the spelling of -p NAME or the profile."
        )
    for name, value in given.items():
        default = declared[name]
        if not _compatible(default, value):
            hint = ""
            if isinstance(default, (list, tuple, dict)) and isinstance(value, str):
                hint = (f". papermill's -p passes text and numbers only: give a {type(default).__name__} as YAML with "
                        f"-y \"{name}: {value}\" (or tempmodels.execute -p {name}={value})")
            raise ParameterError(
                f"{where}: parameter {name!r} expects {type(default).__name__} "
                f"(default {default!r}), got {type(value).__name__} {value!r}{hint}"
            )
        why = degenerate(default, value)
        if why:
            raise ParameterError(f"{where}: parameter {name!r} {why}")


class ParameterGuard:
    """Record the source of every cell run after it is made; later, check what they assigned.

    Recording uses IPython's ``pre_run_cell`` event, which fires whether or not the executor
    stores history (nbval does not), so the same check runs under papermill, nbval and Jupyter.
    """

    def __init__(self) -> None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with every kernel
            get_ipython = lambda: None  # noqa: E731
        self._ip = get_ipython()
        self._cells: list[str] = []
        if self._ip is not None:
            self._ip.events.register("pre_run_cell", self._record)

    def _record(self, info) -> None:
        self._cells.append(info.raw_cell)

    def check(self, namespace: dict[str, Any]) -> SimpleNamespace:
        """Validate the injected parameters; return all parameters as an attribute namespace."""
        if self._ip is None:
            raise RuntimeError("ParameterGuard needs an IPython kernel (run the notebook with papermill or Jupyter)")
        try:
            self._ip.events.unregister("pre_run_cell", self._record)
        except ValueError:
            pass
        # recorded: the parameters cell, any injected cells, and last the cell calling check().
        cells = self._cells[:-1]
        if not cells:
            raise ParameterError("no parameters cell ran between ParameterGuard() and check()")
        declared = _literal_defaults(cells[0])
        for src in cells[1:]:
            validate(declared, {n: namespace[n] for n in assigned_names(src)}, where="papermill parameters")
        return SimpleNamespace(**{n: namespace[n] for n in declared})


def _literal_defaults(source: str) -> dict[str, Any]:
    """{name: default} for the parameters cell; a default that is not a literal maps to None (any type)."""
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and node.value is not None:
            try:
                out[target.id] = ast.literal_eval(node.value)
            except ValueError:
                out[target.id] = None
    return out
