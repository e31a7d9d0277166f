"""Where the cosmo profile's weights are: an explicit path, our models folder, the Hugging Face
cache, or (only after the person agrees) a download.

Models (:data:`MODELS`), by the names ``comicdesk models`` uses:

- ``cosmo-v4`` — the CoSMo v4 page classifier, one file
  (``RichardScottOZ/cosmo-v4`` / ``best_Multimodal_MultiToken_v4.pt``);
- ``panel-encoder-v1`` — comic-panel-encoder-v1, one file
  (``RichardScottOZ/comic-panel-encoder-v1`` / ``best_model.pt``);
- ``siglip-so400m`` — ``google/siglip-so400m-patch14-384``, a Hugging Face folder;
- ``qwen3-embedding-0.6b`` — ``Qwen/Qwen3-Embedding-0.6B``, a Hugging Face folder.

Resolution order (:meth:`Locator.find`), first hit wins:

1. an explicit path: ``explicit={name: path}`` or ``$COMICDESK_MODEL_<NAME>`` (upper case, ``-``
   and ``.`` as ``_``, e.g. ``COMICDESK_MODEL_COSMO_V4``): the file itself or a folder holding it
   (file models), the model's folder (folder models);
2. our models folder ``<models dir>/<name>/`` (``$COMICDESK_MODELS_DIR``, else
   ``<cache root>/models``): where :meth:`Locator.download` puts things;
3. the Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``): ``models--<org>--<name>/snapshots/<commit>/``, the commit of
   ``refs/main`` first, then any snapshot holding every required file.

Downloads (:meth:`Locator.download`) need ``consent=True``; they stream each file from
``<endpoint>/<repo>/resolve/main/<file>`` (endpoint: ``$HF_ENDPOINT`` or huggingface.co) into
``<file>.part`` beside its final place, resume a ``.part`` with an HTTP ``Range`` request, check
the size the server announced (and the expected size when the table knows it exactly, and the
SHA-256 when the server gives it as the ETag, as the Hub does for large files), and only then
rename the file into place: a file in its final place is always whole. ``$HF_HUB_OFFLINE`` or
``$COMICDESK_OFFLINE`` set to 1 refuses to download. Every failure is one line saying what to
fetch and where to put it.

No torch, no transformers, no huggingface_hub: plain urllib and the file system.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comicdesk.core.errors import ComicdeskError

HF_ENDPOINT = "https://huggingface.co"
CHUNK = 1 << 20


class WeightsError(ComicdeskError):
    """Weights cannot be found or fetched; ``str()`` says what to do, in one line."""

    kind = "weights"


class ModelNotFound(WeightsError):
    kind = "model-missing"


class ConsentRequired(WeightsError):
    kind = "consent"


@dataclass(frozen=True)
class ModelFile:
    name: str  # path inside the repository
    required: bool = True
    size: int | None = None  # exact bytes when known (checked); None: the server's word is checked


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    what: str
    repo: str
    files: tuple[ModelFile, ...]
    approx_bytes: int  # for "about 318 MB" before anything is downloaded
    kind: str = "file"  # "file": the path is the one required file; "folder": the folder
    revision: str = "main"

    @property
    def main_file(self) -> str:
        return next(f.name for f in self.files if f.required)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.files if f.required]

    @property
    def env_var(self) -> str:
        return "COMICDESK_MODEL_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    def url(self, filename: str, endpoint: str | None = None) -> str:
        base = (endpoint or HF_ENDPOINT).rstrip("/")
        return f"{base}/{self.repo}/resolve/{self.revision}/{filename}"

    @property
    def page(self) -> str:
        return f"{HF_ENDPOINT}/{self.repo}"


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "cosmo-v4", "CoSMo v4", "page classifier (BookBERTMultimodal2), cosmo profile",
            "RichardScottOZ/cosmo-v4", (ModelFile("best_Multimodal_MultiToken_v4.pt"),),
            approx_bytes=318_000_000,
        ),
        ModelSpec(
            "siglip-so400m", "SigLIP so400m-patch14-384", "page image features for CoSMo (1152-d)",
            "google/siglip-so400m-patch14-384",
            (ModelFile("config.json"), ModelFile("model.safetensors"),
             ModelFile("preprocessor_config.json", required=False)),
            approx_bytes=3_510_000_000, kind="folder",
        ),
        ModelSpec(
            "qwen3-embedding-0.6b", "Qwen3-Embedding-0.6B", "page text features for CoSMo (1024-d)",
            "Qwen/Qwen3-Embedding-0.6B",
            (ModelFile("config.json"), ModelFile("model.safetensors"), ModelFile("tokenizer.json"),
             ModelFile("tokenizer_config.json"), ModelFile("vocab.json", required=False),
             ModelFile("merges.txt", required=False),
             ModelFile("special_tokens_map.json", required=False),
             ModelFile("generation_config.json", required=False)),
            approx_bytes=1_200_000_000, kind="folder",
        ),
        ModelSpec(
            "panel-encoder-v1", "comic-panel-encoder-v1", "panel embeddings (512-d), cosmo profile",
            "RichardScottOZ/comic-panel-encoder-v1", (ModelFile("best_model.pt"),),
            approx_bytes=574_000_000,
        ),
    )
}


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}: the models are {', '.join(MODELS)}") from None


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:.0f} {unit}"
    return f"{n} B"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def default_hf_cache(env: Mapping[str, str]) -> Path:
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def default_models_dir(env: Mapping[str, str], cache_root: str | os.PathLike | None = None) -> Path:
    if env.get("COMICDESK_MODELS_DIR"):
        return Path(env["COMICDESK_MODELS_DIR"]).expanduser().absolute()
    if cache_root is None:
        cache_root = env.get("COMICDESK_CACHE_DIR") or None
    if cache_root is None:
        import platformdirs

        cache_root = platformdirs.user_cache_dir("comicdesk", appauthor=False)
    return Path(cache_root).expanduser().absolute() / "models"


@dataclass(frozen=True)
class Located:
    name: str
    path: Path  # the file (file models) or the folder (folder models)
    source: str  # "explicit" | "models-dir" | "hf-cache"
    size: int  # bytes on disk (the model's files)


ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, bytes total)


@dataclass
class Locator:
    """Finds and fetches the models' weights (see the module docstring for the order)."""

    models_dir: Path
    hf_cache: Path | None = None
    explicit: Mapping[str, str | os.PathLike] = field(default_factory=dict)
    endpoint: str | None = None
    offline: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 cache_root: str | os.PathLike | None = None,
                 models_dir: str | os.PathLike | None = None, **kw: Any) -> Locator:
        """The locator a run uses: everything from the environment (``cache_root``: the settings'
        cache root, when known; ``models_dir`` overrides the models folder)."""
        env = dict(os.environ if env is None else env)
        return cls(
            models_dir=Path(models_dir).expanduser().absolute() if models_dir
            else default_models_dir(env, cache_root),
            hf_cache=default_hf_cache(env),
            endpoint=env.get("HF_ENDPOINT") or None,
            offline=_truthy(env.get("HF_HUB_OFFLINE")) or _truthy(env.get("COMICDESK_OFFLINE")),
            env=env,
            **kw,
        )

    # -- finding ---------------------------------------------------------------------------------
    def target(self, name: str) -> Path:
        """Our folder for the model (where a download goes)."""
        return self.models_dir / spec(name).name

    def _complete(self, m: ModelSpec, folder: Path) -> bool:
        return all((folder / f).is_file() for f in m.required)

    def _located(self, m: ModelSpec, folder: Path, source: str) -> Located:
        names = [f.name for f in m.files if (folder / f.name).is_file()]
        size = sum((folder / n).stat().st_size for n in names)
        path = folder / m.main_file if m.kind == "file" else folder
        return Located(m.name, path, source, size)

    def _explicit(self, m: ModelSpec) -> Path | None:
        given = self.explicit.get(m.name) or self.env.get(m.env_var)
        return Path(given).expanduser().absolute() if given else None

    def find(self, name: str) -> Located | None:
        """Where the model is, or None."""
        m = spec(name)
        given = self._explicit(m)
        if given is not None:
            if m.kind == "file" and given.is_file():
                return Located(m.name, given, "explicit", given.stat().st_size)
            if given.is_dir() and self._complete(m, given):
                return self._located(m, given, "explicit")
            raise ModelNotFound(
                f"{m.title}: {m.env_var if m.name not in self.explicit else 'the given path'} points to "
                f"{given}, which {'does not exist' if not given.exists() else 'lacks ' + self._lacking(m, given)}"
            )
        mine = self.target(name)
        if self._complete(m, mine):
            return self._located(m, mine, "models-dir")
        snap = self._hf_snapshot(m)
        if snap is not None:
            return self._located(m, snap, "hf-cache")
        return None

    def _lacking(self, m: ModelSpec, folder: Path) -> str:
        if not folder.is_dir():
            return m.main_file
        return next((f for f in m.required if not (folder / f).is_file()), m.main_file)

    def _hf_snapshot(self, m: ModelSpec) -> Path | None:
        if self.hf_cache is None:
            return None
        root = self.hf_cache / ("models--" + m.repo.replace("/", "--"))
        snaps = root / "snapshots"
        if not snaps.is_dir():
            return None
        ref = root / "refs" / m.revision
        candidates: list[Path] = []
        try:
            commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
        except OSError:
            commit = ""
        if commit:
            candidates.append(snaps / commit)
        try:
            others = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                            reverse=True)
        except OSError:
            others = []
        candidates += [p for p in others if p not in candidates]
        for snap in candidates:
            if self._complete(m, snap):  # is_file() follows the blob symlinks: a dangling one fails
                return snap
        return None

    def require(self, name: str) -> Path:
        """The model's path, or :class:`ModelNotFound` with the one line saying how to get it."""
        found = self.find(name)
        if found is None:
            raise ModelNotFound(self.missing_message(name))
        return found.path

    def missing_message(self, name: str) -> str:
        m = spec(name)
        target = self.target(name)
        if m.kind == "file":
            fetch = f"or fetch {m.url(m.main_file)} into {target}/"
        else:
            fetch = f"or fetch {', '.join(m.required)} from {m.page} (resolve/main/<file>) into {target}/"
        return (f"{m.title} ({name}) is not on this computer: run `comicdesk models download {name}` "
                f"(about {human_size(m.approx_bytes)}), {fetch} (or set {m.env_var} to where it is)")

    # -- fetching --------------------------------------------------------------------------------
    def download(self, name: str, *, consent: bool, progress: ProgressFn | None = None) -> Located:
        """Fetch the model into :meth:`target` (resuming earlier partial files) and return it.
        Refused without ``consent`` and when offline."""
        m = spec(name)
        if not consent:
            raise ConsentRequired(f"downloading {m.title} ({name}, about {human_size(m.approx_bytes)} "
                                  f"from {self.endpoint or HF_ENDPOINT}) needs your consent")
        if self.offline:
            raise WeightsError("offline (HF_HUB_OFFLINE or COMICDESK_OFFLINE is set): "
                               + self.missing_message(name))
        folder = self.target(name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WeightsError(f"cannot create {folder}: {exc.strerror or exc}") from None
        for f in m.files:
            dest = folder / f.name
            if dest.is_file():
                continue
            self._fetch(m, f, dest, progress)
        if not self._complete(m, folder):
            raise WeightsError(f"{m.title}: the download did not give {self._lacking(m, folder)}; "
                               + self.missing_message(name))
        return self._located(m, folder, "models-dir")

    def _fetch(self, m: ModelSpec, f: ModelFile, dest: Path, progress: ProgressFn | None) -> None:
        url = m.url(f.name, self.endpoint)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        headers = {"User-Agent": "comicdesk"}
        if have:
            headers["Range"] = f"bytes={have}-"
        where = f"{url} into {dest}"
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and not f.required:
                return
            if exc.code == 416 and have:  # nothing left to send: the part may be whole
                total = _content_range_total(exc.headers.get("Content-Range"))
                exc.close()
                if total is not None and total == have and (f.size is None or f.size == have):
                    os.replace(part, dest)
                    return
                part.unlink(missing_ok=True)  # stale or too long: start again next time
                raise WeightsError(f"{m.title}: the partial {f.name} did not match the server's file; "
                                   f"it was removed, run the download again") from None
            raise WeightsError(f"{m.title}: the server answered {exc.code} {exc.reason} for {url}; "
                               f"fetch it yourself {where}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise WeightsError(f"{m.title}: cannot reach {url} ({reason}); fetch it yourself {where}") from None
        with resp:
            status = getattr(resp, "status", 200)
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if status == 206 and have:
                start = _content_range_start(resp.headers.get("Content-Range"))
                if start != have:
                    raise WeightsError(f"{m.title}: the server resumed {f.name} at the wrong place; "
                                       f"delete {part} and run again")
                total = _content_range_total(resp.headers.get("Content-Range"))
                if total is None and length is not None:
                    total = have + length
                mode = "ab"
            else:  # a whole file (the server ignored or was not sent a Range)
                have = 0
                total = length
                mode = "wb"
            if f.size is not None and total is not None and total != f.size:
                raise WeightsError(f"{m.title}: the server offers {f.name} of {total} bytes, expected "
                                   f"{f.size}; not downloaded (fetch it yourself {where})")
            expected_sha = _sha256_etag(resp.headers)
            done = have
            if progress is not None:
                progress(f.name, done, total)
            try:
                with open(part, mode) as out:
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(f.name, done, total)
                        if total is not None and done > total:
                            break
            except OSError as exc:
                if isinstance(exc, (ConnectionError, TimeoutError)) or exc.errno is None:
                    raise WeightsError(f"{m.title}: the download of {f.name} was cut at {human_size(done)}"
                                       f" ({exc}); run it again to resume") from None
                raise WeightsError(f"{m.title}: cannot write {part}: {exc.strerror or exc}") from None
            except Exception as exc:  # http.client.IncompleteRead and friends
                raise WeightsError(f"{m.title}: the download of {f.name} was cut at {human_size(done)}"
                                   f" ({type(exc).__name__}); run it again to resume") from None
        size = part.stat().st_size
        want = total if total is not None else f.size
        if want is not None and size < want:
            raise WeightsError(f"{m.title}: the download of {f.name} stopped at {size} of {want} bytes; "
                               f"run it again to resume")
        if (want is not None and size != want) or (f.size is not None and size != f.size):
            part.unlink(missing_ok=True)
            raise WeightsError(f"{m.title}: {f.name} came with {size} bytes, expected {want or f.size}; "
                               f"the file was refused and removed")
        if expected_sha is not None and _sha256(part) != expected_sha:
            part.unlink(missing_ok=True)
            raise WeightsError(f"{m.title}: {f.name} does not match the server's SHA-256; the file was "
                               f"refused and removed, run the download again")
        os.replace(part, dest)

    def remove_partial(self, name: str) -> int:
        """Delete leftover ``.part`` files of a model; how many."""
        folder = self.target(name)
        n = 0
        if folder.is_dir():
            for p in folder.rglob("*.part"):
                p.unlink(missing_ok=True)
                n += 1
        return n


def _content_range_total(value: str | None) -> int | None:
    m = re.match(r"\s*bytes\s+(?:\d+-\d+|\*)/(\d+)", value or "")
    return int(m.group(1)) if m else None


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-\d+/", value or "")
    return int(m.group(1)) if m else None


def _sha256_etag(headers: Any) -> str | None:
    for key in ("X-Linked-Etag", "ETag"):
        v = (headers.get(key) or "").strip().strip('"').removeprefix("W/").strip('"').lower()
        if re.fullmatch(r"[0-9a-f]{64}", v):
            return v
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def disk_free(path: Path) -> int | None:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


__all__ = [
    "MODELS",
    "ConsentRequired",
    "Located",
    "Locator",
    "ModelFile",
    "ModelNotFound",
    "ModelSpec",
    "WeightsError",
    "default_hf_cache",
    "default_models_dir",
    "disk_free",
    "human_size",
    "spec",
]
