"""Issue 21, item 1: the common options mean the same wherever they are written, and the person's
real platform folders are never written when explicit ones are given."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import REPO, run_comicdesk

import comicdesk.cli as cli

SAMPLE_CBZ = REPO / "resources" / "sample-library" / "Captain Science" / "Captain Science #001 (1950).cbz"


def parse(*argv: str):
    return cli.build_parser().parse_args(cli.normalise_argv(list(argv)))


@pytest.mark.parametrize("argv", [
    ["--cache-dir=C", "--data-dir=D", "scan", "B"],
    ["--cache-dir", "C", "--data-dir", "D", "scan", "B"],
    ["scan", "B", "--cache-dir", "C", "--data-dir=D"],
    ["--cache-dir", "C", "scan", "--data-dir", "D", "B"],
    ["--data-dir=D", "scan", "B", "--cache-dir=C"],
])
def test_dir_options_before_or_after_the_command(argv):
    args = parse(*argv)
    assert (args.command, args.path, args.cache_dir, args.data_dir) == ("scan", "B", "C", "D")
    assert args.json is False and args.profile is None


@pytest.mark.parametrize("argv", [
    ["--json", "--profile", "cosmo", "pages", "B"],
    ["--profile=cosmo", "pages", "B", "--json"],
    ["pages", "--json", "B", "--profile", "cosmo"],
])
def test_json_and_profile_before_or_after_the_command(argv):
    args = parse(*argv)
    assert (args.command, args.book, args.json, args.profile) == ("pages", "B", True, "cosmo")
    assert args.cache_dir is None and args.data_dir is None


@pytest.mark.parametrize("argv, path", [
    (["--cache-dir", "X", "PATH"], "PATH"),
    (["--cache-dir=X", "PATH"], "PATH"),
    (["PATH", "--cache-dir", "X"], "PATH"),
    (["--profile", "cosmo", "--cache-dir", "X"], None),
    # A folder that happens to be called like a command's option value is still the path.
    (["--data-dir", "scan", "--cache-dir", "X", "lib"], "lib"),
])
def test_the_app_still_opens_on_the_path(argv, path):
    args = parse(*argv)
    assert args.command == "gui" and args.path == path and args.cache_dir == "X"


@pytest.mark.parametrize("argv", [
    ["--rtl", "pages", "B"],  # an option of another command, before the command name
    ["--cache-dir"],  # no value
    ["scan", "B", "--cache-dir"],
    ["pages", "B", "--screenshot", "x.png"],
    ["--profile", "nonsense", "scan", "B"],
])
def test_an_option_that_cannot_be_placed_is_an_error(argv, capsys):
    with pytest.raises(SystemExit) as err:
        parse(*argv)
    assert err.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--json", "PATH"], ["--json"], ["gui", "PATH", "--json"]])
def test_json_for_the_app_is_an_error_not_ignored(argv, capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(argv)
    assert err.value.code == 2
    assert "--json needs a command" in capsys.readouterr().err


def _isolated_env(tmp_path: Path) -> tuple[dict, list[Path]]:
    """The environment of a person whose platform folders are tmp folders we can watch."""
    home = tmp_path / "home"
    xdg = [home / ".cache", home / ".local" / "share", home / ".config", home / ".local" / "state"]
    for p in xdg:
        p.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMICDESK_", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(xdg[0]), XDG_DATA_HOME=str(xdg[1]),
               XDG_CONFIG_HOME=str(xdg[2]), XDG_STATE_HOME=str(xdg[3]))
    return env, xdg


@pytest.mark.parametrize("form", ["equals-before", "space-before", "after"])
def test_explicit_dirs_are_used_and_platform_dirs_stay_empty(tmp_path, form):
    env, xdg = _isolated_env(tmp_path)
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copyfile(SAMPLE_CBZ, lib / "book.cbz")
    cache, data = tmp_path / "CACHE", tmp_path / "DATA"
    if form == "equals-before":
        argv = [f"--cache-dir={cache}", f"--data-dir={data}", "--json", "scan", lib]
    elif form == "space-before":
        argv = ["--cache-dir", cache, "--data-dir", data, "--json", "scan", lib]
    else:
        argv = ["scan", lib, "--cache-dir", cache, f"--data-dir={data}", "--json"]
    proc = run_comicdesk(argv, env)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["pages"] for r in rows] == [5]
    assert list(cache.rglob("catalog.sqlite")) and (data / "libraries.json").is_file()
    for p in xdg:
        assert list(p.rglob("*")) == [], p


def test_bare_command_with_dirs_writes_nowhere_else(tmp_path):
    """`comicdesk --json --cache-dir C --data-dir D pages BOOK` reads, writes nothing anywhere."""
    env, xdg = _isolated_env(tmp_path)
    cache, data = tmp_path / "CACHE", tmp_path / "DATA"
    proc = run_comicdesk(["--json", "--cache-dir", cache, "--data-dir", data, "pages", SAMPLE_CBZ], env)
    assert len(proc.stdout.splitlines()) == 5 and json.loads(proc.stdout.splitlines()[0])["index"] == 0
    for p in xdg:
        assert list(p.rglob("*")) == [], p
