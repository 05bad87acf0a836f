"""Shared base for the file schemas: versioned, strict, loaded from YAML or JSON with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from spotplan.errors import ConfigError

M = TypeVar("M", bound="SchemaModel")
MAX_DOCUMENT_BYTES = 64 << 20  # a scenario, plan or calibration is kilobytes; a price history goes elsewhere


def parse_yaml(text: str, source: str) -> Any:
    """Parse a YAML or JSON document; ConfigError (one line) for anything malformed, oversized or nested too deep."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters, over the {MAX_DOCUMENT_BYTES}-byte bound of a "
                          "spotplan file")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a spotplan file") from None


class StrictModel(BaseModel):
    """A nested block of a schema: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SchemaModel(StrictModel):
    """A top-level file schema with a ``schema_version`` checked on load."""

    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a YAML or JSON file; raise ConfigError with file, field, value and expectation."""
        p = Path(path)
        if not p.is_file():
            what = "is a directory" if p.is_dir() else "is not a regular file" if p.exists() else "file does not exist"
            raise ConfigError(f"{p}: {what}; expected a {cls.__name__} YAML or JSON file")
        try:
            if p.stat().st_size > MAX_DOCUMENT_BYTES:
                raise ConfigError(f"{p}: over the {MAX_DOCUMENT_BYTES}-byte bound of a {cls.__name__} file")
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not UTF-8 text; expected a {cls.__name__} YAML or JSON file") from None
        except OSError as exc:
            raise ConfigError(f"{p}: cannot be read ({exc.strerror})") from None
        return cls.from_dict(parse_yaml(text, str(p)), source=str(p))

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "<input>") -> Self:
        """Validate a parsed document; raise ConfigError naming the first bad field."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
        version = raw.get("schema_version", cls.SCHEMA_VERSION)
        if version != cls.SCHEMA_VERSION:
            raise ConfigError(
                f"{source}: field 'schema_version' is {version!r}; this spotplan reads version "
                f"{cls.SCHEMA_VERSION} of {cls.__name__}"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {first_error(exc)}") from None
        except RecursionError:
            raise ConfigError(f"{source}: nested too deeply to be a {cls.__name__} document") from None

    def dump(self, path: str | Path) -> None:
        """Write YAML (``.yaml``/``.yml``) or JSON, atomically enough for a config file."""
        p = Path(path)
        data = self.model_dump(mode="json")
        text = (
            yaml.safe_dump(data, sort_keys=False)
            if p.suffix in {".yaml", ".yml"}
            else json.dumps(data, indent=2) + "\n"
        )
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)


def first_error(exc: ValidationError) -> str:
    """Render pydantic's first error as "field 'a.b' = value: expectation"."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "<root>"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"field '{loc}' = {shown[:80]}: {err['msg']}"
