"""ComicInfo.xml: tolerant reading, lossless writing, XSD validity, page-type mapping, safety."""

from __future__ import annotations

import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema
from helpers import comicbox_dir, fixtures_dir

from comicdesk.archive.comicinfo import (
    AGE_RATINGS,
    ELEMENT_ORDER,
    MANGA_VALUES,
    PAGE_ATTRIBUTES,
    PAGE_TYPES,
    YES_NO,
    ComicInfo,
    ComicInfoError,
    ComicPageInfo,
    class_for_page_types,
    deleted_from_comicinfo,
    is_deleted,
    labels_from_comicinfo,
    page_types_for_class,
)
from comicdesk.core.errors import ComicdeskError
from comicdesk.core.pages import PAGE_CLASSES

XS = "{http://www.w3.org/2001/XMLSchema}"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD_PATH = fixtures_dir() / "comicinfo" / "ComicInfo-v2.0.xsd"
KNOWN_NAMES = [name for name, _, _ in ELEMENT_ORDER]


def _fixture_files() -> list[Path]:
    base = comicbox_dir()
    files = sorted((base / "metadata").glob("comicinfo*.xml"))
    files += sorted((base / "Captain Science 001").glob("comicinfo*.xml"))
    files += [base / "export" / "comicinfo.xml", base / "multi" / "comicinfo.xml"]
    return files


FIXTURES = _fixture_files()


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD_PATH))


def _xsd_errors(schema: xmlschema.XMLSchema, data: bytes) -> list[str]:
    return [str(e.reason) for e in schema.iter_errors(data)]


def _without_unknown_elements(data: bytes) -> bytes:
    """The written document with the root's non-schema children removed (they are kept on
    purpose, and the v2.0 XSD has no wildcard for them)."""
    root = ET.fromstring(data)
    for child in list(root):
        if child.tag not in KNOWN_NAMES:
            root.remove(child)
    return ET.tostring(root, encoding="utf-8")


def _child_tags(data: bytes) -> list[str]:
    return [child.tag for child in ET.fromstring(data)]


def _full() -> ComicInfo:
    """Every field of the schema set, pages using every attribute."""
    return ComicInfo(
        title="The Beginning & <The End>",
        series="Captain Science",
        number="1½",
        count=7,
        volume=1950,
        alternate_series="Alt \"quoted\" series",
        alternate_number="001",
        alternate_count=3,
        summary="Line one.\nLine two — with unicode: ñ, 漫画, 🚀.\n\n  indented",
        notes="notes",
        year=1950,
        month=11,
        day=1,
        writer="Joe Orlando",
        penciller="Wally Wood",
        inker="Wally Wood",
        colorist="C",
        letterer="L",
        cover_artist="CA",
        editor="E",
        publisher="Youthful Adventure Stories",
        imprint="I",
        genre="Science Fiction, Fantasy",
        web="https://example.org/a?b=1&c=2",
        page_count=4,
        language_iso="en",
        format="Annual",
        black_and_white="No",
        manga="YesAndRightToLeft",
        characters="Captain Science, Gordon Dane",
        teams="T",
        locations="Mars",
        scan_information="scan",
        story_arc="Arc",
        series_group="Group",
        age_rating="Teen",
        pages=[
            ComicPageInfo(0, ["FrontCover"], double_page=False, image_size=4542, key="k0",
                          bookmark="Start", image_width=800, image_height=1200),
            ComicPageInfo(1, ["Story", "Advertisement"], double_page=True, image_size=9000,
                          key="", bookmark="", image_width=1600, image_height=1200),
            ComicPageInfo(2),
            ComicPageInfo(3, ["BackCover", "Deleted"], image_size=0, image_width=-1, image_height=-1),
        ],
        community_rating=4.25,
    )


# -- the schema tables ----------------------------------------------------------------------------


def test_tables_follow_the_xsd():
    xsd = ET.parse(XSD_PATH).getroot()
    types = {t.get("name"): t for t in xsd if t.get("name")}
    sequence = types["ComicInfo"].find(f"{XS}sequence")
    assert [e.get("name") for e in sequence] == KNOWN_NAMES
    kinds = {"xs:string": "str", "xs:int": "int", "YesNo": "yesno", "Manga": "manga",
             "AgeRating": "agerating", "ArrayOfComicPageInfo": "pages", "Rating": "rating"}
    assert [kinds[e.get("type")] for e in sequence] == [kind for _, _, kind in ELEMENT_ORDER]

    def enum(name):
        return tuple(e.get("value") for e in types[name].iter(f"{XS}enumeration"))

    assert enum("YesNo") == YES_NO
    assert enum("Manga") == MANGA_VALUES
    assert enum("AgeRating") == AGE_RATINGS
    assert enum("ComicPageType") == PAGE_TYPES
    page_attrs = [a.get("name") for a in types["ComicPageInfo"].iter(f"{XS}attribute")]
    assert page_attrs == [name for name, _, _ in PAGE_ATTRIBUTES]


# -- fixtures -------------------------------------------------------------------------------------


def test_fixture_list_is_complete():
    assert len(FIXTURES) == 12
    assert all(p.is_file() for p in FIXTURES)


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_fixture_round_trip(path: Path, schema):
    ci = ComicInfo.from_bytes(path.read_bytes())
    written = ci.to_bytes()
    again = ComicInfo.from_bytes(written)
    assert again == ci
    assert again.to_bytes() == written  # writing is stable
    assert written.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<ComicInfo ')
    tags = _child_tags(written)
    known = [t for t in tags if t in KNOWN_NAMES]
    assert known == sorted(known, key=KNOWN_NAMES.index)  # XSD order
    assert tags[: len(known)] == known  # unknown ones after the known ones
    # The strict output is always valid; the lossless one is valid but for the unknown
    # elements it keeps, except where the source itself holds values outside the schema.
    assert _xsd_errors(schema, ci.to_bytes(strict=True)) == []
    errors = _xsd_errors(schema, _without_unknown_elements(written))
    if path.name == "comicinfo-validation.xml":
        assert any("FOO" in e for e in errors) and any("EXTRA" in e for e in errors)
    else:
        assert errors == []


def test_fixture_values_full():
    ci = ComicInfo.from_bytes((comicbox_dir() / "metadata" / "comicinfo.xml").read_bytes())
    assert ci.warnings == []
    assert ci.title == "The Beginning; The End"
    assert ci.series == "Captain Science"
    assert ci.number == "1" and isinstance(ci.number, str)
    assert ci.count == 7
    assert ci.volume == 1950
    assert ci.alternate_series == "Captain Science Alternate"
    assert ci.alternate_number == "001"
    assert ci.alternate_count is None
    assert ci.summary is None
    assert ci.notes == "Tagged with comicbox dev on 1970-01-01T00:00:00Z [Issue ID 145269] [CVDB145269]"
    assert (ci.year, ci.month, ci.day) == (1950, 11, 1)
    assert ci.writer == "Joe Orlando"
    assert ci.penciller == "Wally Wood"
    assert ci.inker == "Wally Wood"
    assert ci.colorist is None and ci.letterer is None and ci.cover_artist is None
    assert ci.publisher == "Youthful Adventure Stories"
    assert ci.genre == "Science Fiction"
    assert ci.web == "https://comicvine.gamespot.com/c/4000-145269/"
    assert ci.page_count == 0
    assert ci.language_iso == "en"
    assert ci.characters == "Captain Science,Gordon Dane"
    assert ci.story_arc == "Captain Arc,Other Arc"
    assert ci.age_rating == "Teen"
    assert ci.manga is None and not ci.manga_right_to_left
    assert ci.community_rating is None
    assert ci.pages == [
        ComicPageInfo(0, ["FrontCover"], image_size=4542),
        ComicPageInfo(1, image_size=4065),
        ComicPageInfo(2, image_size=4081),
        ComicPageInfo(3, image_size=4157),
        ComicPageInfo(4, image_size=4108),
    ]
    # v2.1 elements this schema does not know are kept, in order.
    assert ci.unknown == ["<StoryArcNumber>4,2</StoryArcNumber>", "<GTIN>urn:comicvine:issue:145269</GTIN>"]
    assert ci.unknown_text("GTIN") == "urn:comicvine:issue:145269"
    assert ci.unknown_text("Tags") is None
    assert ci.root_attributes == {
        f"{{{XSI}}}schemaLocation": "https://anansi-project.github.io/docs/comicinfo/schemas/v2.1 "
        "https://raw.githubusercontent.com/anansi-project/comicinfo/refs/heads/main/drafts/v2.1/ComicInfo.xsd"
    }
    assert labels_from_comicinfo(ci) == {0: "cover"}


def test_fixture_values_validation_file():
    """Elements in alphabetical order, an empty element, bad page attributes."""
    ci = ComicInfo.from_bytes((comicbox_dir() / "metadata" / "comicinfo-validation.xml").read_bytes())
    assert ci.title == ""  # <Title/> is present and empty, not absent
    assert ci.series == "2"
    assert ci.language_iso == "English"
    assert ci.page_count == 36
    assert ci.volume == 1950 and ci.year == 1950
    assert len(ci.pages) == 36
    assert [p.image for p in ci.pages] == list(range(36))
    assert ci.pages[0].types == ["FrontCover"]
    assert ci.pages[1].types == ["FOO"] and ci.pages[1].type_explicit
    assert ci.pages[1].page_class is None
    assert ci.pages[2].extra_attributes == {"EXTRA": "0"}
    assert ci.pages[4].image_size is None  # "boochalla"
    assert ci.pages[25].image_size is None
    assert ci.pages[26].image_size is None  # "{'a': 'b'}"
    assert ci.pages[35].image_size == 340840
    assert any("boochalla" in w for w in ci.warnings)
    assert any("FOO" in w for w in ci.warnings)
    assert labels_from_comicinfo(ci) == {0: "cover"}
    # strict output drops what the schema rejects, and only that
    strict = ComicInfo.from_bytes(ci.to_bytes(strict=True))
    assert strict.pages[1].types == [] and strict.pages[2].extra_attributes == {}
    assert strict.unknown == [] and strict.root_attributes == {}
    assert strict.title == "" and strict.page_count == 36 and strict.pages[0].types == ["FrontCover"]


def test_fixture_same_values_in_any_order():
    base = comicbox_dir() / "Captain Science 001"
    alphabetical = ComicInfo.from_bytes((base / "comicinfo.xml").read_bytes())
    original = ComicInfo.from_bytes((base / "comicinfo-original.xml").read_bytes())
    assert alphabetical.page_count == 5 and original.page_count == 0
    known = [attr for _, attr, _ in ELEMENT_ORDER if attr != "page_count"]
    assert {a: getattr(alphabetical, a) for a in known} == {a: getattr(original, a) for a in known}
    assert sorted(alphabetical.unknown) == sorted(original.unknown)
    assert alphabetical.unknown != original.unknown  # document order kept


def test_duplicates_first_wins():
    ci = ComicInfo.from_bytes((comicbox_dir() / "metadata" / "comicinfo-bad-multiple.xml").read_bytes())
    assert ci.publisher == "Youthful Adventure Stories"
    assert ci.genre == "Science Fiction,Fantasy"
    assert ci.count == 7 and ci.day == 1
    assert ci.characters == "Captain Science,Gordon Dane"
    assert sum("duplicate" in w for w in ci.warnings) == 2
    assert b"BAD" not in ci.to_bytes()


def test_multi_fixture_numbers():
    ci = ComicInfo.from_bytes((comicbox_dir() / "multi" / "comicinfo.xml").read_bytes())
    assert ci.year == 591  # "0591"
    assert (ci.count, ci.volume, ci.page_count) == (10, 999, 5)
    assert ci.genre == "Comic Info Genre"


# -- writing --------------------------------------------------------------------------------------


def test_full_object_validates_and_round_trips(schema):
    ci = _full()
    written = ci.to_bytes()
    assert _xsd_errors(schema, written) == []
    assert ci.to_bytes(strict=True) == written  # nothing outside the schema to drop
    assert _child_tags(written) == KNOWN_NAMES  # every element, XSD order (CommunityRating last)
    root = ET.fromstring(written)
    assert root.find("CommunityRating").text == "4.25"
    assert root.find("Pages")[1].attrib == {
        "Image": "1", "Type": "Story Advertisement", "DoublePage": "true", "ImageSize": "9000",
        "Key": "", "Bookmark": "", "ImageWidth": "1600", "ImageHeight": "1200",
    }
    assert root.find("Pages")[2].attrib == {"Image": "2"}  # None attributes are left out
    again = ComicInfo.from_bytes(written)
    assert again == ci
    assert again.warnings == []
    assert again.pages[1].types == ["Story", "Advertisement"]
    assert again.pages[3].deleted
    assert written.decode("utf-8")  # UTF-8, not an escaped ASCII rendition
    assert "漫画".encode() in written and b"&amp;" in written and b"&lt;The End&gt;" in written


def test_written_header_and_none_fields():
    written = ComicInfo(series="S").to_bytes()
    assert written.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(written)
    assert root.tag == "ComicInfo"
    assert [c.tag for c in root] == ["Series"]
    text = written.decode()
    assert f'xmlns:xsi="{XSI}"' in text and 'xmlns:xsd="http://www.w3.org/2001/XMLSchema"' in text
    empty = ComicInfo()
    assert list(ET.fromstring(empty.to_bytes())) == []
    assert ComicInfo.from_bytes(empty.to_bytes()) == empty


def test_escaping_round_trip():
    nasty = 'a & b < c > d "e" \'f\' ]]> <!-- x --> &amp; \t tab'
    ci = ComicInfo(title=nasty, summary="line\nline\r\nlast", pages=[ComicPageInfo(0, key=nasty, bookmark="x\ny\tz")])
    again = ComicInfo.from_bytes(ci.to_bytes())
    assert again.title == nasty
    assert again.summary == "line\nline\r\nlast"
    assert again.pages[0].key == nasty and again.pages[0].bookmark == "x\ny\tz"


def test_unknown_elements_and_attributes_survive():
    src = f"""<?xml version="1.0"?>
<ComicInfo xmlns:xsi="{XSI}" xmlns:my="urn:my-tool" xsi:noNamespaceSchemaLocation="ComicInfo.xsd" my:flag="1">
  <Tags>a,b</Tags>
  <Title>T</Title>
  <my:Extra kind="x">
    <my:Item n="1">one</my:Item>
    <my:Item n="2"/>
  </my:Extra>
  <Pages>
    <Page Image="0" Type="FrontCover" my:crop="1,2,3,4" Rotation="90"/>
  </Pages>
  <Series>S</Series>
  <MainCharacterOrTeam>Hero</MainCharacterOrTeam>
</ComicInfo>""".encode()
    ci = ComicInfo.from_bytes(src)
    assert (ci.title, ci.series) == ("T", "S")
    assert len(ci.unknown) == 3
    assert ci.unknown[0] == "<Tags>a,b</Tags>"
    assert "urn:my-tool" in ci.unknown[1] and "one" in ci.unknown[1]
    assert ci.unknown_text("{urn:my-tool}Extra") == "one"
    assert ci.unknown_text("MainCharacterOrTeam") == "Hero"
    assert ci.pages[0].extra_attributes == {"{urn:my-tool}crop": "1,2,3,4", "Rotation": "90"}
    assert ci.root_attributes == {f"{{{XSI}}}noNamespaceSchemaLocation": "ComicInfo.xsd", "{urn:my-tool}flag": "1"}

    written = ci.to_bytes()
    again = ComicInfo.from_bytes(written)
    assert again == ci
    assert again.to_bytes() == written
    root = ET.fromstring(written)
    assert [c.tag for c in root] == ["Title", "Series", "Pages", "Tags", "{urn:my-tool}Extra", "MainCharacterOrTeam"]
    extra = root.find("{urn:my-tool}Extra")
    assert extra.get("kind") == "x"
    assert [(i.get("n"), i.text) for i in extra] == [("1", "one"), ("2", None)]
    assert root.get("{urn:my-tool}flag") == "1"
    assert root.find("Pages/Page").get("{urn:my-tool}crop") == "1,2,3,4"


def test_with_pages_replaces_pages_and_count(schema):
    ci = ComicInfo.from_bytes((comicbox_dir() / "metadata" / "comicinfo.xml").read_bytes())
    before = ci.to_bytes()
    kept = [ComicPageInfo(i, page_types_for_class(c, deleted=(c == "advertisement")))
            for i, c in enumerate(["cover", "story", "advertisement"])]
    new = ci.with_pages(kept)
    assert new.page_count == 3
    assert new.pages == kept and new.pages[0] is not kept[0]
    assert ci.to_bytes() == before  # the original is untouched
    assert new.unknown == ci.unknown and new.series == ci.series
    again = ComicInfo.from_bytes(new.to_bytes())
    assert labels_from_comicinfo(again) == {0: "cover", 1: "story", 2: "advertisement"}
    assert deleted_from_comicinfo(again) == {2}
    assert _xsd_errors(schema, new.to_bytes(strict=True)) == []


def test_strict_drops_values_outside_the_schema(schema):
    ci = ComicInfo(manga="Sometimes", age_rating="teen", black_and_white="Maybe", community_rating=7.5,
                   count=2**40, unknown=["<Tags>x</Tags>"],
                   pages=[ComicPageInfo(0, ["frontcover", "Bogus"])])
    strict = ci.to_bytes(strict=True)
    assert _xsd_errors(schema, strict) == []
    back = ComicInfo.from_bytes(strict)
    assert back.manga is None and back.black_and_white is None and back.community_rating is None
    assert back.count is None and back.unknown == []
    assert back.age_rating == "Teen"  # case fixed, not dropped
    assert back.pages[0].types == ["FrontCover"]
    # the lossless writer keeps what it was given
    lossless = ComicInfo.from_bytes(ci.to_bytes())
    assert lossless.manga == "Sometimes" and lossless.unknown == ["<Tags>x</Tags>"]
    assert any("Sometimes" in w for w in lossless.warnings)


def test_rating_precision():
    assert ComicInfo.from_bytes(ComicInfo(community_rating=3.0).to_bytes()).community_rating == 3.0
    back = ComicInfo.from_bytes(ComicInfo(community_rating=4.333).to_bytes(strict=True))
    assert back.community_rating == 4.33
    assert b"<CommunityRating>0.1</CommunityRating>" in ComicInfo(community_rating=0.1).to_bytes()


def test_malformed_unknown_element_is_refused_on_write():
    with pytest.raises(ComicInfoError):
        ComicInfo(unknown=["<Tags>unclosed"]).to_bytes()


# -- reading tolerance ----------------------------------------------------------------------------


def test_page_type_explicit_vs_default():
    ci = ComicInfo.from_bytes(
        b'<ComicInfo><Pages><Page Image="0"/><Page Image="1" Type="Story"/>'
        b'<Page Image="2" Type=" FrontCover  Deleted "/><Page Image="3" Type="Other"/>'
        b'<Page Image="4" Type=""/></Pages></ComicInfo>'
    )
    default, story, deleted_cover, other, empty = ci.pages
    assert default.types == [] and not default.type_explicit
    assert default.effective_types == ["Story"] and default.page_class is None
    assert story.types == ["Story"] and story.type_explicit and story.page_class == "story"
    assert deleted_cover.types == ["FrontCover", "Deleted"] and deleted_cover.deleted
    assert other.type_explicit and other.page_class is None
    assert not empty.type_explicit
    assert labels_from_comicinfo(ci) == {1: "story", 2: "cover"}
    assert deleted_from_comicinfo(ci) == {2}
    root = ET.fromstring(ci.to_bytes())
    assert [p.get("Type") for p in root.find("Pages")] == [None, "Story", "FrontCover Deleted", "Other", None]


def test_labels_first_page_entry_wins_and_negatives_ignored():
    ci = ComicInfo(pages=[ComicPageInfo(0), ComicPageInfo(0, ["FrontCover"]), ComicPageInfo(-1, ["BackCover"]),
                          ComicPageInfo(5, ["Letters"]), ComicPageInfo(6, ["Bogus"])])
    assert labels_from_comicinfo(ci) == {5: "text"}


def test_bad_numbers_warn_and_are_ignored():
    ci = ComicInfo.from_bytes(
        b"<ComicInfo><Title>ok</Title><Year>19x0</Year><Count>many</Count><Month> 7 </Month>"
        b"<Volume>2.0</Volume><Day>1.5</Day><AlternateCount>99999999999</AlternateCount>"
        b"<PageCount></PageCount><CommunityRating>great</CommunityRating>"
        b'<Pages><Page Image="x"/><Page Image="1" ImageWidth="wide" DoublePage="perhaps" ImageHeight="-1"/></Pages>'
        b"</ComicInfo>"
    )
    assert ci.title == "ok"
    assert ci.year is None and ci.count is None and ci.day is None and ci.alternate_count is None
    assert ci.month == 7 and ci.volume == 2
    assert ci.page_count is None and ci.community_rating is None
    assert ci.pages == [ComicPageInfo(1, image_height=-1)]
    joined = "\n".join(ci.warnings)
    for needle in ("19x0", "many", "1.5", "99999999999", "great", "Image", "wide", "perhaps"):
        assert needle in joined
    assert "PageCount" not in joined  # empty is not garbage
    assert ComicInfo.from_bytes(ci.to_bytes()) == ci


def test_enums_and_names_are_case_tolerant():
    ci = ComicInfo.from_bytes(
        b"<comicinfo><title>T</title><MANGA>yesandrighttoleft</MANGA><BlackAndWhite> yes </BlackAndWhite>"
        b"<AgeRating>mature 17+</AgeRating><CommunityRating>4,5</CommunityRating></comicinfo>"
    )
    assert ci.title == "T"
    assert ci.manga == "YesAndRightToLeft" and ci.manga_right_to_left
    assert ci.black_and_white == "Yes"
    assert ci.age_rating == "Mature 17+"
    assert ci.community_rating == 4.5
    assert ci.warnings == []
    for value, rtl in (("Yes", False), ("No", False), ("Unknown", False), ("YesAndRightToLeft", True)):
        assert ComicInfo(manga=value).manga_right_to_left is rtl
    assert not ComicInfo().manga_right_to_left


def test_namespaces_and_nil():
    ci = ComicInfo.from_bytes(
        f'<ComicInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="{XSI}">'
        f'<Title xsi:nil="true"/><Series>S</Series></ComicInfo>'.encode()
    )
    assert ci.title is None and ci.series == "S"
    # a default namespace or a prefix on the whole document
    for src in (b'<ComicInfo xmlns="urn:x"><Series>S</Series><Pages><Page Image="0" Type="BackCover"/></Pages></ComicInfo>',
                b'<ci:ComicInfo xmlns:ci="urn:x"><ci:Series>S</ci:Series><ci:Pages><ci:Page Image="0" Type="BackCover"/>'
                b"</ci:Pages></ci:ComicInfo>"):
        ci = ComicInfo.from_bytes(src)
        assert ci.series == "S" and ci.unknown == []
        assert labels_from_comicinfo(ci) == {0: "back_cover"}
        assert ComicInfo.from_bytes(ci.to_bytes()) == ci


@pytest.mark.parametrize(
    "data",
    [
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<ComicInfo><Title>Astérix à la cité</Title></ComicInfo>'.encode("iso-8859-1"),
        '<?xml version=\'1.0\' encoding=\'windows-1252\'?><ComicInfo><Title>Astérix à la cité</Title></ComicInfo>'.encode("cp1252"),
        '\ufeff<?xml version="1.0" encoding="utf-8"?><ComicInfo><Title>Astérix à la cité</Title></ComicInfo>'.encode("utf-8"),
        '<?xml version="1.0" encoding="utf-16"?><ComicInfo><Title>Astérix à la cité</Title></ComicInfo>'.encode("utf-16"),
        '<?xml version="1.0" encoding="UTF-16BE"?><ComicInfo><Title>Astérix à la cité</Title></ComicInfo>'.encode("utf-16-be"),
        '<ComicInfo><Title>Astérix à la cité</Title></ComicInfo>'.encode("utf-8"),
    ],
    ids=["iso-8859-1", "cp1252", "utf8-bom", "utf16-bom", "utf16be-no-bom", "no-declaration"],
)
def test_encodings(data: bytes):
    ci = ComicInfo.from_bytes(data)
    assert ci.title == "Astérix à la cité"
    assert ci.warnings == []
    assert "Astérix à la cité".encode("utf-8") in ci.to_bytes()


def test_encoding_lies_are_tolerated():
    latin_claiming_utf8 = '<?xml version="1.0" encoding="UTF-8"?><ComicInfo><Title>Café</Title></ComicInfo>'.encode("cp1252")
    ci = ComicInfo.from_bytes(latin_claiming_utf8)
    assert ci.title == "Café" and any("UTF-8" in w for w in ci.warnings)
    utf8_claiming_utf16 = '<?xml version="1.0" encoding="utf-16"?><ComicInfo><Title>Café</Title></ComicInfo>'.encode()
    assert ComicInfo.from_bytes(utf8_claiming_utf16).title == "Café"
    unknown_codec = b'<?xml version="1.0" encoding="x-nonsense"?><ComicInfo><Title>Caf\xc3\xa9</Title></ComicInfo>'
    ci = ComicInfo.from_bytes(unknown_codec)
    assert ci.title == "Café" and any("x-nonsense" in w for w in ci.warnings)


def test_invalid_characters_and_trailing_junk():
    ci = ComicInfo.from_bytes(b"<ComicInfo><Title>A\x0cB\x00C</Title></ComicInfo>\x00\x00")
    assert ci.title == "ABC" and ci.warnings
    ci = ComicInfo.from_bytes(b"<ComicInfo><Title>first</Title></ComicInfo>\n<ComicInfo><Title>2</Title></ComicInfo>")
    assert ci.title == "first" and any("after" in w for w in ci.warnings)
    # and the writer never emits characters XML forbids
    assert ComicInfo.from_bytes(ComicInfo(title="x\x01y").to_bytes()).title == "xy"


def test_str_input_accepted():
    assert ComicInfo.from_bytes('<?xml version="1.0" encoding="latin-1"?><ComicInfo><Title>é</Title></ComicInfo>').title == "é"


# -- refusals -------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ComicInfo><Title>&lol9;</Title></ComicInfo>"""


def _refused(data: bytes) -> ComicInfoError:
    start = time.perf_counter()
    with pytest.raises(ComicInfoError) as info:
        ComicInfo.from_bytes(data)
    assert time.perf_counter() - start < 1.0
    err = info.value
    assert isinstance(err, ComicdeskError) and not isinstance(err, ValueError)
    message = str(err)
    assert message and "\n" not in message and "Traceback" not in message
    assert err.kind == "bad-comicinfo"
    return err


def test_billion_laughs_refused():
    err = _refused(BILLION_LAUGHS)
    assert "entit" in str(err)
    assert "lol" not in str(err)


@pytest.mark.parametrize("template", [
    '<!DOCTYPE ComicInfo [<!ENTITY xxe SYSTEM "{url}">]><ComicInfo><Title>&xxe;</Title></ComicInfo>',
    '<!DOCTYPE ComicInfo [<!ENTITY % p SYSTEM "{url}"> %p;]><ComicInfo><Title>x</Title></ComicInfo>',
], ids=["general-entity", "parameter-entity"])
@pytest.mark.parametrize("target", ["secret", "/etc/passwd"])
def test_external_entities_refused(template: str, target: str, tmp_path: Path):
    if target == "secret":
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP-SECRET-VALUE")
        url = secret.as_uri()
    else:
        url = "file:///etc/passwd"
    err = _refused(template.format(url=url).encode())
    assert "TOP-SECRET-VALUE" not in str(err) and "root:" not in str(err)


@pytest.mark.parametrize("data", [
    b"",
    b"   \n",
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00garbage\xff\xfe",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"just some text",
    b"<ComicInfo><Title>unclosed</ComicInfo>",
    b"<?xml version='1.0'?><ComicInfo><Title>trunc",
    b"<ComicBookInfo><Title>T</Title></ComicBookInfo>",
    b"<html><body>not it</body></html>",
], ids=["empty", "blank", "zip", "png", "text", "mismatched", "truncated", "other-root", "html"])
def test_not_comicinfo_refused(data: bytes):
    _refused(data)


def test_wrong_root_message_names_it():
    assert "html" in str(_refused(b"<html/>"))


def test_too_large_refused():
    big = b"<ComicInfo><Summary>" + b"x" * (17 * 1024 * 1024) + b"</Summary></ComicInfo>"
    assert "too large" in str(_refused(big))


# -- page types <-> classes -----------------------------------------------------------------------

WRITE_TABLE = {
    "advertisement": ["Advertisement"],
    "cover": ["FrontCover"],
    "story": ["Story"],
    "textstory": ["Story"],
    "first-page": ["Story"],
    "credits": ["Other"],
    "art": ["InnerCover"],
    "text": ["Editorial"],
    "back_cover": ["BackCover"],
}
READ_TABLE = {
    "FrontCover": "cover",
    "InnerCover": "art",
    "Roundup": "text",
    "Story": "story",
    "Advertisement": "advertisement",
    "Editorial": "text",
    "Letters": "text",
    "Preview": "advertisement",
    "BackCover": "back_cover",
    "Other": None,
    "Deleted": None,
}


def test_tables_cover_every_class_and_type():
    assert set(WRITE_TABLE) == set(PAGE_CLASSES)
    assert tuple(READ_TABLE) == PAGE_TYPES


@pytest.mark.parametrize("cls", PAGE_CLASSES)
def test_page_types_for_class(cls: str):
    assert page_types_for_class(cls) == WRITE_TABLE[cls]
    assert page_types_for_class(cls, deleted=True) == WRITE_TABLE[cls] + ["Deleted"]
    assert all(t in PAGE_TYPES for t in page_types_for_class(cls, deleted=True))
    # reading back what we write
    expected = {"first-page": "story", "textstory": "story", "credits": None}.get(cls, cls)
    assert class_for_page_types(page_types_for_class(cls)) == expected
    assert class_for_page_types(page_types_for_class(cls, deleted=True)) == expected
    assert is_deleted(page_types_for_class(cls, deleted=True))
    assert not is_deleted(page_types_for_class(cls))


@pytest.mark.parametrize("page_type", PAGE_TYPES)
def test_class_for_page_types(page_type: str):
    assert class_for_page_types([page_type]) == READ_TABLE[page_type]
    assert class_for_page_types([page_type.lower()]) == READ_TABLE[page_type]
    assert class_for_page_types([page_type, "Deleted"]) == READ_TABLE[page_type]
    assert class_for_page_types(["Deleted", page_type]) == READ_TABLE[page_type]
    assert is_deleted([page_type]) is (page_type == "Deleted")
    expected = READ_TABLE[page_type]
    assert expected is None or expected in PAGE_CLASSES


def test_class_for_page_types_edge_cases():
    assert class_for_page_types([]) is None
    assert class_for_page_types(["Bogus"]) is None
    assert class_for_page_types(["Story", "FrontCover"]) == "cover"  # specific beats generic
    assert class_for_page_types(["Other", "Story"]) == "story"
    assert class_for_page_types(["Story", "Advertisement"]) == "advertisement"
    assert class_for_page_types(["BackCover", "Advertisement"]) == "back_cover"
    assert is_deleted(["deleted"])
    with pytest.raises(ValueError):
        page_types_for_class("splash")
