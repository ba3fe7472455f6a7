"""Typer's coercion of parameter values, without importing pydantic where it has nothing to do.

Typer (0.2x) coerces every non-bool parameter through a pydantic ``TypeAdapter``, built when the
command runs, for an option left unset too: importing pydantic and building the adapters was about
0.14 s of a 0.40 s ``mk model list``. ``defer_adapters`` makes each parameter's coercion wait for a
value that needs it. A string for a ``str`` parameter, or a number default for an unconstrained
number, is the value pydantic would return, and is passed through; so is the ``int`` of a plain run
of up to 18 digits (``mk runs show 12``), as pydantic reads it. A string for a ``Path`` becomes
the ``Path`` pydantic would make of it and goes through Typer's own path checks (``exists``,
``dir_okay`` ...). Anything else (any other number typed on the command line, a choice, a list, a
custom parser, a bounded option) goes to the adapter Typer builds, with Typer's own messages for
bad values.

It replaces one name in ``typer.core`` (``build_runtime_param``); on a Typer without it, nothing is
replaced and every parameter is coerced as Typer does it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAIN = (str, int, float)
DIGITS = re.compile(r"-?[0-9]{1,18}")  # an int pydantic reads as int() does; anything else goes to pydantic


def defer_adapters() -> bool:
    """Install the deferred coercion in Typer; whether it could be installed."""
    try:
        from typer import core
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:
        return False
    if getattr(core, "build_runtime_param", None) is not build_runtime_param:
        return False

    @dataclass(frozen=True)
    class Deferred(RuntimeParam):  # type: ignore[misc]
        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info, annotation = self.parameter_info, self.annotation
            if info.parser is None and annotation in PLAIN:
                if annotation is str and isinstance(value, str):
                    return value
                if info.min is None and info.max is None:
                    if type(value) is annotation:
                        return value
                    if annotation is int and isinstance(value, str) and DIGITS.fullmatch(value):
                        return int(value)
            if info.parser is None and annotation is Path and isinstance(value, str):
                return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
            return build_runtime_param(self.descriptor)._coerce_value(value, param, ctx)

    def deferred(descriptor: Any) -> Any:
        if descriptor.file_annotation is not None:
            return build_runtime_param(descriptor)
        return Deferred(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, descriptor=descriptor)

    core.build_runtime_param = deferred
    return True
