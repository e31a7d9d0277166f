"""Weight resolution (explicit path → our models folder → Hugging Face cache) and downloads, tested
only against a local http.server in a thread: resume after a cut, size mismatch refused, consent
and offline refusals. Never the internet."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest
from helpers import one_line

from comicdesk.ml import weights as w
from comicdesk.ml.weights import (
    MODELS,
    ConsentRequired,
    Locator,
    ModelFile,
    ModelNotFound,
    WeightsError,
)

COSMO = "cosmo-v4"
COSMO_FILE = "best_Multimodal_MultiToken_v4.pt"


class Hub(http.server.ThreadingHTTPServer):
    """Serves ``files[(repo, name)]`` at ``/<repo>/resolve/main/<name>`` with Range support and
    switches to misbehave."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None  # send this many body bytes, then drop the connection
        self.ignore_range = False
        self.announce: int | None = None  # a Content-Length that is not the file's size
        self.etag: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        hub: Hub = self.server
        rng = self.headers.get("Range")
        hub.requests.append((self.path, rng))
        parts = self.path.lstrip("/").split("/resolve/main/")
        data = hub.files.get((parts[0], parts[1])) if len(parts) == 2 else None
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and not hub.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(hub.announce if hub.announce is not None else len(body)))
        if hub.etag:
            self.send_header("ETag", f'"{hub.etag}"')
        self.end_headers()
        if hub.cut_after is not None:
            self.wfile.write(body[:hub.cut_after])
            self.wfile.flush()
            self.close_connection = True
            hub.cut_after = None  # one cut only
            return
        self.wfile.write(body)


@pytest.fixture
def hub():
    server = Hub()
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def _locator(tmp_path, hub=None, **kw) -> Locator:
    env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "COMICDESK_MODELS_DIR": str(tmp_path / "models")}
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    env.update(kw.pop("env", {}))
    return Locator.from_env(env, **kw)


def _payload(n=300_000, seed=1) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (n // 32) + b"x" * (n % 32)


# -- finding --------------------------------------------------------------------------------------
def test_models_table_names_the_seed_files():
    assert list(MODELS) == ["cosmo-v4", "siglip-so400m", "qwen3-embedding-0.6b", "panel-encoder-v1"]
    assert MODELS[COSMO].repo == "RichardScottOZ/cosmo-v4" and MODELS[COSMO].main_file == COSMO_FILE
    assert MODELS["panel-encoder-v1"].main_file == "best_model.pt"
    assert MODELS["siglip-so400m"].repo == "google/siglip-so400m-patch14-384"
    assert MODELS["qwen3-embedding-0.6b"].repo == "Qwen/Qwen3-Embedding-0.6B"
    assert MODELS[COSMO].env_var == "COMICDESK_MODEL_COSMO_V4"
    assert MODELS["qwen3-embedding-0.6b"].env_var == "COMICDESK_MODEL_QWEN3_EMBEDDING_0_6B"
    with pytest.raises(WeightsError, match="unknown model"):
        w.spec("gpt")


def test_nothing_found_gives_one_line_saying_what_to_fetch_and_where(tmp_path):
    loc = _locator(tmp_path)
    assert loc.find(COSMO) is None
    with pytest.raises(ModelNotFound) as e:
        loc.require(COSMO)
    msg = one_line(e.value)
    assert "comicdesk models download cosmo-v4" in msg
    assert f"https://huggingface.co/RichardScottOZ/cosmo-v4/resolve/main/{COSMO_FILE}" in msg
    assert str(tmp_path / "models" / COSMO) in msg
    msg = loc.missing_message("qwen3-embedding-0.6b")
    assert "model.safetensors" in msg and "tokenizer.json" in msg and "\n" not in msg


def test_explicit_path_then_models_folder_then_hf_cache(tmp_path):
    # Hugging Face cache layout: blobs + snapshot symlinks + refs/main
    repo = tmp_path / "hf" / "models--RichardScottOZ--cosmo-v4"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc").write_bytes(b"hf")
    snap = repo / "snapshots" / "c0ffee"
    snap.mkdir(parents=True)
    os.symlink(repo / "blobs" / "abc", snap / COSMO_FILE)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c0ffee")
    loc = _locator(tmp_path)
    found = loc.find(COSMO)
    assert found.source == "hf-cache" and found.path == snap / COSMO_FILE and found.size == 2
    # our models folder wins over the HF cache
    mine = tmp_path / "models" / COSMO
    mine.mkdir(parents=True)
    (mine / COSMO_FILE).write_bytes(b"mine!")
    found = loc.find(COSMO)
    assert (found.source, found.path, found.size) == ("models-dir", mine / COSMO_FILE, 5)
    # an explicit path wins over both: the file, or a folder holding it
    given = tmp_path / "elsewhere.pt"
    given.write_bytes(b"explicit")
    loc = _locator(tmp_path, env={"COMICDESK_MODEL_COSMO_V4": str(given)})
    assert loc.find(COSMO).path == given and loc.find(COSMO).source == "explicit"
    loc = _locator(tmp_path, explicit={COSMO: mine})
    assert loc.find(COSMO).path == mine / COSMO_FILE
    # an explicit path that is wrong is said, never silently skipped
    loc = _locator(tmp_path, env={"COMICDESK_MODEL_COSMO_V4": str(tmp_path / "typo.pt")})
    with pytest.raises(ModelNotFound) as e:
        loc.find(COSMO)
    assert "COMICDESK_MODEL_COSMO_V4" in one_line(e.value) and "does not exist" in str(e.value)


def test_folder_models_need_every_required_file(tmp_path):
    loc = _locator(tmp_path)
    folder = tmp_path / "models" / "siglip-so400m"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert loc.find("siglip-so400m") is None  # no weights yet
    (folder / "model.safetensors").write_bytes(b"0" * 10)
    found = loc.find("siglip-so400m")
    assert found.path == folder and found.size == 12
    # a dangling HF snapshot link (blob deleted) is not a model
    repo = tmp_path / "hf" / "models--Qwen--Qwen3-Embedding-0.6B" / "snapshots" / "x"
    repo.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (repo / name).write_text("{}")
    os.symlink(tmp_path / "gone", repo / "model.safetensors")
    assert loc.find("qwen3-embedding-0.6b") is None


# -- downloading ----------------------------------------------------------------------------------
def test_download_needs_consent_and_is_refused_offline(tmp_path, hub):
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = b"abc"
    with pytest.raises(ConsentRequired) as e:
        _locator(tmp_path, hub).download(COSMO, consent=False)
    assert "consent" in one_line(e.value)
    loc = _locator(tmp_path, hub, env={"HF_HUB_OFFLINE": "1"})
    with pytest.raises(WeightsError) as e:
        loc.download(COSMO, consent=True)
    assert "offline" in one_line(e.value) and "comicdesk models download" in str(e.value)
    assert hub.requests == []  # nothing was asked of the server


def test_download_with_progress_then_found(tmp_path, hub):
    data = _payload()
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = data
    seen = []
    loc = _locator(tmp_path, hub)
    got = loc.download(COSMO, consent=True, progress=lambda f, d, t: seen.append((f, d, t)))
    dest = tmp_path / "models" / COSMO / COSMO_FILE
    assert got.path == dest and dest.read_bytes() == data and got.size == len(data)
    assert seen[0] == (COSMO_FILE, 0, len(data)) and seen[-1] == (COSMO_FILE, len(data), len(data))
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    assert not list(dest.parent.glob("*.part"))
    assert loc.find(COSMO).source == "models-dir"
    assert hub.requests == [(f"/RichardScottOZ/cosmo-v4/resolve/main/{COSMO_FILE}", None)]


def test_a_cut_download_resumes_with_a_range_request(tmp_path, hub):
    data = _payload(250_000, seed=2)
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = data
    hub.cut_after = 100_000
    loc = _locator(tmp_path, hub)
    with pytest.raises(WeightsError) as e:
        loc.download(COSMO, consent=True)
    assert "run it again to resume" in one_line(e.value)
    dest = tmp_path / "models" / COSMO / COSMO_FILE
    part = dest.with_name(dest.name + ".part")
    assert not dest.exists() and part.stat().st_size == 100_000  # never a half file in place
    assert loc.find(COSMO) is None
    got = loc.download(COSMO, consent=True)
    assert hub.requests[-1][1] == "bytes=100000-"
    assert got.path.read_bytes() == data and not part.exists()


def test_a_server_that_ignores_range_starts_over(tmp_path, hub):
    data = _payload(50_000, seed=3)
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = data
    dest = tmp_path / "models" / COSMO / COSMO_FILE
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(b"junk" * 100)
    hub.ignore_range = True
    got = _locator(tmp_path, hub).download(COSMO, consent=True)
    assert got.path.read_bytes() == data


def test_a_part_that_is_already_whole_is_finished(tmp_path, hub):
    data = _payload(10_000, seed=4)
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = data
    dest = tmp_path / "models" / COSMO / COSMO_FILE
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(data)
    got = _locator(tmp_path, hub).download(COSMO, consent=True)  # the server answers 416
    assert got.path.read_bytes() == data


def test_size_mismatch_is_refused(tmp_path, hub, monkeypatch):
    data = _payload(20_000, seed=5)
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = data
    # the table knows the exact size and the server offers another: nothing downloaded
    m = MODELS[COSMO]
    exact = w.ModelSpec(m.name, m.title, m.what, m.repo, (ModelFile(COSMO_FILE, size=len(data) + 1),),
                        m.approx_bytes)
    monkeypatch.setitem(MODELS, COSMO, exact)
    loc = _locator(tmp_path, hub)
    with pytest.raises(WeightsError) as e:
        loc.download(COSMO, consent=True)
    assert "expected" in one_line(e.value) and str(len(data) + 1) in str(e.value)
    assert not (tmp_path / "models" / COSMO / COSMO_FILE).exists()
    monkeypatch.setitem(MODELS, COSMO, m)
    # the server announces more than it sends and closes: kept as a part to resume, not in place
    hub.announce = len(data) + 500
    with pytest.raises(WeightsError):
        loc.download(COSMO, consent=True)
    assert not (tmp_path / "models" / COSMO / COSMO_FILE).exists()


def test_a_wrong_checksum_is_refused_and_removed(tmp_path, hub):
    data = _payload(30_000, seed=6)
    hub.files[("RichardScottOZ/cosmo-v4", COSMO_FILE)] = data
    hub.etag = hashlib.sha256(b"something else").hexdigest()
    loc = _locator(tmp_path, hub)
    with pytest.raises(WeightsError) as e:
        loc.download(COSMO, consent=True)
    assert "SHA-256" in one_line(e.value)
    folder = tmp_path / "models" / COSMO
    assert not list(folder.iterdir())
    hub.etag = hashlib.sha256(data).hexdigest()
    assert loc.download(COSMO, consent=True).path.read_bytes() == data


def test_folder_models_skip_missing_optional_files(tmp_path, hub):
    repo = "Qwen/Qwen3-Embedding-0.6B"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.json"):
        hub.files[(repo, name)] = name.encode() * 10
    got = _locator(tmp_path, hub).download("qwen3-embedding-0.6b", consent=True)
    folder = tmp_path / "models" / "qwen3-embedding-0.6b"
    assert got.path == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.json"])
    # a required file the server does not have is one line
    hub.files[("google/siglip-so400m-patch14-384", "config.json")] = b"{}"
    with pytest.raises(WeightsError) as e:
        _locator(tmp_path, hub).download("siglip-so400m", consent=True)
    assert "404" in one_line(e.value) and "model.safetensors" in str(e.value)


def test_an_unreachable_server_says_what_to_fetch(tmp_path):
    loc = _locator(tmp_path, env={"HF_ENDPOINT": "http://127.0.0.1:9"})  # nothing listens there
    with pytest.raises(WeightsError) as e:
        loc.download(COSMO, consent=True)
    msg = one_line(e.value)
    assert "cannot reach" in msg and str(tmp_path / "models" / COSMO / COSMO_FILE) in msg


def test_default_folders_follow_the_environment(tmp_path):
    assert w.default_hf_cache({"HF_HOME": "/x"}) == Path("/x/hub")
    assert w.default_hf_cache({"HF_HUB_CACHE": "/y", "HF_HOME": "/x"}) == Path("/y")
    assert w.default_models_dir({"COMICDESK_CACHE_DIR": str(tmp_path)}) == tmp_path / "models"
    assert w.default_models_dir({}, cache_root=tmp_path / "c") == tmp_path / "c" / "models"
    assert w.human_size(318_000_000) == "318 MB" and w.human_size(3_510_000_000) == "3.5 GB"
