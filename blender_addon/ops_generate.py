"""Generate from audio: run ``kpanim predict`` in the background, then import its result.

Invoked from the UI the operator is modal: a timer polls the child process, its tqdm percentage
drives the progress bar in Blender's status bar, Esc cancels. Called from a script
(``bpy.ops.kpanim.generate()``) it waits for the command instead. Either way a failing command's
last stderr line (kpanim's ``Error: ...``) becomes an ERROR report, never a silent failure.
"""

# No `from __future__ import annotations` here: Blender reads bpy.props definitions from real
# (evaluated) class annotations.

import tempfile
import time
from pathlib import Path

import bpy
from bpy.props import StringProperty

from .cli_job import CliJob, predict_command
from .npz_reader import ReadError
from .ops_import import import_animation
from .panel import preferences


def _output_path(audio: Path) -> Path:
    """Where the generated animation goes: ``//kpanim/`` next to a saved .blend, else a temp folder."""
    if bpy.data.filepath:
        folder = Path(bpy.path.abspath("//kpanim"))
        folder.mkdir(exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="kpanim_"))
    return folder / f"{audio.stem}.npz"


class KPANIM_OT_generate(bpy.types.Operator):
    """Run kpanim predict on a speech file and a portrait (in the background), then import the result"""

    bl_idname = "kpanim.generate"
    bl_label = "Generate kpanim Animation"
    bl_options = {"REGISTER", "UNDO"}

    audio_path: StringProperty(name="Speech", subtype="FILE_PATH", description="Default: the panel's Speech")
    subject_path: StringProperty(name="Portrait", subtype="FILE_PATH", description="Default: the panel's Portrait")

    _job = None  # CliJob while running (plain attributes: annotations would be read as properties)
    _timer = None

    def _start(self, context) -> bool:
        settings = context.scene.kpanim
        audio = Path(bpy.path.abspath(self.audio_path or settings.audio_path))
        subject = Path(bpy.path.abspath(self.subject_path or settings.subject_path))
        if not audio.is_file():
            self.report({"ERROR"}, f"Speech file '{audio}' does not exist; pick a .wav in the kpanim panel")
            return False
        if not subject.is_file():
            self.report({"ERROR"}, f"Portrait '{subject}' does not exist; pick a photo in the kpanim panel")
            return False
        settings.audio_path, settings.subject_path = str(audio), str(subject)  # reused next time
        prefs = preferences(context)
        self._audio, self._output = audio, _output_path(audio)
        try:
            argv = predict_command(prefs.kpanim_path if prefs else "kpanim", audio, subject, self._output)
            self._job = CliJob(argv).start()
        except FileNotFoundError as err:
            self.report({"ERROR"}, str(err))
            return False
        return True

    def _finish(self, context) -> set[str]:
        job = self._job
        if job.returncode != 0:
            self.report({"ERROR"}, f"kpanim predict failed: {job.error_line}")
            return {"CANCELLED"}
        try:
            info = import_animation(context, self._output, self._audio)
        except (ReadError, FileNotFoundError, ValueError) as err:
            self.report({"ERROR"}, f"kpanim predict finished but its output cannot be imported: {err}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Generated {info['frames']} frames from {self._audio.name} ({self._output})")
        return {"FINISHED"}

    # ------------------------------------------------------------------ scripted: wait
    def execute(self, context):
        if not self._start(context):
            return {"CANCELLED"}
        while self._job.poll() is None:
            time.sleep(0.05)
        return self._finish(context)

    # ------------------------------------------------------------------ interactive: modal
    def invoke(self, context, event):
        if context.window is None:  # no UI (blender --background): nothing to draw a progress bar in
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        context.workspace.status_text_set("kpanim: generating animation… (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.cancel()
            self._cleanup(context)
            self.report({"WARNING"}, "kpanim generation cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        percent = int(100 * self._job.progress)
        context.window_manager.progress_update(percent)
        context.workspace.status_text_set(f"kpanim: generating animation… {percent}% (Esc to cancel)")
        if self._job.poll() is None:
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return self._finish(context)

    def _cleanup(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        context.workspace.status_text_set(None)


CLASSES = (KPANIM_OT_generate,)
