"""The scenario library: the scenarios in a folder, for `edgecase library` (list and show).

Why read the files' text as well as the typed spec: a parameter's distribution is shown as the
author wrote it (`uniform(9, 13)`), with the comment on its line, which is where this project
keeps a value's source (a paper, a standard). The typed spec has lost both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgecase.errors import EdgecaseError, InputError
from edgecase.scenario.base import suggest
from edgecase.scenario.loader import Scenario, load_scenario

SCENARIOS_ENV = "EDGECASE_SCENARIOS_DIR"


@dataclass(frozen=True, slots=True)
class Entry:
    """One scenario of the library, as the list shows it."""

    name: str
    tags: tuple[str, ...]
    description: str  # folded to one line
    path: Path
    error: str = ""  # why the file does not load (the list still shows it: one bad file must not hide the rest)


@dataclass(frozen=True, slots=True)
class Param:
    """A scenario parameter as written: its expression and the comment on the same line."""

    name: str
    written: str
    comment: str


def library_dir(folder: str | os.PathLike[str] | None = None) -> Path:
    """`folder`, else $EDGECASE_SCENARIOS_DIR, else ./scenarios, else the repository's scenarios/."""
    if folder is not None:
        return Path(folder)
    env = os.environ.get(SCENARIOS_ENV)
    if env:
        return Path(env)
    here = Path("scenarios")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "scenarios"


def scenario_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"no scenario library at {folder}", hint=f"pass --dir or set ${SCENARIOS_ENV}")
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def list_library(folder: Path) -> list[Entry]:
    """Every scenario in `folder`, sorted by name; a file that does not load is listed under its
    file name with its error."""
    entries = []
    for path in scenario_paths(folder):
        try:
            spec = load_scenario(path).spec
        except EdgecaseError as err:
            entries.append(Entry(path.stem, (), "", path, error=str(err)))
            continue
        entries.append(Entry(spec.name, tuple(spec.tags), " ".join((spec.description or "").split()), path))
    return sorted(entries, key=lambda e: e.name)


def find(folder: Path, name: str) -> Scenario:
    """The scenario called `name` (or whose file stem is `name`); else exit 2 with did-you-mean."""
    entries = list_library(folder)
    for entry in entries:
        if name in (entry.name, entry.path.stem):
            return load_scenario(entry.path)
    names = [e.name for e in entries]
    raise InputError(f"no scenario '{name}' in {folder}", hint=suggest(name, names))


def params_as_written(scenario: Scenario) -> list[Param]:
    """Each param's expression and same-line comment, read from the line its value is on."""
    out = []
    for name, value in scenario.spec.params.items():
        pos = scenario.pos("params", name)
        written, comment = str(value), ""
        try:
            line = Path(pos.file).read_text().splitlines()[pos.line - 1]
        except (OSError, IndexError):
            line = ""
        if line:
            code, _, comment = line[pos.col - 1:].partition("#")
            written = code.strip() or written
        out.append(Param(name, written, comment.strip()))
    return out
