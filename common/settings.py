"""Typed settings: a frozen dataclass whose fields are an entry point's flags.

    @dataclass(frozen=True)
    class SlimmingPruning(Settings):
        percent: Optional[float] = flag(None, "fraction of channels to remove, in [0, 1)", type=fraction)
        force: bool = flag(False, "prune a checkpoint that was not sparsity-trained")

``percent`` becomes ``--percent`` (underscores become dashes), with its type, choices and help; a bool
field is a switch (``--force`` when it defaults to False, ``--no-<name>`` when it defaults to True, both
with ``both=True``). :meth:`Settings.add_flags` adds a class's flags to a parser with a recipe's defaults;
:meth:`Settings.from_args` builds the instance from the parsed flags. Settings are frozen: a default that
depends on other settings is filled in by ``dataclasses.replace``, which returns a new object.

An entry point's settings are several classes at once (model, data, training, run folder, the method's
own): :func:`compose` makes one flat class of them, so a method reads ``s.lr`` and ``s.sparsity`` alike.
:func:`recorded` is what a run folder records of it (``args.json``) and names itself by (``common.runs``).
A field made by :func:`derived` is recorded but has no flag (a value resolved from a checkpoint); one made by
:func:`internal` is neither (how often a run logs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Optional

from common.errors import UserError


# ----------------------------------------------------------------------------- value types

def number_type(cast, ok, requirement: str):
    """An argparse type: ``cast(text)`` that must satisfy ``ok(value)``; a bad value gives
    ``"<requirement>, got <value>"`` (e.g. ``number_type(float, lambda v: v > 0, "must be > 0")``)."""
    kind = "an integer" if cast is int else "a number"

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {value:g}")
        return value

    return parse


non_negative_int = number_type(int, lambda v: v >= 0, "must be >= 0")
positive_int = number_type(int, lambda v: v >= 1, "must be >= 1")
positive_float = number_type(float, lambda v: v > 0, "must be > 0")
non_negative_float = number_type(float, lambda v: v >= 0, "must be >= 0")
fraction = number_type(float, lambda v: 0.0 <= v < 1.0, "must lie in [0, 1)")   # a ratio in [0, 1)


def parse_cfg(text):
    """A width cfg given on the command line as JSON (``'[32, 64, "M", 128]'``), or None."""
    if text is None:
        return None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"--cfg is not valid JSON ({e.msg} at position {e.pos}): {text!r}") from None
    if not isinstance(cfg, list):
        raise UserError(f"--cfg must be a JSON list, got {text!r}")
    return cfg


# ----------------------------------------------------------------------------- fields

def flag(default, help: str = "", *, type=None, choices=None, names=(), nargs=None, metavar=None,
         both: bool = False, required: bool = False):
    """A settings field with its command-line flag. ``names``: other spellings (``("--wd",)``);
    ``both``: a bool gets ``--x`` and ``--no-x``; ``required``: the flag must be given."""
    meta = {"flag": dict(help=help, type=type, choices=choices, names=tuple(names), nargs=nargs,
                         metavar=metavar, both=both, required=required)}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type_copy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def derived(default=None):
    """A recorded field without a flag: a value the entry point resolves (e.g. from a checkpoint)."""
    return dataclasses.field(default=default, metadata={"derived": True})


def internal(default=None):
    """A field that is neither a flag nor recorded: how a run is shown or paced, never what it computes."""
    return dataclasses.field(default=default, metadata={"internal": True})


def type_copy(value):
    return type(value)(value)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


class Settings:
    """Base of every settings dataclass (see the module docstring)."""

    @classmethod
    def flag_fields(cls):
        """The fields with a flag: the class's own first, then those it inherits."""
        own = vars(cls).get("__annotations__", {})
        return sorted((f for f in fields(cls) if "flag" in f.metadata), key=lambda f: f.name not in own)

    @classmethod
    def add_flags(cls, parser, defaults: dict | None = None, choices: dict | None = None, omit=(),
                  title: str | None = None, helps: dict | None = None):
        """Add the class's flags to ``parser`` (in an argument group ``title``, if given), with ``defaults``,
        ``choices`` and ``helps`` overriding the declared ones by field name; ``omit``: fields without a flag."""
        defaults, choices, helps = defaults or {}, choices or {}, helps or {}
        unknown = set(defaults) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"{cls.__name__} has no settings {sorted(unknown)}")
        own = [f for f in cls.flag_fields() if f.name not in omit]
        group = parser.add_argument_group(title) if title and own else parser
        for f in own:
            spec = f.metadata["flag"]
            default = defaults.get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
            kw = {"dest": f.name, "help": helps.get(f.name, spec["help"])}
            if f.type in (bool, "bool"):
                if spec["both"]:
                    group.add_argument(_option(f.name), *spec["names"], action="store_true", default=default, **kw)
                    group.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false",
                                       help=f"not {_option(f.name)}")
                else:
                    option = _option(f.name) if not default else "--no-" + f.name.replace("_", "-")
                    group.add_argument(option, *spec["names"], action="store_false" if default else "store_true",
                                       default=default, **kw)
                continue
            for key in ("type", "nargs", "metavar"):
                if spec[key] is not None:
                    kw[key] = spec[key]
            if f.name in choices or spec["choices"] is not None:
                kw["choices"] = choices.get(f.name, spec["choices"])
            if spec["required"] and f.name not in defaults:
                kw["required"] = True
            else:
                kw["default"] = default
            group.add_argument(_option(f.name), *spec["names"], **kw)
        return parser

    @classmethod
    def from_args(cls, namespace, **values):
        """The instance of the parsed flags (fields without a flag: ``values`` or their defaults)."""
        given = vars(namespace) if not isinstance(namespace, dict) else namespace
        kw = {f.name: given[f.name] for f in fields(cls) if f.name in given}
        kw.update(values)
        return cls(**kw)

    def replace(self, **changes):
        """A copy with ``changes`` (settings are frozen)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def of(cls, other):
        """The ``cls`` part of a composed settings object ``other`` (its fields of ``cls``)."""
        return cls(**{f.name: getattr(other, f.name) for f in fields(cls) if hasattr(other, f.name)})


@dataclass(frozen=True)
class NoSettings(Settings):
    """An arm of a method that adds no flags."""


def compose(name: str, *classes: type) -> type:
    """One flat, frozen settings class with every field of ``classes`` (the first class declaring a name
    wins: a method may redeclare a shared setting with its own default or help)."""
    bases = tuple(dict.fromkeys(c for c in classes if c is not None and c is not NoSettings))
    return dataclasses.make_dataclass(name, [], bases=bases or (NoSettings,), frozen=True)


def recorded(settings) -> dict:
    """Every setting of ``settings`` (a settings object, a namespace or a dict), JSON-able."""
    if dataclasses.is_dataclass(settings):
        return {f.name: getattr(settings, f.name) for f in fields(settings) if "internal" not in f.metadata}
    return dict(vars(settings) if not isinstance(settings, dict) else settings)


# ----------------------------------------------------------------------------- parsing

class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line on stderr instead of usage + error, and the
    description (a recipe's docstring) keeps its line breaks."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


@dataclass(frozen=True)
class Part:
    """One settings class of an entry point: its flags get ``defaults`` (a recipe's values), ``choices`` and
    ``helps``, appear under ``title`` in ``--help``, and ``omit`` names fields that have no flag there."""

    settings: type
    defaults: dict = dataclasses.field(default_factory=dict)
    title: Optional[str] = None
    choices: dict = dataclasses.field(default_factory=dict)
    omit: tuple = ()
    helps: dict = dataclasses.field(default_factory=dict)


def entry_point(description: str, parts: list, name: str = "Settings"):
    """The parser and the composed settings class of an entry point made of ``parts`` (:class:`Part`); a
    field declared by an earlier part is not declared again by a later one (a method's own flag wins)."""
    parser = ArgumentParser(description=recipe_doc(description))
    seen: set = set()
    for part in parts:
        part.settings.add_flags(parser, part.defaults, part.choices, omit=(*part.omit, *seen), title=part.title,
                                helps=part.helps)
        seen |= {f.name for f in fields(part.settings)}
    return parser, compose(name, *(part.settings for part in parts))


def check_argv(parser: argparse.ArgumentParser, argv, what: str) -> None:
    """Parse ``argv`` only to check it: a bad flag is a :class:`UserError` naming ``what`` (a step about to be run)."""
    def refuse(message):
        raise UserError(f"{what}: {message}")
    parser.error = refuse
    parser.parse_args([str(a) for a in argv])


def main_guard(run, parser: argparse.ArgumentParser, argv=None, settings: type | None = None,
               interrupted: str = "interrupted; the last checkpoint (if any) is intact, continue with --resume"):
    """Parse ``argv`` (into ``settings``, a settings class, if given) and call ``run``; user errors end as
    one line on stderr and exit code 2, an interruption (Ctrl-C, SIGTERM) as the line ``interrupted``, 130."""
    args = parser.parse_args(argv)
    try:
        with _sigterm_interrupts():
            return run(settings.from_args(args) if settings is not None else args)
    except UserError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write(interrupted + "\n")
        sys.exit(130)


@contextmanager
def _sigterm_interrupts():
    """SIGTERM (a scheduler's stop, the table runner stopping its steps) ends a run as Ctrl-C does: one line, exit
    130, the last checkpoint intact, the run folder released."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def recipe_doc(default: str) -> str:
    """The running recipe file's docstring (what its ``--help`` says), or ``default``."""
    return getattr(sys.modules.get("__main__"), "__doc__", None) or default
