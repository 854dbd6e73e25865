"""The `edgecase` command. Thin: parse arguments, call one function, turn errors into exit codes.

Exit codes: 0 ok, 1 an `expect` failed, 2 bad input or usage, 3 simulator or backend failure.
A user never sees a traceback for bad input (set EDGECASE_DEBUG=1 to see one for a bug).
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import click
import typer

from edgecase import api
from edgecase.errors import EdgecaseError, InputError
from edgecase.scenario.model import ScenarioSpec

# Newer typers (0.29 here) raise their own vendored click's exceptions (typer._click), older ones click's: catch both.
USAGE_ERRORS = tuple({click.ClickException, getattr(typer, "TyperException", click.ClickException)})
ABORTS = tuple({click.exceptions.Abort, getattr(typer, "Abort", click.exceptions.Abort)})

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True, help=__doc__.splitlines()[0])


def scenario_files(paths: list[Path]) -> list[Path]:
    """Files as given; directories expand to their *.yaml / *.yml files, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            out.append(path)
    return out


@app.command()
def check(
    files: list[Path] = typer.Argument(..., help="scenario files or directories of them"),
    seeds: int = typer.Option(3, min=1, max=1000, help="compile this many seeds (0..N-1) per file"),
) -> None:
    """Parse, validate and compile each scenario for a few seeds; one line per file."""
    found = scenario_files(files)
    if not found:  # a check of nothing must not pass silently (a wrong folder in CI)
        raise InputError(f"no scenario files (*.yaml, *.yml) in {', '.join(str(f) for f in files)}")
    worst = 0
    for path in found:
        try:
            scenario = api.load(path)
            plans = [api.compile(scenario, seed) for seed in range(seeds)]
        except EdgecaseError as err:
            typer.echo(str(err), err=True)
            worst = max(worst, err.exit_code)
            continue
        first = plans[0]
        typer.echo(f"ok   {path}: {scenario.name}, {len(first.actors)} actors on {first.map.source}, {seeds} seed(s) compiled")
    raise typer.Exit(worst)


@app.command()
def plan(
    file: Path = typer.Argument(..., help="a scenario file"),
    seed: int = typer.Option(0, min=0, help="the episode seed"),
    summary: bool = typer.Option(False, "--summary", help="a readable summary instead of JSON"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="fix a param: name=value (repeatable)"),
) -> None:
    """Compile one episode and print its plan (JSON, or --summary)."""
    from edgecase.plan.summary import summarize

    plan = api.compile(api.load(file), seed, _overrides(set_ or []))
    if summary:
        typer.echo(summarize(plan))
    else:
        typer.echo(json.dumps({"plan_sha256": plan.content_hash(), **plan.model_dump(mode="json")}, indent=2))


@app.command("run")
def run_command(
    file: Path = typer.Argument(..., help="a scenario file"),
    seed: int = typer.Option(0, min=0, help="the episode seed"),
    out: Optional[Path] = typer.Option(None, help="episode directory to write (default: out/NAME-sSEED)"),
    backend: str = typer.Option("embedded", help="simulator backend"),
    force: bool = typer.Option(False, "--force", help="replace an existing episode directory"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    sensors: Optional[str] = typer.Option(None, help="sensor rig (name in sensors/ or a path); default: the ego's own"),
    no_sensors: bool = typer.Option(False, "--no-sensors", help="record no sensor data, even if the ego has a rig"),
    frame_every: Optional[int] = typer.Option(None, min=1, help="record frames every N ticks (default: 10 Hz)"),
    lossless: bool = typer.Option(False, "--lossless", help="RGB frames as PNG instead of JPEG"),
) -> None:
    """Simulate one episode and write its directory; exit 1 if an `expect` oracle failed."""
    scenario = api.load(file)
    out = out or Path("out") / f"{scenario.name}-s{seed}"
    rig = False if no_sensors else sensors
    with _progress(quiet) as progress:
        result = api.run(scenario, seed, out=out, backend=backend, force=force, progress=progress,
                         sensors=rig, frame_every=frame_every, lossless=lossless)
    for oracle in result.oracles:
        verdict = {True: "held  ", False: "FAILED", None: "n/a   "}[oracle.passed]
        typer.echo(f"{verdict} {oracle.expr}  (actual: {oracle.actual})")
    typer.echo(f"{'passed' if result.passed else 'failed'}: {out}")
    raise typer.Exit(0 if result.passed else 1)


@contextmanager
def _progress(quiet: bool):
    """A progress bar on a terminal for runs longer than a second; nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("simulating", total=None, visible=False)
        started = time.perf_counter()

        def update(tick: int, total: int) -> None:
            bar.update(task, completed=tick, total=total, visible=time.perf_counter() - started > 1.0)

        yield update


@app.command("export")
def export_command(
    episodes: list[Path] = typer.Argument(..., help="episode directories (several merge into one dataset)"),
    format: str = typer.Option(..., "--format", help="kitti, coco or nuscenes"),  # noqa: A002
    out: Path = typer.Option(..., help="dataset directory to write"),
    force: bool = typer.Option(False, "--force", help="replace an existing dataset directory"),
    camera: Optional[str] = typer.Option(None, help="KITTI: the camera to export (default: the rig's first); COCO: only this camera"),
) -> None:
    """Turn recorded episodes (with sensor data) into a KITTI, COCO or nuScenes dataset."""
    from edgecase.export import export

    summary = export(episodes, format, out, force=force, camera=camera)
    typer.echo(str(summary))


@app.command()
def schema() -> None:
    """Print the scenario language's JSON Schema (for editors' completion and validation)."""
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **ScenarioSpec.model_json_schema()}
    typer.echo(json.dumps(document, indent=2))


def _overrides(items: list[str]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise InputError(f"--set takes name=value, got '{item}'")
        try:
            out[name] = float(raw)
        except ValueError:
            out[name] = raw
    return out


def run(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting (tests call this)."""
    try:
        code = app(args=argv, prog_name="edgecase", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except USAGE_ERRORS as err:  # usage errors: click's own message, exit 2
        if hasattr(err, "show"):
            err.show()
        else:
            typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except ABORTS:
        return 130
    except EdgecaseError as err:
        typer.echo(f"error: {err}" if err.pos is None else str(err), err=True)
        return err.exit_code
    except Exception as err:  # a bug, not bad input: say so in one line
        if os.environ.get("EDGECASE_DEBUG"):
            raise
        typer.echo(f"internal error (please report; EDGECASE_DEBUG=1 shows the traceback): {type(err).__name__}: {err}", err=True)
        return 3


def main() -> None:
    try:
        sys.exit(run())
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
