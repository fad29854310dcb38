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
the declared default, raises :class:`ParameterError` naming what is declared.
"""
from __future__ import annotations

import ast
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


def validate(declared: dict[str, Any], given: dict[str, Any], where: str = "notebook") -> None:
    """Raise :class:`ParameterError` unless every name in ``given`` is declared with a matching type."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(
            f"{where}: unknown parameter(s) {unknown}; this notebook declares "
            f"{sorted(declared)}. Check the spelling of -p NAME or the profile."
        )
    for name, value in given.items():
        if not _compatible(declared[name], value):
            raise ParameterError(
                f"{where}: parameter {name!r} expects {type(declared[name]).__name__} "
                f"(default {declared[name]!r}), got {type(value).__name__} {value!r}"
            )


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
