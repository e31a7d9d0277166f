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
import time

from comicdesk.commands.output import EXIT_OK, CommandError, emit_json, note


def _locator(settings):
    from comicdesk.services.models import Locator

    return Locator.from_env(cache_root=settings.cache_root)


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


class _Bar:
    """Bytes downloaded, as a one-line bar on stderr (drawn only on a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0
        self._start = time.monotonic()
        self._first: int | None = None
        self._drawn = False

    def __call__(self, filename: str, done: int, total: int | None) -> None:
        from comicdesk.services.models import human_size

        if not self.enabled:
            return
        now = time.monotonic()
        if self._first is None:
            self._first, self._start = done, now
        if now - self._last < 0.1 and not (total and done >= total):
            return
        self._last = now
        rate = (done - self._first) / (now - self._start) if now > self._start else 0
        if total:
            frac = min(1.0, done / total)
            text = f"{filename} [{'#' * int(frac * 24):<24}] {human_size(done)}/{human_size(total)}"
        else:
            text = f"{filename} {human_size(done)}"
        if rate > 0:
            text += f"  {human_size(int(rate))}/s"
            if total and done < total:
                text += f"  ETA {(total - done) / rate:.0f}s"
        self.stream.write("\r" + text[:100].ljust(100))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
            self._drawn = False


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
    bar = _Bar()
    try:
        got = loc.download(name, consent=True, progress=bar)
    finally:
        bar.close()
    if args.json:
        emit_json({"name": name, "found": True, "path": str(got.path), "size": got.size})
    else:
        note(f"{m.title}: {human_size(got.size)} in {got.path}")
    return EXIT_OK
