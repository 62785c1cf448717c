"""``python -m workers worker|beat|status|resume|health`` (the worker commands, standalone)."""

from __future__ import annotations

from typing import Annotated

import typer

from workers import cli

main = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@main.command(context_settings=PASSTHROUGH)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c")] = None,
    loglevel: Annotated[str | None, typer.Option("--loglevel", "-l")] = None,
) -> None:
    """Run a Celery worker (other options go to `celery worker`)."""
    cli.worker(ctx.args, concurrency=concurrency, loglevel=loglevel)


@main.command(context_settings=PASSTHROUGH)
def beat(
    ctx: typer.Context, loglevel: Annotated[str | None, typer.Option("--loglevel", "-l")] = None
) -> None:
    """Run Celery beat, exactly one (other options go to `celery beat`)."""
    cli.beat(ctx.args, loglevel=loglevel)


@main.command()
def status(
    run_id: Annotated[str | None, typer.Argument(help="Run id; omitted: recent runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a run's status and progress."""
    cli.status(run_id, as_json=as_json)


@main.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id of a failed run.")],
    force: Annotated[bool, typer.Option("--force", help="Restart a stuck active run.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow progress.")] = True,
) -> None:
    """Resume a failed run; completed partitions are not redone."""
    cli.resume(run_id, force=force, wait=wait)


@main.command()
def health(target: Annotated[str, typer.Argument(help="worker | beat | redis")] = "worker") -> None:
    """Exit 0 if healthy (container healthchecks)."""
    cli.health(target)


if __name__ == "__main__":
    main()
