"""The command line's one progress bar: progress events (scan, analysis, export) and a download's
bytes (``comicdesk models download``) draw through the same ``ProgressBar``."""

from __future__ import annotations

import io
from types import SimpleNamespace

from comicdesk.commands.output import ProgressBar


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _last_line(stream: Tty) -> str:
    return stream.getvalue().split("\r")[-1].rstrip()


def test_events_draw_counts_rate_and_eta_on_a_terminal_only():
    out = Tty()
    bar = ProgressBar("scanning", stream=out)
    bar(SimpleNamespace(done=5, total=10, rate=2.4, eta_s=3.0))
    assert _last_line(out) == "scanning [############            ] 5/10  2/s  ETA 3s"
    bar(SimpleNamespace(done=10, total=10, rate=2.0, eta_s=0.0))  # the final draw is never throttled
    assert _last_line(out) == "scanning [########################] 10/10  2/s"
    bar.close()
    assert out.getvalue().endswith("\r" + " " * 100 + "\r")
    quiet = io.StringIO()  # not a terminal: nothing drawn
    ProgressBar("scanning", stream=quiet)(SimpleNamespace(done=1, total=2, rate=None, eta_s=None))
    assert quiet.getvalue() == ""


def test_a_download_draws_bytes_with_its_measured_rate(monkeypatch):
    from comicdesk.commands import output
    from comicdesk.services.models import human_size

    clock = iter([100.0, 100.0, 102.0, 102.0])  # transfer and update each read the clock
    monkeypatch.setattr(output.time, "monotonic", lambda: next(clock))
    out = Tty()
    bar = ProgressBar(stream=out, fmt=lambda n: human_size(int(n)))
    bar.transfer("model.bin", 0, 4 << 20)
    assert _last_line(out).startswith("model.bin [") and human_size(4 << 20) in _last_line(out)
    bar.transfer("model.bin", 2 << 20, 4 << 20)  # 2 MiB in 2 s: 1 MiB/s, 2 s left
    line = _last_line(out)
    assert f"{human_size(2 << 20)}/{human_size(4 << 20)}" in line
    assert f"{human_size(1 << 20)}/s" in line and line.endswith("ETA 2s")
