"""``kpanim blender-addon``: build the Blender extension zip from the shipped add-on sources.

The add-on lives in the ``kpanim.blender_addon`` package (repo folder ``blender_addon/``) and imports
nothing from kpanim, so its folder, zipped as is, is an installable Blender 4.2+ extension.
"""

from __future__ import annotations

import os
import re
import zipfile
from importlib import resources
from pathlib import Path

import click

from ..errors import KpanimError
from ..formats.fileio import atomic_output

MANIFEST = "blender_manifest.toml"
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo", ".blend1"}


def addon_source_dir() -> Path:
    """The add-on's folder (inside the installed kpanim package)."""
    return Path(str(resources.files("kpanim.blender_addon")))


def manifest_field(text: str, key: str) -> str:
    """A top-level string field of blender_manifest.toml (tomllib is stdlib in Python 3.11)."""
    import tomllib

    value = tomllib.loads(text).get(key)
    if not isinstance(value, str):
        raise KpanimError(f"{MANIFEST}: field '{key}' is missing; the add-on sources are damaged, reinstall kpanim")
    return value


def addon_files(source: Path) -> list[Path]:
    """Files that go into the extension zip, relative to ``source``, sorted (reproducible zips)."""
    out = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or _SKIP_DIRS & set(rel.parts) or path.suffix in _SKIP_SUFFIXES or rel.name.startswith("."):
            continue
        out.append(rel)
    return out


def build_addon_zip(out_dir: str | os.PathLike = ".", source: str | os.PathLike | None = None) -> Path:
    """Write ``kpanim-<version>.zip`` (manifest and ``__init__.py`` at the archive root) into ``out_dir``.

    Written to a temp file in the same folder and renamed, so a failed build leaves no partial zip.
    """
    source = Path(source) if source else addon_source_dir()
    manifest = source / MANIFEST
    if not manifest.is_file() or not (source / "__init__.py").is_file():
        raise KpanimError(f"{source} is not the kpanim add-on folder (no {MANIFEST} or __init__.py); reinstall kpanim")
    text = manifest.read_text(encoding="utf-8")
    ext_id, version = manifest_field(text, "id"), manifest_field(text, "version")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", ext_id):
        raise KpanimError(f"{MANIFEST}: id '{ext_id}' is not a valid extension id")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise KpanimError(f"-o {out_dir}: exists and is not a folder; give a folder for the zip")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{ext_id}-{version}.zip"
    with atomic_output(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in addon_files(source):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (source / rel).read_bytes())
    return target


@click.command("blender-addon")
@click.option("--zip", "make_zip", is_flag=True, help="Build the installable extension zip.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder for the zip.")
def blender_addon_command(make_zip: bool, out_dir: Path) -> None:
    """Build the kpanim Blender add-on (a Blender 4.2+ extension) as an installable zip.

    \b
    Install it in Blender (Edit > Preferences > Get Extensions > Install from Disk) or headless:
      blender --command extension install-file -r user_default --enable kpanim-0.1.0.zip
    """
    if not make_zip:
        click.echo(f"add-on sources: {addon_source_dir()}\nbuild the installable zip with: kpanim blender-addon --zip -o DIR")
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise KpanimError(f"{out_dir}: is a file, not a folder; give the folder for the zip with -o")
    path = build_addon_zip(out_dir)
    click.echo(f"wrote {path}\ninstall: blender --command extension install-file -r user_default --enable {path}")
