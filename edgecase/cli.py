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
from edgecase.plan.modifiers import modifiers_from_options
from edgecase.scenario.loader import scenario_files
from edgecase.scenario.model import ScenarioSpec

CARLA_HOST_ENV = "EDGECASE_CARLA_HOST"  # = edgecase.backends.carla.HOST_ENV (not imported: it would load the bridge)

# Newer typers (0.29 here) raise their own vendored click's exceptions (typer._click), older ones click's: catch both.
USAGE_ERRORS = tuple({click.ClickException, getattr(typer, "TyperException", click.ClickException)})
ABORTS = tuple({click.exceptions.Abort, getattr(typer, "Abort", click.exceptions.Abort)})

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True, help=__doc__.splitlines()[0])

# The global modifiers of `run` and `sweep` (edgecase/plan/modifiers.py, docs/library.md).
WEATHER_HELP = "modifier: a CARLA weather preset replacing the scenario's weather (ClearNoon, HardRainNight, ...)"
TIME_HELP = "modifier: noon, sunset or night (sets sun_altitude_angle: 45, 15, -90 deg)"
FOG_HELP = "modifier: fog_density in percent (0-100)"
DEGRADE_HELP = ("modifier: sensor degradation, e.g. noise=4,blur=1.5,dropout=0.3 (RGB noise in 8-bit levels, "
                "blur sigma px, share of LiDAR points removed)")
TRAFFIC_HELP = ("modifier: background traffic, vehicles per km of driving lane around the ego (0-150; "
                "free-flow urban ~10-30, congested > 60)")


@app.command()
def check(
    files: list[Path] = typer.Argument(..., help="scenario files or directories of them"),
    seeds: int = typer.Option(3, min=1, max=1000, help="compile this many seeds (0..N-1) per file"),
) -> None:
    """Parse, validate and compile each scenario for a few seeds; one line per file."""
    found = scenario_files(files)  # none: an InputError (a check of nothing must not pass silently in CI)
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
    backend: str = typer.Option("embedded", help="simulator backend: embedded or carla (a CARLA 0.9.16 server)"),
    force: bool = typer.Option(False, "--force", help="replace an existing episode directory"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    sensors: Optional[str] = typer.Option(None, help="sensor rig (name in sensors/ or a path); default: the ego's own"),
    no_sensors: bool = typer.Option(False, "--no-sensors", help="record no sensor data, even if the ego has a rig"),
    frame_every: Optional[int] = typer.Option(None, min=1, help="record frames every N ticks (default: 10 Hz)"),
    lossless: bool = typer.Option(False, "--lossless", help="RGB frames as PNG instead of JPEG"),
    carla_host: Optional[str] = typer.Option(None, "--carla-host", help=f"--backend carla: the server, HOST[:PORT] (default: ${CARLA_HOST_ENV})"),
    carla_port: Optional[int] = typer.Option(None, "--carla-port", min=1, max=65535, help="--backend carla: the server's port (default 2000)"),
    carla_timeout: Optional[float] = typer.Option(None, "--carla-timeout", min=0.1, help="--backend carla: seconds to wait for any answer or tick (default 10)"),
    weather: Optional[str] = typer.Option(None, help=WEATHER_HELP),
    time_of_day: Optional[str] = typer.Option(None, "--time-of-day", help=TIME_HELP),
    fog: Optional[float] = typer.Option(None, help=FOG_HELP),
    degrade: Optional[str] = typer.Option(None, help=DEGRADE_HELP),
    traffic: Optional[float] = typer.Option(None, help=TRAFFIC_HELP),
) -> None:
    """Simulate one episode and write its directory; exit 1 if an `expect` oracle failed."""
    modifiers = modifiers_from_options(weather, time_of_day, fog, degrade, traffic)
    options = _carla_options(backend, carla_host, carla_port, carla_timeout)
    scenario = api.load(file)
    out = out or Path("out") / f"{scenario.name}-s{seed}"
    rig = False if no_sensors else sensors
    with _progress(quiet) as progress:
        result = api.run(scenario, seed, out=out, backend=backend, force=force, progress=progress,
                         sensors=rig, frame_every=frame_every, lossless=lossless, backend_options=options,
                         modifiers=modifiers)
    for oracle in result.oracles:
        verdict = {True: "held  ", False: "FAILED", None: "n/a   "}[oracle.passed]
        typer.echo(f"{verdict} {oracle.expr}  (actual: {oracle.actual})")
    typer.echo(f"{'passed' if result.passed else 'failed'}: {out}")
    raise typer.Exit(0 if result.passed else 1)


def _carla_options(backend: str, host: str | None, port: int | None, timeout_s: float | None) -> dict[str, object]:
    """The carla backend's options; they mean nothing to another backend, so giving them there is a mistake."""
    given = {"host": host, "port": port, "timeout_s": timeout_s}
    options = {k: v for k, v in given.items() if v is not None}
    if backend != "carla":
        if options:
            raise InputError(f"--carla-* options need --backend carla (the backend is '{backend}')")
        return {}
    return options


@app.command()
def doctor(
    carla_host: Optional[str] = typer.Option(None, "--carla-host", help=f"the server, HOST[:PORT] (default: ${CARLA_HOST_ENV})"),
    carla_port: Optional[int] = typer.Option(None, "--carla-port", min=1, max=65535, help="the server's port (default 2000)"),
    carla_timeout: float = typer.Option(5.0, "--carla-timeout", min=0.1, help="seconds to wait for each answer"),
) -> None:
    """Check the CARLA setup: client version, the server's address, version, map and one tick's latency."""
    from edgecase.backends.carla import carla_module
    from edgecase.backends.carla.doctor import diagnose

    report = diagnose(carla_module(), carla_host, carla_port, carla_timeout)
    *found, last = report.lines
    for line in found:
        typer.echo(line)
    typer.echo(last, err=report.exit_code != 0)  # what is wrong goes to stderr
    raise typer.Exit(report.exit_code)


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
def sweep(
    scenarios: Optional[list[Path]] = typer.Argument(None, help="scenario files or directories (with --resume: optional)"),
    out: Path = typer.Option(..., help="the sweep directory: manifest.sqlite, episodes/, datasets, report"),
    episodes: Optional[int] = typer.Option(None, min=1, help="seeds 0..N-1 per scenario (default: each scenario's sweep: block)"),
    seeds: Optional[str] = typer.Option(None, help="seeds A:B (A..B-1) per scenario, instead of --episodes"),
    workers: Optional[int] = typer.Option(None, min=1, help="parallel workers (default: the CPU count; carla: one per server)"),
    engine: str = typer.Option("local", help="local (worker processes here) or ray"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="--engine ray: an existing cluster (default: start a local one)"),
    backend: Optional[str] = typer.Option(None, help="embedded (default) or carla"),
    carla_servers: Optional[str] = typer.Option(None, "--carla-servers", help="host:port,host:port or a file of them, one per line: one per worker"),
    sensors: Optional[str] = typer.Option(None, help="record this sensor rig (name in sensors/ or a path); default: none"),
    frame_every: Optional[int] = typer.Option(None, min=1, help="record frames every N ticks (default: 10 Hz)"),
    export: Optional[str] = typer.Option(None, help="kitti,coco,nuscenes: one merged dataset per format in OUT/dataset-FORMAT"),
    shard: Optional[str] = typer.Option(None, help="I/N: only the I-th of N disjoint parts (split by episode key)"),
    resume: bool = typer.Option(False, "--resume", help="continue the stopped sweep in --out"),
    retries: int = typer.Option(2, min=0, help="retries after a backend failure or a dead worker"),
    retry_delay: float = typer.Option(1.0, min=0.0, help="seconds before the first retry; doubles each time"),
    quiet: bool = typer.Option(False, "--quiet", help="log lines instead of a progress bar"),
    weather: Optional[str] = typer.Option(None, help=WEATHER_HELP),
    time_of_day: Optional[str] = typer.Option(None, "--time-of-day", help=TIME_HELP),
    fog: Optional[float] = typer.Option(None, help=FOG_HELP),
    degrade: Optional[str] = typer.Option(None, help=DEGRADE_HELP),
    traffic: Optional[float] = typer.Option(None, help=TRAFFIC_HELP),
) -> None:
    """Run many episodes in parallel into one directory (manifest, resume, retries); exit with the worst outcome."""
    from edgecase.sweep.runner import run_sweep

    summary = run_sweep(scenarios or [], out, episodes=episodes, seeds=seeds, workers=workers, engine=engine,
                        ray_address=ray_address, backend=backend, carla_servers=carla_servers, sensors=sensors,
                        frame_every=frame_every, export=[f.strip() for f in export.split(",") if f.strip()] if export else None,
                        shard=shard, resume=resume, retries=retries, retry_delay_s=retry_delay, quiet=quiet,
                        modifiers=modifiers_from_options(weather, time_of_day, fog, degrade, traffic))
    typer.echo(str(summary))
    raise typer.Exit(summary.exit_code)


@app.command()
def replay(
    episode: Path = typer.Argument(..., help="an episode directory"),
    video: Optional[Path] = typer.Option(None, help="write an annotated MP4: camera + bird's-eye view + timeline"),
    still: Optional[int] = typer.Option(None, help="write the frame at this tick as a PNG (--png FILE)"),
    png: Optional[Path] = typer.Option(None, help="where --still goes"),
    html: bool = typer.Option(False, "--html", help="write EPISODE/report.html (self-contained, with a frame scrubber)"),
    mcap: Optional[Path] = typer.Option(None, help="write an MCAP log for Foxglove"),
    frames: Optional[str] = typer.Option(None, help="ticks A:B (half-open) for --video"),
    camera: Optional[str] = typer.Option(None, help="the camera to show (default: the rig's first)"),
    wireframes: bool = typer.Option(False, "--wireframes", help="draw the projected 3D boxes too"),
    check: bool = typer.Option(False, "--check", help="re-simulate from episode.json; exit 1 at the first divergence"),
    scenario: Optional[Path] = typer.Option(None, help="--check: the scenario file, when its map path is relative to it"),
    carla: bool = typer.Option(False, "--carla", help="replay the episode's CARLA recording on a live server"),
    carla_host: Optional[str] = typer.Option(None, "--carla-host", help="HOST[:PORT] (default: $EDGECASE_CARLA_HOST)"),
) -> None:
    """Inspect an episode: annotated video, still, HTML report, MCAP, re-simulation check, CARLA replay."""
    if not any((video, still is not None, html, mcap, check, carla)):
        raise InputError("say what to replay: --video FILE.mp4, --still TICK --png FILE, --html, --mcap FILE, --check or --carla")
    if video is not None:
        from edgecase.replay.video import write_video

        done = write_video(episode, video, frames=frames, camera=camera, wireframes=wireframes)
        typer.echo(f"video: {done.path} ({done.frames} frames, {done.fps:g} fps, {done.codec}, camera {done.camera or 'none'})")
    if still is not None:
        from edgecase.replay.video import write_still

        if png is None:
            raise InputError("--still needs --png FILE")
        typer.echo(f"still: {write_still(episode, still, png, camera=camera, wireframes=wireframes)}")
    if html:
        from edgecase.replay.html_report import write_html

        typer.echo(f"html: {write_html(episode, camera=camera)}")
    if mcap is not None:
        from edgecase.replay.mcap_export import write_mcap

        done = write_mcap(episode, mcap)
        typer.echo(f"mcap: {done.path} ({done.frames} frames, {sum(done.topics.values())} messages)")
    if carla:
        from edgecase.replay.carla_replay import replay_on_carla

        done = replay_on_carla(episode, carla_host)
        typer.echo(f"replayed {done.recording} on CARLA: {done.duration_s:g} s, {done.ticks} ticks")
    if check:
        from edgecase.replay.check import check_episode

        result = check_episode(episode, scenario=scenario)
        typer.echo(result.summary())
        raise typer.Exit(0 if result.identical else 1)


library_app = typer.Typer(help="The scenario library: list it, or show one scenario.", invoke_without_command=True)
app.add_typer(library_app, name="library")
LIBRARY_DIR_HELP = "the library folder (default: $EDGECASE_SCENARIOS_DIR, else ./scenarios)"


@library_app.callback()
def library(ctx: typer.Context, folder: Optional[Path] = typer.Option(None, "--dir", help=LIBRARY_DIR_HELP)) -> None:
    """List every scenario: name, tags, description; a table on a terminal, tab-separated lines otherwise."""
    if ctx.invoked_subcommand is not None:
        return
    from edgecase.scenario.library import library_dir, list_library

    entries = list_library(library_dir(folder))
    rows = [(e.name, ", ".join(e.tags), e.description if not e.error else f"error: {e.error}") for e in entries]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table("name", "tags", "description")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # Text: a '[...]' in a description is not markup
        Console().print(table)
    else:
        for row in rows:
            typer.echo("\t".join(row))


@library_app.command("show")
def library_show(
    name: str = typer.Argument(..., help="a scenario's name (or its file's stem)"),
    folder: Optional[Path] = typer.Option(None, "--dir", help=LIBRARY_DIR_HELP),
) -> None:
    """Print a scenario's file, then its parameters: name, distribution as written, source comment."""
    from edgecase.scenario.library import find, library_dir, params_as_written

    scenario = find(library_dir(folder), name)
    path = Path(scenario.pos().file)
    typer.echo(f"# {path}")
    typer.echo(path.read_text().rstrip("\n"))
    params = params_as_written(scenario)
    typer.echo(f"\nparameters ({len(params)}):")
    width = max((len(p.name) for p in params), default=0)
    for p in params:
        typer.echo(f"  {p.name:<{width}}  {p.written}" + (f"  # {p.comment}" if p.comment else ""))


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
