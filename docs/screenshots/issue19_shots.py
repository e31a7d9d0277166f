"""Screenshots for docs/app.md (issue 19), under Xvfb: the live results and the one text search.

xvfb-run -a -s "-screen 0 1280x900x24" .venv/bin/python docs/screenshots/issue19_shots.py OUT_DIR penicillin
(a copy of resources/sample-library at /tmp/l_shot/lib, cache and data under /tmp/l_shot; analysed by the app)."""
import asyncio, sys, time
from pathlib import Path
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
from comicdesk.core.settings import Settings
from comicdesk.qt.app import _make_app, run_event_loop
from comicdesk.qt.main_window import MainWindow
from comicdesk.qt.prefs import Prefs

settings = Settings.resolve(Path("/tmp/l_shot/cache"), Path("/tmp/l_shot/data"), env={})


async def until(pred, timeout=400):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError
        await asyncio.sleep(0.1)

async def main():
    win = MainWindow(settings, Prefs(analyse=True), persist_prefs=False)
    win.resize(1200, 820); win.show()
    applied = []
    win.results_applied.connect(applied.append)
    finished = []
    win.jobs.finished.connect(lambda ev: finished.append(ev.state.kind) or print("finished", ev.state.kind, ev.state.status, ev.state.message, flush=True))
    win.jobs.book_analysed.connect(lambda ev: print("analysed", ev.event.path, ev.event.pass_no, ev.event.final, time.strftime("%X"), flush=True))
    win.open_path("/tmp/l_shot/lib")
    await until(lambda: win._ready_sent)
    sci = next(b for b in win.library.model.books() if b.title.startswith("Science"))
    win.show_book(sci)
    await until(lambda: sci.id in applied)
    await asyncio.sleep(0.8)
    win.grab().save(str(out / "live-book-view.png"))
    print("book view at", time.strftime("%X"), "jobs finished:", finished)
    win.show_library()
    await asyncio.sleep(1.5)
    win.grab().save(str(out / "live-library-grid.png"))
    print("grid; finished:", finished)
    await until(lambda: "analyse" in finished)
    win.show_library(); await asyncio.sleep(1.5)
    win.grab().save(str(out / "library-grid-analysed.png"))
    win.show_book(sci)
    await asyncio.sleep(1.0)
    win.focus_text_search()
    panel = win.search_panel
    done = []
    panel.searched.connect(done.append)
    panel.search_text(sys.argv[2] if len(sys.argv) > 2 else "penicillin")
    await until(lambda: done, 120)
    await until(lambda: panel.crops_done >= min(6, len(panel.hits)), 60)
    await asyncio.sleep(0.5)
    win.grab().save(str(out / "text-search-words-then-meaning.png"))
    print([(h.page, h.panel, h.match) for h in panel.hits][:10])
    win.close(); await asyncio.sleep(0.1); win.shutdown()

if __name__ == "__main__":
    _make_app()
    run_event_loop(main())
