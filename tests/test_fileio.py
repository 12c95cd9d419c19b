import os
import stat

import pytest

from kpanim.errors import KpanimError
from kpanim.formats.fileio import atomic_output


def test_success_replaces_with_normal_permissions(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    old_umask = os.umask(0o022)
    try:
        with atomic_output(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_bytes(b"new")
            assert target.read_bytes() == b"old"  # nothing visible until the block succeeds
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("encoder crashed")
    assert list(tmp_path.iterdir()) == []


def test_bad_destinations(tmp_path):
    with pytest.raises(KpanimError, match="folder .* does not exist"):
        with atomic_output(tmp_path / "missing" / "x.npz"):
            pass
    with pytest.raises(KpanimError, match="it is a folder"):
        with atomic_output(tmp_path):
            pass


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    import numpy as np

    from kpanim.formats.animation import save_npz_atomic

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np.lib.format, "write_array", full)
    with pytest.raises(KpanimError, match="cannot write .*a.npz: No space left on device; free some space"):
        save_npz_atomic(tmp_path / "a.npz", {"x": np.zeros(3)})
    assert list(tmp_path.iterdir()) == []
    # a writer that fails while cleaning up after the full disk (its own error, the OSError as context)
    with pytest.raises(KpanimError, match="No space left on device"):
        with atomic_output(tmp_path / "b.mp4"):
            try:
                raise OSError(errno.ENOSPC, "write failed")
            except OSError:
                raise ValueError("seek of closed file")
    assert list(tmp_path.iterdir()) == []


def test_check_output_refuses_inputs_through_links(tmp_path):
    from kpanim.formats.fileio import check_output

    photo = tmp_path / "face.png"
    photo.write_bytes(b"png")
    (tmp_path / "link.png").symlink_to(photo)
    os.link(photo, tmp_path / "hard.png")
    for out in (photo, tmp_path / "link.png", tmp_path / "hard.png", tmp_path / "sub" / ".." / "face.png"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(KpanimError, match="also the --subject input"):
            check_output(out, {"--subject": photo})
    with pytest.raises(KpanimError, match=r"must be a \.mp4 file.*e\.g\. -o talk\.mp4"):
        check_output(tmp_path / "talk.avi", {}, (".mp4",))
    assert check_output(tmp_path / "talk.mp4", {"--subject": photo}, (".mp4",)) == tmp_path / "talk.mp4"
