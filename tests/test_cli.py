import numpy as np
from click.testing import CliRunner

from kpanim import __version__
from kpanim.commands.cli import COMMANDS, cli


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_version_and_help():
    res = run("--version")
    assert res.exit_code == 0 and __version__ in res.output
    res = run("--help")
    assert res.exit_code == 0 and "subject" in res.output and "info" in res.output
    for name in ("subject", "info"):
        res = run(name, "--help")
        assert res.exit_code == 0 and "Usage" in res.output


def test_help_lists_only_commands_that_exist():
    import importlib.util

    out = run("--help").output
    for name, (target, _) in COMMANDS.items():
        exists = importlib.util.find_spec(target.split(":")[0]) is not None
        assert (f"  {name} " in out) == exists, name


def test_subject_command_and_info(tmp_path, astronaut_png):
    out = tmp_path / "astro.subject.npz"
    res = run("subject", astronaut_png, "-o", out)
    assert res.exit_code == 0, res.output
    assert "reprojection error" in res.output and out.is_file()
    res = run("info", out)
    assert res.exit_code == 0 and "kpanim subject astronaut-" in res.output


def test_info_on_animation(tmp_path, animation):
    path = animation.save(tmp_path / "a.npz")
    res = run("info", path)
    assert res.exit_code == 0, res.output
    assert "frames 50 at 25 fps = 2.00 s" in res.output and "dense" in res.output


def _one_line_error(res, text):
    assert res.exit_code != 0
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and text in lines[-1], res.output
    assert "Traceback" not in res.output


def test_user_mistakes_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"no zip")
    _one_line_error(run("info", junk), "not a kpanim .npz or .glb file")
    _one_line_error(run("info", tmp_path / "missing.npz"), "no such file")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(blank)
    out = tmp_path / "blank.subject.npz"
    _one_line_error(run("subject", blank, "-o", out), "no face found")
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))


def test_unwritable_output_is_a_clear_error(tmp_path, astronaut_png):
    res = run("subject", astronaut_png, "-o", tmp_path / "no" / "such" / "dir" / "s.npz")
    _one_line_error(res, "does not exist")
