"""Issue 22: the app's device setting goes the way ``--device`` goes (through the settings), and
the settings dialog says which devices this computer has (no GPU here: the answer is faked)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from qthelpers import WAIT_MS, new_window


def test_the_apps_device_goes_through_the_settings(settings):
    from dataclasses import replace

    from comicdesk.pipeline.runner import RunOptions
    from comicdesk.services.analysis import background_options

    assert settings.device == "auto"
    opts = background_options(settings, "lib-1", device="cpu")
    assert RunOptions(**opts).device == "cpu"
    assert background_options(settings, "lib-1", device=None)["device"] == "auto"
    # $COMICDESK_DEVICE as read at start-up wins over the app's setting, as over nothing
    assert background_options(replace(settings, device="cuda"), "lib-1", device="cpu")["device"] == "cuda"


def test_the_dialog_marks_devices_this_computer_lacks(qtbot, settings, monkeypatch):
    from comicdesk.qt import settings_dialog
    from comicdesk.qt.prefs import Prefs

    monkeypatch.setattr(settings_dialog, "device_choices",
                        lambda: {"auto": True, "cpu": True, "cuda": False, "mps": False})
    win = new_window(qtbot, settings, Prefs(analyse=False, device="mps"))
    seen = []

    def poke():
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, settings_dialog.SettingsDialog):
            QTimer.singleShot(20, poke)
            return
        try:
            qtbot.waitUntil(lambda: dlg.devices_found is not None, timeout=WAIT_MS)
            items = dlg.device.model()
            cuda, mps = dlg.device.findData("cuda"), dlg.device.findData("mps")
            seen.append((dlg.device.itemText(cuda), items.item(cuda).isEnabled(), items.item(mps).isEnabled(),
                         dlg.device_note.text()))
            dlg.device.setCurrentIndex(dlg.device.findData("auto"))
            seen.append(dlg.device_note.text())
        finally:
            dlg.reject()

    try:
        QTimer.singleShot(0, poke)
        win.open_settings()
        assert len(seen) == 2, seen
        label, cuda_on, mps_on, note = seen[0]
        assert "not on this computer" in label and not cuda_on
        assert mps_on and "not on this computer" in note  # chosen before: kept, and said
        assert seen[1] == "Analysis runs on: CPU"
    finally:
        win.close()
        win.shutdown()
