"""Child process of the SIGKILL test: ``python kill_child.py CACHE_DIR DELAY`` runs the fake panel
and embedding stages over the library, printing ``done <book id>`` after each commit."""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import embedding_stage, whole_page_stage  # noqa: E402

from comicdesk.core.events import BookAnalysed  # noqa: E402
from comicdesk.pipeline.runner import RunOptions, Runner  # noqa: E402


def on_event(event):
    if type(event) is BookAnalysed and event.status == "done":
        print("done", event.book_id, flush=True)


result = Runner(Path(sys.argv[1]), stages=[whole_page_stage(delay=float(sys.argv[2])), embedding_stage()],
                options=RunOptions(decode_workers=2, batch_size=2), on_event=on_event).run()
print("finished", result.done, flush=True)
