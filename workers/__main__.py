"""``python -m workers worker|beat|status|resume|health`` (the same commands the main CLI has)."""

from __future__ import annotations

import typer

from workers import cli

main = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
main.command(context_settings=cli.PASSTHROUGH)(cli.worker)
main.command(context_settings=cli.PASSTHROUGH)(cli.beat)
main.command()(cli.status)
main.command()(cli.resume)
main.command()(cli.health)

if __name__ == "__main__":
    main()
