"""The options of ``grokking ode|simulate|dmft`` come from their configuration dataclasses.

Every option of a command's ``--help`` is a field of the configuration it fills or one of the
command's own few options; every field with an option is on the command line as declared; and a
value that a field's check refuses makes the command exit 2 with a message naming the option.
"""

from __future__ import annotations

import argparse

import pytest

from grokking_workbench.experiments import cli
from grokking_workbench.numerics import options
from grokking_workbench.numerics.dmft.solver import DMFTConfig
from grokking_workbench.numerics.ode import ODEConfig
from grokking_workbench.numerics.simulate.committee import CommitteeConfig
from grokking_workbench.numerics.validate import InputError

CONFIGS = {"ode": ODEConfig, "simulate": CommitteeConfig, "dmft": DMFTConfig}
COMMAND_OPTIONS = {"ode": {"out", "overwrite"},
                   "simulate": {"out", "overwrite", "resume"},
                   "dmft": {"out", "overwrite", "resume", "uniform", "two_time_points", "workers", "N"}}
BASE = {
    "ode": ["ode", "--N", "2", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
            "--t-max", "10", "--records", "10"],
    "simulate": ["simulate", "--N", "2", "--D", "20", "--gamma", "2", "--alpha", "0.5", "--eps",
                 "0.05", "--A0", "0.04,-0.02", "--seeds", "2", "--t-max", "1", "--dt", "0.1",
                 "--records", "5"],
    "dmft": ["dmft", "--N", "2", "--gamma", "8", "--alpha", "0.5", "--eps", "0.05", "--A0",
             "0.04,-0.02", "--t-max", "2", "--dt", "0.5", "--samples", "50"],
}
CANDIDATES = ("0", "-1", "nan", "-inf", "2", "0.5,nan", "tpu")   # tried in turn for a refused value


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.mark.parametrize("command", CONFIGS)
def test_every_option_is_a_field_or_a_command_option(command):
    declared = options.options(CONFIGS[command])
    actions = [a for a in _subparser(command)._actions if a.dest != "help"]
    for action in actions:
        assert action.dest in declared or action.dest in COMMAND_OPTIONS[command], action.dest
    on_line = {a.dest: a for a in actions}
    for name, option in declared.items():
        action = on_line[name]
        assert action.option_strings == [option.flag_of(name)]
        assert action.help == option.help and option.help
        assert action.required == option.required
        assert tuple(action.choices or ()) == tuple(option.choices or ())


def _refused(name: str, option: options.Option) -> str | None:
    """A command-line value that argparse accepts and the field's reading or check refuses."""
    for text in CANDIDATES:
        try:
            value = option.type(text) if option.type else text
        except ValueError:
            continue
        try:
            option.check(name, options.read(name, option, value))
        except InputError:
            return text
    return None


CHECKED = [(command, name) for command, cls in CONFIGS.items()
           for name, option in options.options(cls).items() if option.check is not None]


@pytest.mark.parametrize("command, name", CHECKED)
def test_a_refused_value_exits_2_naming_the_option(command, name, tmp_path, capsys):
    option = options.options(CONFIGS[command])[name]
    if option.choices is not None:
        pytest.skip("argparse refuses values outside the choices")
    text = _refused(name, option)
    assert text is not None, f"no candidate value is refused by the check of {name}"
    argv = list(BASE[command])
    flag = option.flag_of(name)
    if name == "P":
        del argv[argv.index("--gamma"):argv.index("--gamma") + 2]   # give P instead of gamma
    if flag in argv:
        argv[argv.index(flag) + 1] = text
    else:
        argv += [flag, text]
    out = tmp_path / "out.nc"
    assert cli.main(argv + ["--out", str(out)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{flag}:" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("command", CONFIGS)
def test_the_check_of_a_field_also_refuses_a_configuration_built_in_code(command):
    cls = CONFIGS[command]
    checked = {name: option for name, option in options.options(cls).items()
               if option.check is not None and option.choices is None and option.type is not None
               and option.parse is None}
    name, option = next(iter(checked.items()))
    bad = option.type(_refused(name, option))
    good = {"ode": dict(N=2, alpha=0.5, eps=0.05, A0=(0.04, -0.02), t_max=10.0),
            "simulate": dict(N=2, D=20, gamma=2.0),
            "dmft": dict(A0=(0.04, -0.02))}[command]
    with pytest.raises(InputError) as info:
        options.check_fields(cls(**{**good, name: bad}))
    assert info.value.param == name
