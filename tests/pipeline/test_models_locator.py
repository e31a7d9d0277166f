"""The weights locator comes from the settings' start-up environment (Settings.env) for every
front end: ``comicdesk models`` and the app's models dialog both ask services.models.locator."""

from __future__ import annotations

from comicdesk.core.settings import Settings
from comicdesk.services.models import locator


def test_the_locator_takes_the_start_up_environment_not_the_processs(tmp_path, monkeypatch):
    at_start = tmp_path / "models-at-start"
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data",
                                env={"COMICDESK_MODELS_DIR": str(at_start), "HF_HUB_OFFLINE": "1"})
    monkeypatch.setenv("COMICDESK_MODELS_DIR", str(tmp_path / "set-later"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    loc = locator(settings)
    assert loc.models_dir == at_start.absolute()
    assert loc.offline is True


def test_without_a_models_dir_the_weights_live_under_the_settings_cache_root(tmp_path):
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})
    assert tmp_path / "cache" in locator(settings).models_dir.parents
