"""The ``covidbank`` command line: one module per command group.

Each module of this package listed in :data:`COMMAND_MODULES` adds its
commands through ``register(app)``; heavy imports stay inside the command
bodies, so ``covidbank --help`` starts fast.  Library code never imports this
package: it raises :class:`~covidbank.errors.CovidbankError` and the commands
turn that into a one-line message (:func:`fail`).
"""
from __future__ import annotations

import copy
import importlib
import sys

import typer
from typer.core import TyperGroup

from ..errors import CovidbankError
from ._output import configure, console, fail, out, print_frame, print_json

__all__ = ["app", "main", "get_app", "console", "out", "fail", "print_frame", "print_json", "COMMAND_MODULES"]


class _Group(TyperGroup):
    """Commands whose stray ``CovidbankError`` or ``OSError`` (a missing extra, an --out that is a folder, a full disk) ends in one line, not a traceback."""

    def invoke(self, ctx):  # noqa: D102
        try:
            return super().invoke(ctx)
        except CovidbankError as e:  # a missing extra, or an error a command did not catch itself
            raise fail(str(e)) from None
        except OSError as e:
            where = e.filename if e.filename is not None else ""
            if e.filename2 is not None:
                where = f"{where} -> {e.filename2}"
            raise fail(f"{where}: {e.strerror or e}" if where else f"{e.__class__.__name__}: {e}") from None


app = typer.Typer(
    cls=_Group,
    name="covidbank",
    help="Toolkit and data bank for COVID-19 chest imaging.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"covidbank {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More detail on stderr (-vv: debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results and errors: no messages, no progress."),
) -> None:
    """Toolkit and data bank for COVID-19 chest imaging."""
    configure(verbose, quiet)


#: Modules whose ``register(app)`` adds commands, one per command group.
COMMAND_MODULES: list[str] = [
    "covidbank.cli.bank",
    "covidbank.cli.catalog",
    "covidbank.cli.demo",
    "covidbank.cli.dicom_derived",
    "covidbank.cli.ingest",
    "covidbank.cli.nlp",
    "covidbank.cli.pacs",
    "covidbank.cli.ml",
    "covidbank.cli.privacy",
    "covidbank.cli.severity",
    "covidbank.cli.validation",
    "covidbank.cli.web",
    "covidbank.cli.share",
]


def _register_commands() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(app)


def main() -> None:
    """Entry point of the ``covidbank`` command."""
    get_app()
    only = _command_app(sys.argv[1:])
    (only or app)()


#: The global options (:func:`_global_options`) that may come before a command name: flags without a value.
_GLOBAL_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "--quiet"})


def _command_app(argv: list[str]) -> typer.Typer | None:
    """The app with only the command ``argv`` names (after the global flags), or None when it names none.

    Typer builds the Click parameters of every registered command before it
    parses the command line (about 0.2 s for covidbank's thirty commands); a
    run needs only the one it invokes.  The app keeps its callback (global
    options) and everything else; ``--help``, ``--version``, no command or an
    unknown one get the whole app (its list of commands and its suggestions).
    """
    name = next((a for a in argv if a not in _GLOBAL_FLAGS), None)
    if name is None or name.startswith("-"):
        return None
    commands = [c for c in app.registered_commands
                if (c.name or typer.main.get_command_name(c.callback.__name__)) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return None
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


_register_commands_done = False


def get_app() -> typer.Typer:
    """The app with every feature's commands registered (for tests)."""
    global _register_commands_done
    if not _register_commands_done:
        _register_commands()
        _register_commands_done = True
    return app
