"""``comicdesk export BOOK|PATH -o OUT [--preset story-only|no-ads] [--keep C,..|--drop C,..]
[--mark-only] [--no-analyse] [--drop-unsure]``: cleaned CBZ files (see ``docs/export.md``).

A page the filter does not keep is dropped only when its label is sure (the person's,
ComicInfo's, or the model's with p(dropped classes) >= ``comicdesk.core.pages.SURE_AT``); unsure
pages are kept and listed (``kept_unsure``), or dropped anyway with ``--drop-unsure``.

Output: one line per book on stdout (``--json``: one object per book, ``{"book", "output",
"status", "pages_kept", "pages_dropped", "pages_marked", "unlabelled", "rendered", "error",
"kept_unsure"}``),
progress bars and a summary line on stderr. Exit 0 when it ran (per-book errors are data), 1 when
nothing could be done: bad options, an output refused, nothing found, the one book asked for
failed, or every book of a batch failed.
"""

from __future__ import annotations

import signal

from comicdesk.commands.output import EXIT_FAIL, EXIT_OK, ProgressBar, emit_json, note


def _line(res) -> str:
    from comicdesk.core.text import clean_text

    if res.status == "failed":
        return f"FAILED {res.error}  {clean_text(res.book)}"
    counts = f"{res.pages_kept:>4} kept {res.pages_dropped:>4} dropped"
    if res.pages_marked:
        counts += f" {res.pages_marked:>4} marked"
    if res.kept_unsure:
        counts += f" {len(res.kept_unsure):>4} kept unsure"
    if res.rendered:
        counts += f" ({len(res.rendered)} rendered: pages {','.join(str(i) for i in res.rendered)})"
    status = "up-to-date" if res.status == "up-to-date" else "written"
    return f"{status:<10} {counts}  {clean_text(res.output)}"


def run(args, settings) -> int:
    from comicdesk.core.events import AnalysisProgress, BookFailed, PageFailed, Progress
    from comicdesk.services.export import ExportOptions, build_filter, export_books

    page_filter = build_filter(args.preset, args.keep, args.drop)
    options = ExportOptions(filter=page_filter, mark_only=bool(args.mark_only),
                            drop_unsure=bool(getattr(args, "drop_unsure", False)),
                            analyse=not bool(args.no_analyse))
    bars = {"scan": ProgressBar("scanning"), "index": ProgressBar("analysing pages"),
            "export": ProgressBar("exporting")}
    waited = []

    def close_bars() -> None:
        for bar in bars.values():
            bar.close()

    def on_event(event) -> None:
        if isinstance(event, AnalysisProgress):
            bars["index"](event)
        elif isinstance(event, Progress) and event.stage == "waiting":
            if not waited:
                waited.append(True)
                close_bars()
                note(f"comicdesk: {event.item}")
        elif isinstance(event, Progress) and event.stage in bars:
            bars[event.stage](event)
        elif isinstance(event, PageFailed):
            close_bars()
            note(f"comicdesk: page {event.index} ({event.name}): {event.reason}")
        elif isinstance(event, BookFailed):
            close_bars()

    def on_result(res) -> None:
        close_bars()
        for warning in res.warnings:
            note(f"comicdesk: {res.book}: {warning}")
        if args.json:
            emit_json(res.as_json())
        else:
            print(_line(res), flush=True)

    def on_term(signum, frame):  # a polite kill: leave no temporary file behind
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        previous = None
    try:
        summary = export_books(args.path, args.output, settings, options, on_result=on_result,
                               on_event=on_event)
    finally:
        close_bars()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for warning in summary.warnings:
        note(f"comicdesk: {warning}")
    if summary.single:
        res = summary.results[0]
        if res.status == "failed":
            note(f"comicdesk: {res.error}")
            return EXIT_FAIL
        unsure = len(res.kept_unsure)
        note(f"{res.pages_kept} page{'s' if res.pages_kept != 1 else ''} kept, {res.pages_dropped} dropped ({page_filter.description}"
             f"{', mark only' if options.mark_only else ''}{', unsure dropped too' if options.drop_unsure else ''})"
             f"{f', {unsure} kept unsure' if unsure else ''} → {res.output}")
        return EXIT_OK
    note(summary.summary())
    if summary.results and not summary.anything_done:
        return EXIT_FAIL
    return EXIT_OK
