"""Command-line options declared on the configuration dataclasses they fill.

A field of a configuration dataclass becomes a command-line option by carrying an :class:`Option`
in its metadata (``alpha: float = ALPHA.field(0.5)``): its help text, how the command line's text
is read (``type`` for argparse, or ``parse`` for text that needs the parameter's name in its
error), the command line's default and whether it is required, and the check of the value. The
check runs for every configuration, however it was built (:func:`check_fields`), so a command
and a script refuse the same values with the same message.

:func:`add_options` adds a dataclass's options to an argparse parser; :func:`from_args` builds the
configuration from the parsed arguments. Checks and parsers raise
:class:`numerics.validate.InputError` naming the field; the ``grokking`` command prints it as
``--flag: message`` and exits 2. Checks that relate several fields stay in the configuration's
own ``check_config``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass
from typing import Any, Callable

KEY = "option"   # the metadata key of a field's Option
FIELD_DEFAULT = object()   # an option's default on the command line: the field's default


@dataclass(frozen=True)
class Option:
    """One command-line option: help, reading, default, check.

    ``type``: argparse's conversion of the text (argparse reports a failure); ``parse(name, text)``:
    a conversion that raises InputError naming ``name``; ``check(name, value) -> value``: the
    check of the value, run on every configuration (None values of optional fields are not
    checked); ``default``: the command line's default where it differs from the field's;
    ``flag``: the option's spelling (default ``--`` and the name with ``-`` for ``_``);
    ``action``: ``store_true`` or ``store_false`` for switches.
    """

    help: str
    type: Callable | None = None
    parse: Callable[[str, Any], Any] | None = None
    check: Callable[[str, Any], Any] | None = None
    required: bool = False
    default: Any = FIELD_DEFAULT
    choices: tuple | None = None
    flag: str | None = None
    action: str | None = None
    metavar: str | None = None

    def field(self, default: Any = MISSING, **changes) -> Any:
        """A dataclass field with this option (``changes`` replace its attributes)."""
        return dataclasses.field(default=default, metadata={KEY: dataclasses.replace(self, **changes)})

    def flag_of(self, name: str) -> str:
        """The option's spelling on the command line."""
        return self.flag or "--" + name.replace("_", "-")


def options(cls) -> dict[str, Option]:
    """The options of a configuration dataclass (class or instance), by field name, in field order."""
    return {f.name: f.metadata[KEY] for f in dataclasses.fields(cls) if KEY in f.metadata}


def _default(cls, name: str, option: Option) -> Any:
    if option.default is not FIELD_DEFAULT:
        return option.default
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name in fields and fields[name].default is not MISSING:
        return fields[name].default
    return None


def add_option(parser, name: str, option: Option, default: Any = None) -> None:
    """Add one option to an argparse parser; its value lands in ``args.<name>``."""
    kwargs: dict[str, Any] = {"dest": name, "help": option.help}
    if option.action is not None:
        kwargs["action"] = option.action
    else:
        kwargs.update(type=option.type, choices=option.choices, metavar=option.metavar)
        if option.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = option.default if option.default is not FIELD_DEFAULT else default
    parser.add_argument(option.flag_of(name), **{k: v for k, v in kwargs.items() if v is not None
                                                   or k == "default"})


def add_options(parser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """Add every option of the configuration dataclass ``cls`` (but those in ``skip``) to ``parser``."""
    for name, option in options(cls).items():
        if name not in skip:
            add_option(parser, name, option, _default(cls, name, option))


def read(name: str, option: Option, value: Any) -> Any:
    """The value of an option as parsed by argparse, converted by its ``parse`` (if any)."""
    if option.parse is not None and value is not None:
        return option.parse(name, value)
    return value


def from_args(cls, args, **given) -> Any:
    """The configuration ``cls`` from parsed arguments: each option field read from ``args``
    (:func:`read`), the fields in ``given`` as given, the other fields at their defaults; every
    field checked (:func:`check_fields`)."""
    values = dict(given)
    for name, option in options(cls).items():
        if name not in values and hasattr(args, name):
            values[name] = read(name, option, getattr(args, name))
    return check_fields(cls(**values))


def check_fields(config) -> Any:
    """Run the check of every option field of ``config`` (InputError naming the first bad one);
    return ``config``."""
    for name, option in options(config).items():
        value = getattr(config, name)
        if option.check is not None and value is not None:
            option.check(name, value)
    return config


def one_of(*choices) -> Callable[[str, Any], Any]:
    """A check that the value is one of ``choices``."""
    def checked(name: str, value: Any) -> Any:
        from grokking_workbench.numerics.validate import InputError

        if value not in choices:
            raise InputError(name, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    return checked
