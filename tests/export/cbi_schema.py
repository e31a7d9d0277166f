"""The published ComicBookInfo/1.0 schema (the comicbookinfo project's Example wiki page, as its
JSON Schema rendering describes it: top-level ``appID``, ``lastModified`` and the
``ComicBookInfo/1.0`` object with its sixteen fields) and a small checker for it: the test
environment has no JSON Schema library, and the schema only uses ``type``, ``minimum``,
``maximum``, ``properties`` and ``items``. Written here from the field list, not copied."""

from __future__ import annotations

_STR = {"type": "string"}
_INT = {"type": "integer"}

SCHEMA = {
    "type": "object",
    "properties": {
        "appID": _STR,
        "lastModified": _STR,
        "ComicBookInfo/1.0": {
            "type": "object",
            "properties": {
                "series": _STR,
                "title": _STR,
                "publisher": _STR,
                "publicationMonth": {"type": "integer", "minimum": 1, "maximum": 12},
                "publicationYear": _INT,
                "issue": _INT,
                "numberOfIssues": {"type": "integer", "minimum": 1},
                "volume": {"type": "integer", "minimum": 0},
                "numberOfVolumes": {"type": "integer", "minimum": 1},
                "rating": _INT,
                "genre": _STR,
                "language": _STR,
                "country": _STR,
                "credits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"person": _STR, "role": _STR, "primary": {"type": "boolean"}},
                    },
                },
                "tags": {"type": "array", "items": _STR},
                "comments": _STR,
            },
        },
    },
}

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def schema_errors(doc, schema: dict = SCHEMA, where: str = "$", strict: bool = True) -> list[str]:
    """What in ``doc`` breaks ``schema``. ``strict``: inside the ``ComicBookInfo/1.0`` object and
    its credits, keys the schema does not name are errors too (the published schema allows them;
    comicdesk writes none, and a misspelt key would go unnoticed otherwise)."""
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](doc):
        return [f"{where}: {doc!r} is not of type {kind}"]
    if "minimum" in schema and doc < schema["minimum"]:
        errors.append(f"{where}: {doc} < {schema['minimum']}")
    if "maximum" in schema and doc > schema["maximum"]:
        errors.append(f"{where}: {doc} > {schema['maximum']}")
    props = schema.get("properties")
    if props is not None:
        for key, sub in props.items():
            if key in doc:
                errors += schema_errors(doc[key], sub, f"{where}.{key}", strict)
        if strict and where != "$":
            errors += [f"{where}: unknown key {k!r}" for k in doc if k not in props]
    if "items" in schema:
        for i, item in enumerate(doc):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]", strict)
    return errors
