"""The dropdown's model names: ``NAME=PATH`` specs, labels from the shortest distinguishing path, no repeats."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import LitedepthError


def parse_model_spec(spec: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> ``(NAME, PATH)``; a plain spec -> ``(None, spec)``.

    A spec that is an existing file or an architecture name is never split, nor one whose part
    before ``=`` holds a path separator (``runs/lr=0.1/model.safetensors``): names have none.
    """
    from ...models import ARCHITECTURES

    name, sep, path = spec.partition("=")
    if not sep or Path(spec).is_file() or spec in ARCHITECTURES or "/" in name or os.sep in name:
        return None, spec
    if not name.strip() or not path:
        raise LitedepthError(f"--model {spec}: give NAME=PATH with both a name and a model, or just the model")
    return name.strip(), path


def refuse_repeated_names(names: list[str | None], specs: list[str]) -> None:
    """One line for the first name that two ``--model`` share (None: not named yet, skipped).

    Why: the dropdown maps a name to one model, so a second model of the same name would
    silently hide the first (it used to: three ``model.safetensors`` served only the last).
    """
    first = {}
    for name, spec in zip(names, specs):
        if name is None:
            continue
        if name in first:
            raise LitedepthError(
                f"--model {spec}: the name {name!r} is also that of --model {first[name]}; "
                "give each model a name of its own with NAME=PATH"
            )
        first[name] = spec


def refuse_repeated_files(specs: list[str], paths: list[Path]) -> None:
    """One line for an unnamed file given twice (``paths``: the ``specs`` resolved), which no label could tell apart."""
    seen = {}
    for spec, path in zip(specs, paths):
        if path in seen:
            raise LitedepthError(
                f"--model {spec}: the same file as --model {seen[path]}; to offer it twice, name each with NAME=PATH"
            )
        seen[path] = spec


def path_labels(paths: list[Path]) -> list[str]:
    """For each path, the shortest end of it (``runA/model.safetensors``) that ends no other path.

    When several paths share one file name (every run's ``model.safetensors``), the name says
    nothing and is left out: the folders tell them apart (``runA``, ``runB``). One path keeps its
    file name. Equal paths get equal labels (`refuse_repeated_files` refuses them first).
    """
    shared_name = len(paths) > 1 and len({p.name for p in paths}) == 1
    parts = [(p.parent if shared_name else p).parts[1 if p.is_absolute() else 0 :] for p in paths]
    labels = []
    for i, own in enumerate(parts):
        others = [q for j, q in enumerate(parts) if j != i]
        k = 1
        while k < len(own) and any(q[-k:] == own[-k:] for q in others):
            k += 1
        labels.append("/".join(own[-k:]) or str(paths[i].parent))
    return labels


def model_names(entries: list[tuple[str | None, str]], archs: list[str]) -> list[str]:
    """The dropdown's names of ``entries`` (``parse_model_spec``'s pairs) whose models have ``archs``.

    An explicit name is kept; a file gets ``"ARCH (LABEL)"`` with `path_labels` over the unnamed
    files; an architecture name stays as given. Repeats are refused with one line.
    """
    files = [i for i, (name, spec) in enumerate(entries) if name is None and Path(spec).is_file()]
    paths = [Path(entries[i][1]).resolve() for i in files]
    refuse_repeated_files([entries[i][1] for i in files], paths)
    labels = dict(zip(files, path_labels(paths)))
    names = [
        name or (f"{arch} ({labels[i]})" if i in labels else spec)
        for i, ((name, spec), arch) in enumerate(zip(entries, archs))
    ]
    refuse_repeated_names(names, [spec for _, spec in entries])
    return names


def load_models(specs: list[str]) -> dict:
    """Name -> model for every ``--model`` spec (``NAME=PATH`` or a plain spec), each name unique.

    Each spec is opened by `litedepth.hub.open_model` (a file, ``hu2021:NAME``, an architecture
    name: fresh weights, with one ``warning:`` line). Repeated explicit names are refused before
    anything is loaded.
    """
    from ...hub import open_model

    entries = [parse_model_spec(spec) for spec in specs]
    refuse_repeated_names([name for name, _ in entries], specs)
    models = [open_model(spec) for _, spec in entries]
    names = model_names(entries, [getattr(model, "arch", None) or "model" for model in models])
    return dict(zip(names, models))
