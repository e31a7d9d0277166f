"""Child of the crash test: ``python compact_child.py CACHE_DIR STEP`` compacts and dies with no
cleanup at all (``os._exit``) right after compaction step STEP."""

import os
import sys
from pathlib import Path

from comicdesk.cache import vectors


def die(step):
    if step == sys.argv[2]:
        os._exit(3)


vectors._step_hook = die
with vectors.VectorStore.open(Path(sys.argv[1])) as store:
    store.compact()
print("compacted")
