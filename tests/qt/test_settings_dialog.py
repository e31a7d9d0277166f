"""The settings dialog as a person uses it: opened from the window, changed, applied (OK) or left
(Cancel), its cache cleared (issue 21: it was never opened by a test)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox
from qthelpers import WAIT_MS, new_window


def _with_dialog(qtbot, act) -> None:
    """Run ``act(dialog)`` once the modal settings dialog is up (``exec`` blocks the caller)."""
    seen = []

    def poke():
        from comicdesk.qt.settings_dialog import SettingsDialog

        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, SettingsDialog):
            QTimer.singleShot(20, poke)
            return
        seen.append(dlg)
        try:
            act(dlg)
        finally:
            if dlg.isVisible():  # a failed check must not leave the modal dialog up (a hang)
                dlg.reject()

    QTimer.singleShot(0, poke)
    return seen


def _button(dlg, which):
    box = dlg.findChild(QDialogButtonBox)
    return box.button(which)


def test_settings_are_changed_applied_and_saved(qtbot, settings, tmp_path):
    from comicdesk.qt.prefs import Prefs, load_prefs

    win = new_window(qtbot, settings, Prefs(analyse=True))
    try:
        def change(dlg):
            qtbot.waitUntil(lambda: dlg.size.text() != "measuring…", timeout=WAIT_MS)  # the size is measured
            assert str(settings.cache_root) in dlg.size.text()
            dlg.profile.setCurrentIndex(dlg.profile.findData("cosmo"))
            dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
            dlg.threads.setValue(3)
            dlg.analyse.setChecked(False)
            dlg.cache_dir.setText(f"  {tmp_path / 'elsewhere'}  ")
            _button(dlg, QDialogButtonBox.StandardButton.Ok).click()

        seen = _with_dialog(qtbot, change)
        win.open_settings()
        assert len(seen) == 1
        p = win.prefs
        assert (p.profile, p.device, p.threads, p.analyse, p.cache_dir) == (
            "cosmo", "cpu", 3, False, str(tmp_path / "elsewhere"))
        assert win.statusBar().currentMessage() == "Settings saved"
        win.save_prefs()  # what the timer does a moment later
        qtbot.waitUntil(lambda: load_prefs(settings.data_root).profile == "cosmo", timeout=WAIT_MS)
        saved = load_prefs(settings.data_root)
        assert (saved.device, saved.threads, saved.analyse, saved.cache_dir) == ("cpu", 3, False, str(tmp_path / "elsewhere"))
    finally:
        win.close()
        win.shutdown()


def test_cancel_changes_nothing(qtbot, settings):
    from comicdesk.qt.prefs import Prefs

    win = new_window(qtbot, settings, Prefs(analyse=False, profile="standard", threads=0))
    try:
        def change_then_cancel(dlg):
            dlg.profile.setCurrentIndex(dlg.profile.findData("cosmo"))
            dlg.threads.setValue(7)
            _button(dlg, QDialogButtonBox.StandardButton.Cancel).click()

        seen = _with_dialog(qtbot, change_then_cancel)
        win.open_settings()
        assert len(seen) == 1
        assert (win.prefs.profile, win.prefs.threads, win.prefs.analyse) == ("standard", 0, False)
        assert win.statusBar().currentMessage() != "Settings saved"
    finally:
        win.close()
        win.shutdown()


def test_clearing_the_cache_from_the_dialog_keeps_the_persons_data(qtbot, settings, monkeypatch):
    from comicdesk.qt.prefs import Prefs

    junk = settings.cache_root / "libraries" / "0123456789abcdef" / "thumbs" / "ab"
    junk.mkdir(parents=True)
    (junk / "ab12-256.jpg").write_bytes(b"x" * 5000)
    mine = settings.data_root / "libraries" / "0123456789abcdef"
    mine.mkdir(parents=True)
    (mine / "user.sqlite").write_bytes(b"labels")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: QMessageBox.StandardButton.Ok)
    win = new_window(qtbot, settings, Prefs(analyse=False))
    try:
        def clear(dlg):
            qtbot.waitUntil(lambda: dlg.size.text() != "measuring…", timeout=WAIT_MS)
            with qtbot.waitSignal(dlg.cache_cleared, timeout=WAIT_MS) as sig:
                dlg.clear.click()
            assert sig.args[0].freed >= 5000
            qtbot.waitUntil(lambda: dlg.clear.isEnabled() and dlg.size.text().startswith("0 "), timeout=WAIT_MS)
            _button(dlg, QDialogButtonBox.StandardButton.Ok).click()

        seen = _with_dialog(qtbot, clear)
        win.open_settings()
        assert len(seen) == 1
        assert not (junk / "ab12-256.jpg").exists()
        assert (mine / "user.sqlite").read_bytes() == b"labels"
        assert win.statusBar().currentMessage().startswith("Cache cleared: ")
    finally:
        win.close()
        win.shutdown()
