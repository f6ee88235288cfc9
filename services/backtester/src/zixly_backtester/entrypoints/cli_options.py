"""What the command line accepts: option types, ``--param`` / ``--grid`` / ``--constraint`` parsing.

Every refusal is one line that names the option (``CliError`` or an ``argparse`` type error); none
passes a library's own message (pydantic, pandas) through.
"""

from __future__ import annotations

import argparse
import math
import re
import signal
from collections.abc import Callable, Sequence
from typing import Any

EXIT_USAGE = 2
#: The reader of the output went away (`… | head`): the status a shell gives a process ended by SIGPIPE.
EXIT_READER_GONE = 128 + signal.SIGPIPE

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_NAME_RE = re.compile(rf"^{_NAME}$")
_NUMBER_RE = re.compile(r"^[+\-]?(\d+\.?\d*|\.\d+)([eE][+\-]?\d+)?$")
_CONSTRAINT = re.compile(r"^\s*(\S+?)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")


class CliError(ValueError):
    """Bad input on the command line: reported on stderr with exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


class StoreOnce(argparse.Action):
    """``store``, but an option given twice is an error instead of the last one silently winning."""

    def __init__(self, *args: Any, hint: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hint = hint

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given: set[str] = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in given:
            parser.error(f"{option_string} is given more than once{self.hint}")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def number(text: str, what: str) -> int | float:
    t = text.strip()
    if not _NUMBER_RE.match(t):
        raise CliError(f"{what}: {text!r} is not a number")
    try:
        return int(t)
    except ValueError:
        pass
    v = float(t)
    if not math.isfinite(v):
        raise CliError(f"{what}: {text!r} is not a finite number")
    return v


def bounded(kind: type, low: float, high: float, *, even: bool = False) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` within [low, high] (and even, if asked)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not low <= value <= high or (even and value % 2):
            raise argparse.ArgumentTypeError(
                f"{text} is outside [{low:g}, {high:g}]" + (" or odd" if even else "")
            )
        return value

    return parse


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""
    what = "a non-negative integer" if low == 0 else f"an integer of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value

    return parse


def _key_value(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise CliError(f"{flag} must look like name=value, got {text!r}")
    key = key.strip()
    if not _NAME_RE.match(key):
        raise CliError(f"{flag} {text!r}: {key!r} is not a parameter name")
    return key, value.strip()


def parse_params(items: Sequence[str]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for item in items:
        k, v = _key_value(item, "--param")
        if k in out:
            raise CliError(f"--param {k} is given more than once")
        out[k] = number(v, f"--param {k}")
    return out


def parse_grid(items: Sequence[str]) -> dict[str, object]:
    """``k=start:stop[:step]`` (stop inclusive, step 1 if omitted), ``k=v1,v2,…`` or ``k=v``."""
    from zixly_contracts.sweep_spec import Range

    out: dict[str, object] = {}
    for item in items:
        k, v = _key_value(item, "--grid")
        if k in out:
            raise CliError(f"--grid {k} is given more than once (list every value in one: {k}=5,6,7)")
        where = f"--grid {k}={v}"
        if ":" in v:
            parts = v.split(":")
            if len(parts) not in (2, 3):
                raise CliError(f"{where}: a range is start:stop or start:stop:step")
            start, stop, *rest = (number(p, where) for p in parts)
            step = rest[0] if rest else 1
            if step <= 0:
                raise CliError(f"{where}: the step must be positive, got {step}")
            if stop < start:
                raise CliError(f"{where}: the range's stop {stop} is below its start {start}")
            out[k] = Range(start=start, stop=stop, step=step)
        elif "," in v:
            parts = v.split(",")
            if any(not p.strip() for p in parts):
                raise CliError(f"{where}: the list has an empty value")
            out[k] = [number(p, where) for p in parts]
        else:
            out[k] = number(v, where)
    return out


def parse_constraint(text: str) -> tuple[str, str, str | int | float]:
    """``fast<slow`` or ``period>=5`` as data: (left, op, right), left a name, right a name or a number."""
    shape = f"--constraint {text!r}: expected name<op>name or name<op>number with op one of < <= > >= == !="
    m = _CONSTRAINT.match(text)
    if not m:
        raise CliError(shape)
    left, op, right = m.groups()
    if not _NAME_RE.match(left):
        raise CliError(f"{shape} (the left side {left!r} is not a parameter name)")
    if _NAME_RE.match(right):
        return left, op, right
    try:
        return left, op, number(right, "--constraint")
    except CliError:
        raise CliError(
            f"{shape} (the right side {right!r} is neither a parameter name nor a number; "
            "arithmetic such as slow+100 is not supported)"
        ) from None


def pydantic_message(exc: Exception) -> str:
    """The reasons in a pydantic ``ValidationError`` without pydantic's prefixes, else the text."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", e)).removeprefix("Value error, ") for e in errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
