"""``comicdesk models [list|download NAME [--yes]|path NAME]``: the cosmo profile's weights.

- ``list``: per model its name, what it is, its size (on disk when found, else about how much a
  download is) and where it was found (or "not found"); ``--json``: one object per line
  ``{"name", "found", "path", "size"}`` (``path`` null and ``size`` the download size when not
  found).
- ``path NAME``: the file (or folder) the model loads from; not found: one line saying how to get
  it, exit 1.
- ``download NAME [--yes]``: fetch it into ``<cache root>/models/NAME/`` (``$COMICDESK_MODELS_DIR``
  overrides), resumable, size checked, with a progress bar on stderr. Without ``--yes`` it asks on
  the terminal; when stdin is not a terminal it refuses in one line (exit 1). Already there: says
  where, exit 0.

Where models are looked for: :mod:`comicdesk.ml.weights`.
"""

from __future__ import annotations

import sys

from comicdesk.commands.output import EXIT_OK, CommandError, ProgressBar, emit_json, note


def _locator(settings):
    from comicdesk.services.models import locator

    return locator(settings)  # the environment as read at start-up


def _name(args) -> str:
    from comicdesk.services.models import MODELS

    if not args.name:
        raise CommandError(f"'models {args.action}' needs a model name: one of {', '.join(MODELS)}")
    if args.name not in MODELS:
        raise CommandError(f"unknown model {args.name!r}: the models are {', '.join(MODELS)}")
    return args.name


def run(args, settings) -> int:
    action = args.action or "list"
    if action == "list":
        if args.name:
            raise CommandError("'models list' takes no model name")
        return _list(args, settings)
    if action == "path":
        return _path(args, settings)
    if action == "download":
        return _download(args, settings)
    raise CommandError(f"unknown action {action!r}: use list, download or path")  # pragma: no cover


def _list(args, settings) -> int:
    from comicdesk.services.models import MODELS, WeightsError, human_size

    loc = _locator(settings)
    rows = []
    for name, m in MODELS.items():
        try:
            found = loc.find(name)
            problem = None
        except WeightsError as exc:
            found, problem = None, exc.reason
        row = {"name": name, "found": found is not None, "path": str(found.path) if found else None,
               "size": found.size if found else m.approx_bytes}
        rows.append((row, m, found, problem))
        if args.json:
            emit_json(row)
    if not args.json:
        width = max(len(f"{m.title}: {m.what}") for _, m, _, _ in rows)
        print(f"{'name':<22} {'size':>9}  {'what':<{width}}  where")
        for row, m, found, problem in rows:
            size = human_size(row["size"]) if found else "~" + human_size(row["size"])
            where = (f"{found.path} ({found.source})" if found else
                     f"not found ({problem})" if problem else "not found")
            print(f"{row['name']:<22} {size:>9}  {m.title + ': ' + m.what:<{width}}  {where}")
        sys.stdout.flush()
        missing = [r["name"] for r, *_ in rows if not r["found"]]
        if missing:
            note(f"models folder: {loc.models_dir}; get a missing model with `comicdesk models download NAME`")
    return EXIT_OK


def _path(args, settings) -> int:
    name = _name(args)
    loc = _locator(settings)
    found = loc.find(name)
    if found is None:
        raise CommandError(loc.missing_message(name))
    if args.json:
        emit_json({"name": name, "found": True, "path": str(found.path), "size": found.size})
    else:
        print(found.path)
    return EXIT_OK


def _ask(question: str) -> bool:
    sys.stderr.write(question + " [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def _download(args, settings) -> int:
    from comicdesk.services.models import MODELS, disk_free, human_size

    name = _name(args)
    m = MODELS[name]
    loc = _locator(settings)
    found = loc.find(name)
    if found is not None:
        if args.json:
            emit_json({"name": name, "found": True, "path": str(found.path), "size": found.size})
        else:
            note(f"{m.title} is already here: {found.path}")
        return EXIT_OK
    target = loc.target(name)
    free = disk_free(target)
    if free is not None and free < m.approx_bytes:
        raise CommandError(f"{m.title} needs about {human_size(m.approx_bytes)} but {target} has only "
                           f"{human_size(free)} free")
    if not args.yes:
        question = (f"Download {m.title} ({name}, about {human_size(m.approx_bytes)}) from "
                    f"{loc.endpoint or 'https://huggingface.co'}/{m.repo} into {target}?")
        if not sys.stdin.isatty():
            raise CommandError(f"downloading {name} (about {human_size(m.approx_bytes)}) needs your "
                               f"consent: run `comicdesk models download {name} --yes`")
        if not _ask(question):
            note("comicdesk: nothing downloaded")
            return 1
    bar = ProgressBar(fmt=lambda n: human_size(int(n)))
    try:
        got = loc.download(name, consent=True, progress=bar.transfer)
    finally:
        bar.close()
    if args.json:
        emit_json({"name": name, "found": True, "path": str(got.path), "size": got.size})
    else:
        note(f"{m.title}: {human_size(got.size)} in {got.path}")
    return EXIT_OK
