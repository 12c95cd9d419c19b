"""The bad-input sweep: every command, fed the generated corpus of bad and awkward inputs
(tests/bad_inputs.py), must fail cleanly. Per case:

* no traceback, a non-zero exit;
* the last line is ``Error: ...``, one line that names the problem (the case's expected text) and the
  fix (an instruction or an example; click's usage errors point to ``--help``);
* no output and no hidden temp file left behind; every input file byte-identical afterwards.

Plus, in real processes: a full disk (a file-size limit) during each writer, and SIGTERM during a render.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from bad_inputs import CASES, make_corpus
from click.testing import CliRunner

from kpanim.commands.cli import COMMANDS, cli

# words of an instruction or an example: "give ...", "use ...", "choose ...", "e.g. --fps 30", ...
FIX = re.compile(r"(?<![\w-])(give|use|choose|pass|re-create|re-export|re-save|create|predict|prepare|install|"
                 r"upgrade|free|rescale|scale|split|convert|check|train|copy|lower|leave out|rename|select|try|"
                 r"e\.g\.|see|add|write|export|run|reinstall|delete|move|drop|omit|remove)(?!\w)", re.IGNORECASE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, astronaut_png, astronaut_subject):
    root = make_corpus(tmp_path_factory.mktemp("bad_inputs"), Path(astronaut_png), astronaut_subject)
    pristine = tmp_path_factory.mktemp("pristine") / "corpus"
    shutil.copytree(root, pristine, symlinks=True)
    return root, pristine


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (hidden ones too): file → sha256, folder → "dir", symlink → its target."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_clean_failure(res, expected: str) -> str:
    """The checks every bad input must pass; returns the error line."""
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"uncaught {type(res.exception).__name__}: {res.exception}\n{res.output}"
    assert res.exit_code not in (0, None), f"exit 0 for a bad input:\n{res.output}"
    assert "Traceback" not in res.output, res.output
    assert not re.search(r"\w+Warning: ", res.output), f"a warning in Python's display, not one line:\n{res.output}"
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: "), f"no 'Error:' line last:\n{res.output}"
    error = lines[-1]
    assert expected.lower() in error.lower(), f"expected {expected!r} in: {error}"
    assert len(error) < 400, f"not a one-line message: {error}"
    usage = res.exit_code == 2 and any(line.startswith("Try '") and "--help" in line for line in lines)
    assert usage or FIX.search(error.split(":", 2)[-1]), f"the message names no fix: {error}"
    return error


def run_case(corpus, monkeypatch, command: str, args: list[str], expected: str) -> None:
    root, pristine = corpus
    monkeypatch.chdir(root)
    from kpanim.serving.viewer import ViewerServer

    def no_serving(self):
        raise AssertionError("view started serving a bad input")

    monkeypatch.setattr(ViewerServer, "__enter__", no_serving)
    before = snapshot(root)
    try:
        res = CliRunner().invoke(cli, [command, *args])
        assert_clean_failure(res, expected)
        after = snapshot(root)
        assert after.keys() - before.keys() == set(), f"left behind: {sorted(after.keys() - before.keys())}"
        changed = [k for k in before if after.get(k) != before[k]]
        assert not changed, f"inputs changed or removed: {changed}"
    finally:  # one failing case must not spoil the next
        if snapshot(root) != before:
            shutil.rmtree(root)
            shutil.copytree(pristine, root, symlinks=True)


def _make_test(command: str):
    @pytest.mark.parametrize("case, args, expected", CASES[command], ids=[c[0] for c in CASES[command]])
    def test(corpus, monkeypatch, case, args, expected):
        run_case(corpus, monkeypatch, command, args, expected)

    test.__name__ = f"test_{command.replace('-', '_')}_bad_inputs"
    test.__doc__ = f"Every bad input to 'kpanim {command}' fails cleanly."
    return test


for _command in CASES:  # one parametrised test per command
    globals()[f"test_{_command.replace('-', '_')}_bad_inputs"] = _make_test(_command)


def test_warnings_on_the_way_are_one_line(corpus, monkeypatch):
    """A warning from the API while a command runs shows as one 'Warning: ...' line, not Python's display."""
    monkeypatch.chdir(corpus[0])
    with warnings.catch_warnings():  # as outside pytest: warnings are shown, not recorded
        warnings.simplefilter("default")
        res = CliRunner().invoke(cli, ["preview", "anim.npz", "-o", "out.mp4", "--audio", "cut.wav"])
    assert "Warning: cut.wav: the WAV header promises" in res.output, res.output
    assert not re.search(r"\w+Warning: ", res.output), res.output


def test_every_command_is_swept():
    assert set(CASES) == set(COMMANDS), "add bad-input cases for the new command to tests/bad_inputs.py"
    assert sum(len(c) for c in CASES.values()) >= 150


# ------------------------------------------------------------------------------ real processes
def _kpanim(args, cwd, **kwargs):
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "kpanim", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _file_size_limit(limit: int):
    def apply():  # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG ("File too large")
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("args", [
    ["predict", "speech.wav", "-o", "out.npz"],
    ["preview", "anim.npz", "-o", "out.mp4"],
    ["render", "anim.npz", "--subject", "face.png", "--renderer", "none", "--preview", "-o", "out.mp4"],
    ["export", "anim.npz", "-o", "out.glb"],
    ["subject", "face.png", "-o", "out.subject.npz"],
], ids=["predict", "preview", "render", "export", "subject"])
def test_full_disk_is_one_line_and_leaves_nothing(corpus, args):
    """A write that runs out of room (here a 4 kB file-size limit) ends in one line, no partial file."""
    from kpanim.speech.whisper_frontends import whisper_ct2_dir

    whisper_ct2_dir()  # the model cache is assembled here, not under the limit
    root, _ = corpus
    before = snapshot(root)
    proc = _kpanim(args, root, preexec_fn=_file_size_limit(4_000))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("Error: cannot write out.") and "too large" in last.lower() and "free some space" in last
    assert snapshot(root) == before


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_stopping_a_render_cleans_up_with_the_shells_exit_status(corpus, tmp_path, sig, code):
    """SIGTERM (a scheduler, ``kill``) is handled like Ctrl-C: the temp file goes, exit 128 + signal."""
    root, _ = corpus
    from conftest import make_animation

    make_animation(n_frames=1500).save(tmp_path / "long.npz")
    shutil.copy(root / "face.png", tmp_path / "face.png")
    # as in a terminal: a test run started in the background (`make test &`) inherits SIGINT ignored
    proc = _kpanim(["render", "long.npz", "--subject", "face.png", "--renderer", "none", "-o", "talk.mp4"], tmp_path,
                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".talk.mp4.*")):
        time.sleep(0.1)
    assert list(tmp_path.glob(".talk.mp4.*")), "render never started writing"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png", "long.npz"]
