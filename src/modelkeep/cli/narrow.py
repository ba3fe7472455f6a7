"""Build only the command a command line names.

On every run Typer turns the whole app into Click commands first: each of some 90 commands has its
signature read, its annotations evaluated and a pydantic adapter built per parameter, about 0.3 s
of a 0.55 s ``mk model list`` where one command is needed. ``narrowed`` copies the app keeping,
at each level, only the group or command the next word names, so what runs, its options, its
``--help`` and its errors are the same as the whole app's. Where the words are anything else
(``mk --help``, an option before the command, a misspelt command), the whole app is kept and says
what it always said.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import typer
from typer.main import get_command_name
from typer.models import CommandInfo, TyperInfo

PASSED_OVER = {"--debug"}  # the top level's flags that take no value: the command's word may follow them


def narrowed(app: typer.Typer, words: Sequence[str], *, top: bool = True) -> typer.Typer:
    """``app`` with only the command or group that ``words`` (the arguments after ``mk``) name, at every level."""
    passed_over = PASSED_OVER if top else set()
    index = 0
    while index < len(words) and words[index] in passed_over:
        index += 1
    if index == len(words) or words[index].startswith("-"):
        return app
    word, rest = words[index], words[index + 1:]
    for command in app.registered_commands:
        name = command.name or (get_command_name(command.callback.__name__) if command.callback else None)
        if name == word:
            return _keeping(app, commands=[command], groups=[], top=top)
    for group in app.registered_groups:
        if isinstance(group.name, str) and group.name == word and group.typer_instance is not None:
            kept = copy.copy(group)
            kept.typer_instance = narrowed(group.typer_instance, rest, top=False)
            return _keeping(app, commands=[], groups=[kept], top=top)
    return app


def _keeping(app: typer.Typer, *, commands: list[CommandInfo], groups: list[TyperInfo], top: bool) -> typer.Typer:
    if top and app.registered_callback is None and app.info.callback is None and not groups:
        return app  # at the top, one command and no callback would become a bare command with another usage line
    kept = copy.copy(app)
    kept.registered_commands = commands
    kept.registered_groups = groups
    return kept
