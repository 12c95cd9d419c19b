import os
import stat

import pytest

from kpanim.errors import KpanimError
from kpanim.fileio import atomic_output


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
