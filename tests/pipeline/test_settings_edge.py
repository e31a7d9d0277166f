"""The environment is read once, at start-up, into the settings; a run takes how its models run
from its options, never from the environment mid-work (issue 18, item 4)."""

from __future__ import annotations

import pytest

from comicdesk.core.settings import Settings
from comicdesk.pipeline.runner import RunOptions, foreground_options, library_dirs
from comicdesk.pipeline.stage import StageContext
from comicdesk.pipeline.stages import cosmo
from comicdesk.services.analysis import background_options

MODEL_ENV = ("COMICDESK_DEVICE", "COMICDESK_DTYPE", "COMICDESK_BATCH", "COMICDESK_CPU_PRECISION")


def _ctx(options: RunOptions) -> StageContext:
    """The context the runner's inference loop builds from its options."""
    return StageContext(profile=options.profile, threads=options.threads, device=options.device,
                        dtype=options.dtype, batch=options.model_batch, cpu_precision=options.cpu_precision,
                        env=options.env, models_dir=options.models_dir)


@pytest.fixture
def clean_env(monkeypatch):
    for k in MODEL_ENV:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_set_at_start_up_the_environment_reaches_the_run(tmp_path, clean_env):
    clean_env.setenv("COMICDESK_DEVICE", "cpu")
    clean_env.setenv("COMICDESK_DTYPE", "bf16")
    clean_env.setenv("COMICDESK_BATCH", "3")
    clean_env.setenv("COMICDESK_CPU_PRECISION", "Float32")
    clean_env.setenv("COMICDESK_MODELS_DIR", str(tmp_path / "my-models"))
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data")
    assert (settings.device, settings.dtype, settings.batch, settings.cpu_precision) == ("cpu", "bf16", 3, "float32")
    options = foreground_options(settings, "lib")
    assert (options.device, options.dtype, options.model_batch, options.cpu_precision) == ("cpu", "bf16", 3, "float32")
    assert options.models_dir == str((tmp_path / "my-models").absolute())
    c = cosmo.choices(_ctx(options))
    assert (c.device, c.dtype, c.batch) == ("cpu", "bf16", 3)
    assert c.locator.models_dir == (tmp_path / "my-models").absolute()
    # The app's background analysis: the same values, as plain values for the child process.
    bg = RunOptions(**background_options(settings, "lib", device="cuda"))
    assert (bg.device, bg.dtype, bg.model_batch, bg.cpu_precision) == ("cpu", "bf16", 3, "float32")


def test_set_mid_work_the_environment_changes_nothing(tmp_path, clean_env):
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data")
    options = foreground_options(settings, "lib")
    # Set after start-up: a run (its options, its stages' choices) does not see them.
    clean_env.setenv("COMICDESK_DEVICE", "cuda")
    clean_env.setenv("COMICDESK_DTYPE", "bf16")
    clean_env.setenv("COMICDESK_BATCH", "not a number")
    clean_env.setenv("COMICDESK_MODELS_DIR", str(tmp_path / "late-models"))
    c = cosmo.choices(_ctx(options))
    from comicdesk.ml.device import resolve_device

    assert (c.device, c.dtype, c.batch) == (resolve_device("auto"), None, None)
    assert c.locator.models_dir == tmp_path.joinpath("cache", "models").absolute()
    assert library_dirs(settings, "lib")["device"] == "auto"
    bg = RunOptions(**background_options(settings, "lib", device="cpu"))
    assert bg.device == "cpu" and bg.dtype is None and bg.env.get("COMICDESK_DEVICE") is None


def test_a_bad_batch_is_one_line_at_start_up(tmp_path):
    with pytest.raises(ValueError, match="COMICDESK_BATCH must be a whole number, not 'lots'"):
        Settings.resolve(tmp_path / "c", tmp_path / "d", env={"COMICDESK_BATCH": "lots"})
