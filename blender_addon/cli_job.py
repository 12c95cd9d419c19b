"""Run the external ``kpanim`` command in the background and follow its progress (no bpy).

Blender's Python has no torch, so "Generate from audio" runs the user's installed ``kpanim
predict`` as a child process. Its stderr is read on a thread (a full pipe would stall the child);
tqdm's ``NN%|`` updates give the progress, and the last non-progress line is the error message
shown to the user when the command fails.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
from pathlib import Path

_PERCENT = re.compile(r"(\d{1,3})%\|")


def predict_command(kpanim: str, audio: str | Path, subject: str | Path, output: str | Path) -> list[str]:
    """The argv for ``kpanim predict AUDIO --subject SUBJECT -o OUTPUT --arkit`` (the .npz then also holds the
    ARKit-52 curves that *Drive ARKit Shape Keys* reads).

    ``kpanim`` is the executable's path or name, or a command line such as
    ``"/path/python -m kpanim"`` (split with shell rules).
    """
    text = kpanim.strip() or "kpanim"
    # A plain existing path is taken whole (it may contain spaces or Windows backslashes).
    argv = [text] if Path(text).is_file() else shlex.split(text, posix=os.name != "nt")
    exe = argv[0]
    if not Path(exe).is_file() and shutil.which(exe) is None:
        if Path(exe).name != exe:  # looks like a path
            raise FileNotFoundError(f"kpanim executable {exe} does not exist; fix the path in the add-on preferences")
        raise FileNotFoundError(f"'{exe}' is not on PATH; set the kpanim executable in the add-on preferences "
                                "(e.g. /home/me/.venv/bin/kpanim)")
    return [*argv, "predict", str(audio), "--subject", str(subject), "-o", str(output), "--arkit"]


class CliJob:
    """One running command; poll it from a timer.

    >>> job = CliJob(["kpanim", "predict", ...]); job.start()
    >>> while job.poll() is None: ...   # job.progress in [0, 1]
    >>> job.returncode, job.error_line
    """

    def __init__(self, argv: list[str], env: dict | None = None):
        self.argv = list(argv)
        self.env = env
        self.progress = 0.0
        self.lines: list[str] = []  # non-progress stderr lines, in order
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "CliJob":
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, env=self.env)
        except OSError as err:
            raise FileNotFoundError(f"cannot run {self.argv[0]}: {err.strerror or err}") from None
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        return self

    def _read_stderr(self) -> None:
        buf = b""
        assert self._proc is not None and self._proc.stderr is not None
        stream = self._proc.stderr
        while True:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                break
            buf += chunk
            # tqdm redraws its bar with '\r'; ordinary messages end with '\n'.
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for part in parts:
                self._take(part.decode("utf-8", "replace"))
        if buf:
            self._take(buf.decode("utf-8", "replace"))

    def _take(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        found = _PERCENT.findall(line)
        with self._lock:
            if found:
                self.progress = min(1.0, max(self.progress, int(found[-1]) / 100.0))
            else:
                self.lines.append(line)
                del self.lines[:-200]

    def poll(self) -> int | None:
        """The exit status once the command has finished (and its stderr is read), else None."""
        if self._proc is None:
            raise RuntimeError("CliJob.poll() before start()")
        code = self._proc.poll()
        if code is None:
            return None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def wait(self, timeout: float | None = None) -> int:
        assert self._proc is not None
        self._proc.wait(timeout)
        return self.poll()  # type: ignore[return-value]

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    @property
    def error_line(self) -> str:
        """The command's last message, e.g. kpanim's ``Error: ...`` line."""
        with self._lock:
            for line in reversed(self.lines):
                if line.startswith("Error"):
                    return line
            return self.lines[-1] if self.lines else f"{Path(self.argv[0]).name} exited with status {self.returncode}"

    def cancel(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
