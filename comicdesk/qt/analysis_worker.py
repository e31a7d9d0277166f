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


def child_main(cache_dir: str, options: dict, first: list[str], events, commands) -> None:
    import os

    from comicdesk.core.errors import ComicdeskError

    try:  # background work: the whole child below the app (the runner lowers its workers more)
        os.nice(5)
    except (OSError, AttributeError):
        pass

    try:
        from comicdesk.pipeline.runner import RunOptions, Runner, limit_malloc_arenas

        limit_malloc_arenas()  # this child process only analyses
        runner = Runner(cache_dir, options=RunOptions(**options), on_event=events.put)
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
        result = runner.run()
    except ComicdeskError as exc:
        events.put(("error", exc.reason))
    except BaseException as exc:  # noqa: BLE001
        events.put(("error", f"internal error: {type(exc).__name__}: {exc}"))
    else:
        events.put(("result", result))
