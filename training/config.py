"""Config dataclasses → click options (nerfstudio style: each field's docstring becomes its --help).

A dataclass field documented by a string literal right below it gets an option ``--field-name``;
a nested dataclass field ``model: ModaConfig`` gets ``--model.d-model`` style options. ``--config
FILE.json`` loads values first; explicit options override them.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
import typing
from functools import lru_cache
from pathlib import Path

import click

from kpanim.errors import KpanimError


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The fields every ``kpanim train`` command shares; each trainer's config extends it."""

    data: tuple[str, ...] = ()
    """Prepared dataset folder(s) (kpanim prepare): clips with split 'train' train, 'val' validate."""
    log_every: int = 50
    """Log the training losses every this many steps."""
    seed: int = 0
    """Seed of weights, sampling and augmentation (runs are reproducible)."""
    threads: int = 1
    """torch CPU threads (keep 1 on a shared machine)."""
    plot: bool = True
    """Write loss.png from log.jsonl at the end."""


@dataclasses.dataclass(frozen=True)
class AudioWindowConfig(RunConfig):
    """Trainers that read windows of audio features and keypoints (MODA, the lip-sync expert)."""

    frontend: str = "whisper_l2-3-4_nopad"
    """Audio front-end: whisper_l<layers>[_nopad] (Whisper-base hidden states, e.g. whisper_l2-3-4_nopad),
    whisper_ct2 (its final layer), mel, phones, wav2vec2_local or whisper_local; join with '+' to
    concatenate (e.g. whisper_ct2+phones)."""
    frontend_path: str = ""
    """Local model directory for the *_local front-ends."""
    batch_size: int = 16
    """Windows per step (per rank under torchrun)."""
    window: int = 100
    """Frames per training window (4 s at 25 fps)."""
    audio_variants: int = 2
    """Cached audio versions per training clip: 1 = clean; 2 = + noisy (10-25 dB SNR); 3 = + gain-changed."""
    mirror_p: float = 0.5
    """Probability of mirroring a window (x-flip + left/right point swap)."""
    min_av_corr: float = 0.15
    """Drop training clips whose audio-visual sync correlation (from prepare's index) is below this
    (-1 keeps all)."""
    max_av_lag: int = -1
    """Drop training clips whose measured audio-visual lag (prepare's index, frames) is larger than this
    in magnitude: dubbed or badly synced videos teach the network a smeared timing (-1 keeps all)."""


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """{field: docstring} from the string literal following each annotated field in the class body
    (and its base classes' bodies: a subclass's own docstring wins)."""
    docs = {}
    for klass in reversed(cls.__mro__[:-1]):  # object has no fields
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                    and isinstance(getattr(nxt, "value", None), ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _flat_fields(cls: type, prefix: str = "", instance=None):
    """(dotted name, type, default, doc) of every leaf field; nested defaults come from the parent's
    default instance (e.g. ``model: ModaConfig = ModaConfig(d_model=64)`` → 64)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = getattr(instance, f.name) if instance is not None else _default(f)
        if dataclasses.is_dataclass(tp):
            yield from _flat_fields(tp, f"{prefix}{f.name}.", default)
        else:
            yield prefix + f.name, tp, default, field_docs(cls).get(f.name, "")


def config_options(cls: type):
    """Decorator adding one click option per (nested) field of ``cls`` plus ``--config``; the command
    receives ``config`` (an instance of ``cls``)."""
    def decorate(func):
        def wrapper(config_file, **kwargs):
            values = json.loads(Path(config_file).read_text()) if config_file else {}
            for key, _tp, _default_value, _doc in _flat_fields(cls):
                val = kwargs.pop(key.replace(".", "__").replace("-", "_"), None)
                if val is not None and val != ():
                    node = values
                    *parents, leaf = key.split(".")
                    for p in parents:
                        node = node.setdefault(p, {})
                    node[leaf] = list(val) if isinstance(val, tuple) else val
            return func(config=build(cls, values), **kwargs)  # the command's own (non-config) options

        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        for key, tp, default, doc in reversed(list(_flat_fields(cls))):
            origin = typing.get_origin(tp)
            args = typing.get_args(tp)
            opt = "--" + key.replace("_", "-")
            name = key.replace(".", "__")
            help_ = f"{doc} [default: {default}]" if doc else f"[default: {default}]"
            if tp is bool:
                wrapper = click.option(f"{opt}/--no-{opt[2:]}", name, default=None, help=help_)(wrapper)
            elif origin in (tuple, list):
                inner = args[0] if args else str
                wrapper = click.option(opt, name, multiple=True, type=inner, help=help_ + " (repeat)")(wrapper)
            else:
                base = next((a for a in args if a is not type(None)), tp) if origin is typing.Union or args else tp
                ptype = base if base in (int, float, str) else str
                wrapper = click.option(opt, name, type=ptype, default=None, help=help_)(wrapper)
        wrapper = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                               default=None, help="JSON file with config values (options override it).")(wrapper)
        return wrapper
    return decorate


def build(cls: type, values: dict, base=None):
    """Instantiate ``cls`` (nested dataclasses too) from a plain dict over the defaults (or ``base``);
    unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KpanimError(f"unknown config field(s) {unknown} for {cls.__name__}; see --help")
    kwargs = {}
    for k, v in values.items():
        tp = hints[k]
        if dataclasses.is_dataclass(tp):
            parent = getattr(base, k) if base is not None else _default(fields[k])
            kwargs[k] = build(tp, v, parent)
        elif isinstance(v, list):
            kwargs[k] = tuple(v)
        else:
            kwargs[k] = v
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def to_dict(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))
