"""``comicdesk export`` and the app's export dialog: :func:`comicdesk.export.batch.export_books`
with the analysis it runs first for books not analysed yet.

The export layer decides what to write and writes it; it may not use the pipeline, so the
analysis comes from here (:class:`PipelineAnalyser`): which stages a book needs, and a runner
(:func:`make_runner`) or the app's child process (``ExportOptions.analyse_with``) that runs them.
The options, results, page filters and the unsure-page preview the front ends use are the export
layer's, taken from here.
"""

from __future__ import annotations

from pathlib import Path

from comicdesk.export.batch import BookResult, ExportOptions, ExportSummary, preview_unsure  # noqa: F401
from comicdesk.export.filters import build_filter  # noqa: F401  (the front ends' page filters)


def export_books(path, output, settings, options: ExportOptions, **kwargs):
    """:func:`comicdesk.export.batch.export_books` (same arguments, same result), analysing first
    the books that need it."""
    from comicdesk.export import batch

    kwargs.setdefault("analyser", PipelineAnalyser())
    return batch.export_books(path, output, settings, options, **kwargs)


def run_options_for(cache_dir: Path, options: ExportOptions, settings, library_id: str | None = None):
    """The analysis's run options. The person waits for an export, so its analysis runs as
    ``comicdesk index``'s does (:func:`~comicdesk.pipeline.runner.foreground_options`: normal
    priority, the library's data and models dirs) unless ``options.run_options`` says otherwise."""
    from comicdesk.pipeline.runner import foreground_options

    if options.run_options is not None:
        return options.run_options
    extra = {"threads": options.analysis_threads} if options.analysis_threads else {}
    return foreground_options(settings, library_id or Path(cache_dir).name,
                              workers=options.analysis_workers, **extra)


def make_runner(cache_dir: Path, options: ExportOptions, settings, on_event, library_id: str | None = None):
    """The analysis runner, in this process (a function so tests and the app can see what is run)."""
    from comicdesk.services.analysis import make_runner as analysis_runner

    return analysis_runner(cache_dir, stages=options.stages,
                           options=run_options_for(cache_dir, options, settings, library_id), on_event=on_event)


class PipelineAnalyser:
    """What the export asks of the analysis (``analyser`` of
    :func:`comicdesk.export.batch.export_books`)."""

    def stage_names(self, options: ExportOptions, settings) -> set[str]:
        """The stages a book must have run to be exported without analysing it first."""
        if options.stages is not None:
            return {s.name for s in options.stages}
        from comicdesk.pipeline import registry

        return {s.name for s in registry.stages(settings.profile)}

    def analyse(self, cache_dir: Path, book_ids: list[int], settings, options: ExportOptions, emit,
                library_id: str | None = None) -> dict[int, str]:
        """Run the analysis on these books; returns ``{book_id: reason}`` for those that failed."""
        from comicdesk.core.events import BookFailed

        failed: dict[int, str] = {}

        def on_event(event) -> None:
            if isinstance(event, BookFailed) and event.book_id is not None:
                failed[event.book_id] = event.reason
            emit(event)

        if options.analyse_with is not None and options.stages is None:
            # Elsewhere (the app: a child process, so the models never hold the UI process's GIL).
            result = options.analyse_with(cache_dir, book_ids, run_options_for(cache_dir, options, settings, library_id),
                                          on_event)
        else:
            result = make_runner(cache_dir, options, settings, on_event, library_id).run(book_ids)
        if result.cancelled:
            raise KeyboardInterrupt
        return failed
