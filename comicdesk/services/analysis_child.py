"""The analysis runner in a child process (no Qt here: this module is what the child imports).

The app runs ``comicdesk.pipeline.runner.Runner`` in its own process so that its decode and
inference threads never compete with the UI thread for the GIL (measured: with the runner's
threads in the app process, the UI thread's 10 ms timer stalled up to 70–170 ms; in a child
process it does not), and so that a model crashing takes down only the child.

Protocol (two ``multiprocessing`` queues):

- events, child → app: the runner's events as they are (``AnalysisProgress``, ``BookAnalysed``,
  ``BookFailed``, ``PageFailed``, ``Progress("waiting")``), then one ``("result", RunResult)``
  or ``("error", "one line")`` tuple;
- commands, app → child: ``("pause",)``, ``("resume",)``, ``("cancel",)``,
  ``("prioritise", path)``; ``None`` ends the listener.
"""

from __future__ import annotations

import threading


def child_main(cache_dir: str, options: dict, first: list[str], events, commands,
               book_ids: list[int] | None = None, background: bool = True) -> None:
    import os

    from comicdesk.core.errors import ComicdeskError

    if background:  # the whole child below the app (the runner lowers its workers more)
        try:
            os.nice(5)
        except (OSError, AttributeError):
            pass

    try:
        from comicdesk.pipeline.runner import RunOptions, limit_malloc_arenas
        from comicdesk.services.analysis import make_runner

        limit_malloc_arenas()  # this child process only analyses
        runner = make_runner(cache_dir, options=RunOptions(**options), on_event=events.put)
    except ComicdeskError as exc:
        events.put(("error", exc.reason))
        return
    except BaseException as exc:  # noqa: BLE001 - reported as one line
        events.put(("error", f"cannot start the analysis: {type(exc).__name__}: {exc}"))
        return

    def listen() -> None:
        while True:
            cmd = commands.get()
            if cmd is None:
                return
            op, *args = cmd
            if op in ("pause", "resume", "cancel", "prioritise"):
                getattr(runner, op)(*args)

    threading.Thread(target=listen, name="comicdesk-commands", daemon=True).start()
    for book in first:
        runner.prioritise(book)
    try:
        result = runner.run(book_ids)
    except ComicdeskError as exc:
        events.put(("error", exc.reason))
    except BaseException as exc:  # noqa: BLE001
        events.put(("error", f"internal error: {type(exc).__name__}: {exc}"))
    else:
        events.put(("result", result))


def run_child(cache_dir, options: dict, on_event, *, first=(), book_ids: list[int] | None = None,
              background: bool = True, attach=None):
    """Run the analysis in a child process and relay its events to ``on_event`` on this thread;
    returns the child's ``RunResult``. Raises ``ComicdeskError`` with the child's one line, and
    ``OSError`` where no child process can be started (the caller then runs it in process).

    ``attach(commands)`` is called with the command queue once the child is started, and with
    None when it is over (the caller's pause/cancel buttons put commands on it). An exception out
    of ``on_event`` (the person cancelled) asks the child to cancel and waits for it."""
    import multiprocessing
    import queue

    from comicdesk.core.errors import ComicdeskError

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)  # never fork: the app has threads
    events, commands = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=child_main, name="comicdesk-analysis", daemon=True,
                       args=(str(cache_dir), options, list(first), events, commands, book_ids, background))
    if attach is not None:
        attach(commands)
    outcome = None
    try:
        proc.start()
        while outcome is None:
            try:
                ev = events.get(timeout=0.25)
            except queue.Empty:
                if proc.is_alive():
                    continue
                try:  # it may have said its last word just before it ended
                    ev = events.get(timeout=1.0)
                except queue.Empty:
                    outcome = ("error", f"the analysis process stopped unexpectedly (exit code {proc.exitcode})")
                    break
            if isinstance(ev, tuple):
                outcome = ev
            else:
                on_event(ev)
    finally:
        if attach is not None:
            attach(None)
        try:
            if outcome is None and proc.pid is not None:
                commands.put(("cancel",))  # on_event raised: stop the child cleanly
            commands.put(None)
        except (OSError, ValueError):
            pass
        if proc.pid is not None:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        events.close()
        commands.close()
    kind, value = outcome
    if kind == "error":
        raise ComicdeskError(value)
    return value
