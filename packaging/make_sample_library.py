"""Rebuild resources/sample-library/ from the public-domain Captain Science #001 pages in the
shared fixtures, plus Science Comics #001 (public domain; the shared fixtures' real book, copied
as it is). Run: python packaging/make_sample_library.py [FIXTURES_DIR]

The page images are public domain (Captain Science #1, Youthful Magazines, 1950). The containers
and the ComicInfo.xml are written here by comicdesk, so the whole sample is free of other
projects' licences.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "resources" / "sample-library"

COMICINFO = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Title>The Beginning</Title>
  <Series>Captain Science</Series>
  <Number>1</Number>
  <Year>1950</Year>
  <Month>11</Month>
  <Writer>Joe Orlando</Writer>
  <Penciller>Wally Wood</Penciller>
  <Publisher>Youthful Magazines</Publisher>
  <Genre>Science Fiction</Genre>
  <PageCount>{count}</PageCount>
  <LanguageISO>en</LanguageISO>
  <Pages>
{pages}
  </Pages>
</ComicInfo>
"""


def main(fixtures: Path) -> None:
    src = sorted((fixtures / "archives" / "comicbox" / "Captain Science 001").glob("CaptainScience#1_*.jpg"))
    assert len(src) == 5, src
    if OUT.exists():
        for child in OUT.iterdir():
            if child.name not in ("LICENSE.md",):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    OUT.mkdir(parents=True, exist_ok=True)

    cover = ' Type="FrontCover"'
    pages = "\n".join(
        f'    <Page Image="{i}" ImageSize="{p.stat().st_size}"{cover if i == 0 else ""}/>'
        for i, p in enumerate(src)
    )
    cbz = OUT / "Captain Science" / "Captain Science #001 (1950).cbz"
    cbz.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(cbz, "w", zipfile.ZIP_STORED) as zf:
        for i, p in enumerate(src):
            info = zipfile.ZipInfo(f"{i + 1:03d}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, p.read_bytes())
        info = zipfile.ZipInfo("ComicInfo.xml", date_time=(1980, 1, 1, 0, 0, 0))
        zf.writestr(info, COMICINFO.format(count=len(src), pages=pages), zipfile.ZIP_DEFLATED)

    # The same issue as a folder of images (a folder holding only images is a book).
    folder = OUT / "Captain Science #001 (scans)"
    folder.mkdir()
    for i, p in enumerate(src):
        shutil.copyfile(p, folder / f"page{i + 1}.jpg")

    # And as a CB7.
    try:
        import py7zr

        with py7zr.SevenZipFile(OUT / "Captain Science" / "Captain Science #001 (1950).cb7", "w") as z:
            for i, p in enumerate(src):
                z.write(p, f"{i + 1:03d}.jpg")
    except ImportError:
        print("py7zr not installed: no CB7 sample", file=sys.stderr)
    # A whole real book (36 pages, public domain), byte for byte: see LICENSE.md.
    real = OUT / "Science Comics" / "Science Comics #001 (1946).cbz"
    real.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixtures / "real" / "science-comics-001" / "science_comics_001.cbz", real)
    print(f"sample library written to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "fixtures")
