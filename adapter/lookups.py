"""The lookup tables: what a source knows (an accountId, a sender address, an object code)
-> the Bloxs reference it stands for.

Two files, CSV or YAML, usually a Kubernetes ConfigMap: `reporters` (-> a relation and
optionally its contact person and a default object) and `objects` (-> a real estate object).
Keys match case- and whitespace-insensitively. The files are re-read when they change;
a broken new version is logged and the tables in use stay as they were, so a typo in a
ConfigMap never stops the dispatcher.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

from adapter.errors import ConfigError
from adapter.settings import LookupSettings

log = structlog.get_logger()

REPORTER_COLUMNS = ("key", "reference", "contact_person_reference", "default_object", "name")
OBJECT_COLUMNS = ("key", "reference", "name")


def normalize_key(key: str) -> str:
    """The form keys are compared in: case-folded, trimmed, inner whitespace runs -> one space."""
    return " ".join(key.casefold().split())


@dataclass(frozen=True)
class ReporterEntry:
    reference: str
    contact_person_reference: str | None = None
    default_object: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class _Tables:
    reporters: dict[str, ReporterEntry]
    objects: dict[str, str]
    version: str


# (st_mtime_ns, st_size, st_ino) per file, None for a file that is not there.
_Stamp = tuple[tuple[int, int, int] | None, ...]


class LookupTables:
    """Both tables, loaded on construction (ConfigError on a bad file).

    `reload_if_changed` is cheap enough to call before every lookup: it stats the files at
    most once per `check_interval` seconds and re-reads only when one changed.
    """

    def __init__(
        self,
        settings: LookupSettings,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._check_interval = check_interval
        self._clock = clock
        self._stamp = self._stat()
        self._tables = self._load()
        self._checked_at = clock()

    @property
    def version(self) -> str:
        return self._tables.version

    def reporter(self, key: str) -> ReporterEntry | None:
        return self._tables.reporters.get(normalize_key(key))

    def object(self, key: str) -> str | None:
        """The Bloxs real estate object reference for `key`."""
        return self._tables.objects.get(normalize_key(key))

    def reload(self) -> None:
        """Re-read both files now; ConfigError (and the old tables kept) on a bad file."""
        stamp = self._stat()
        tables = self._load()
        self._stamp, self._tables = stamp, tables

    def reload_if_changed(self) -> bool:
        """True when the tables were re-read and their content differs."""
        now = self._clock()
        if now - self._checked_at < self._check_interval:
            return False
        self._checked_at = now
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        # Remember the new stamp even when the file is bad: the error is logged once per
        # change, not once per second, and the next edit is picked up again.
        self._stamp = stamp
        try:
            tables = self._load()
        except ConfigError as exc:
            log.error(
                "lookups.reload_failed",
                detail=exc.detail,
                errors=exc.errors,
                version_kept=self._tables.version,
            )
            return False
        changed = tables.version != self._tables.version
        self._tables = tables
        if changed:
            log.info("lookups.reloaded", version=tables.version)
        return changed

    def _paths(self) -> tuple[Path | None, Path | None]:
        return self._settings.reporters, self._settings.objects

    def _stat(self) -> _Stamp:
        stamps: list[tuple[int, int, int] | None] = []
        for path in self._paths():
            try:
                st = path.stat() if path is not None else None
            except OSError:
                st = None
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino) if st else None)
        return tuple(stamps)

    def _load(self) -> _Tables:
        digest = hashlib.sha256()
        errors: dict[str, list[str]] = {}
        reporters: dict[str, ReporterEntry] = {}
        objects: dict[str, str] = {}
        for table, path in zip(("reporters", "objects"), self._paths(), strict=True):
            if path is None:
                continue
            where = f"lookups.{table}"
            columns = REPORTER_COLUMNS if table == "reporters" else OBJECT_COLUMNS
            try:
                data = path.read_bytes()
            except OSError as exc:
                errors[where] = [f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"]
                continue
            digest.update(f"{table}\0{len(data)}\0".encode())
            digest.update(data)
            problems: list[str] = []
            rows = _parse(path, data, columns, problems)
            entries = _index(path, rows, problems)
            if problems:
                errors[where] = problems
            elif table == "reporters":
                reporters = {
                    k: ReporterEntry(**_fields(row, columns)) for k, row in entries.items()
                }
            else:
                objects = {k: str(row["reference"]) for k, row in entries.items()}
        if errors:
            count = sum(len(messages) for messages in errors.values())
            raise ConfigError(f"Lookup tables: {count} problem(s).", errors=errors)
        return _Tables(reporters, objects, digest.hexdigest()[:12])


# A row as parsed: its line number and its column values (None for empty).
_Row = tuple[int, dict[str, str | None]]


def _fields(row: dict[str, str | None], columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns if c != "key"}


def _index(path: Path, rows: list[_Row], problems: list[str]) -> dict[str, dict[str, str | None]]:
    entries: dict[str, dict[str, str | None]] = {}
    lines: dict[str, int] = {}
    for line, row in rows:
        key = normalize_key(row.get("key") or "")
        if not key:
            problems.append(f"{path.name} line {line}: empty key")
            continue
        if not row.get("reference"):
            problems.append(f"{path.name} line {line}: empty reference for key {row['key']!r}")
            continue
        if key in lines:
            problems.append(
                f"{path.name} line {line}: key {row['key']!r} is already on line {lines[key]}"
                " (keys are compared ignoring case and spacing)"
            )
            continue
        lines[key] = line
        entries[key] = row
    return entries


def _parse(path: Path, data: bytes, columns: tuple[str, ...], problems: list[str]) -> list[_Row]:
    try:
        # utf-8-sig: Excel and Windows editors start a UTF-8 CSV with a byte order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{path.name}: not UTF-8 (byte {exc.start})")
        return []
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _parse_csv(path, text, columns, problems)
    if suffix in (".yaml", ".yml", ".json"):
        return _parse_yaml(path, text, columns, problems)
    problems.append(f"{path.name}: unsupported file type {suffix!r}; use .csv, .yaml or .yml")
    return []


def _parse_csv(path: Path, text: str, columns: tuple[str, ...], problems: list[str]) -> list[_Row]:
    kept: list[int] = []

    def content_lines() -> Iterator[str]:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                kept.append(number)
                yield line

    reader = csv.reader(content_lines())
    header: list[str] | None = None
    rows: list[_Row] = []
    try:
        for values in reader:
            line = kept[reader.line_num - 1]
            if header is None:
                header = [v.strip().lower() for v in values]
                if not _check_header(path, line, header, columns, problems):
                    return []
                continue
            if len(values) > len(header):
                problems.append(
                    f"{path.name} line {line}: {len(values)} values, the header has "
                    f"{len(header)} columns"
                )
                continue
            row = {c: (v.strip() or None) for c, v in zip(header, values, strict=False)}
            rows.append((line, row))
    except csv.Error as exc:
        problems.append(f"{path.name} line {kept[reader.line_num - 1]}: {exc}")
    if header is None:
        problems.append(f"{path.name}: no header row ({', '.join(columns)})")
    return rows


def _check_header(
    path: Path, line: int, header: list[str], columns: tuple[str, ...], problems: list[str]
) -> bool:
    allowed = ", ".join(columns)
    unknown = [c for c in header if c not in columns]
    if unknown:
        problems.append(
            f"{path.name} line {line}: unknown column(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        problems.append(f"{path.name} line {line}: column(s) {', '.join(twice)} appear twice")
    for required in ("key", "reference"):
        if required not in header:
            problems.append(f"{path.name} line {line}: the header needs a {required} column")
    return not (unknown or twice) and "key" in header and "reference" in header


def _parse_yaml(path: Path, text: str, columns: tuple[str, ...], problems: list[str]) -> list[_Row]:
    # Composed, not loaded: the nodes carry line numbers for messages, and every scalar is
    # kept as written (a reference 0012 stays "0012", a key `no` stays "no").
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}" if mark else ""
        problems.append(f"{path.name}{where}: not valid YAML ({exc.problem})")
        return []
    if root is None:
        return []
    rows: list[_Row] = []
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            line = key_node.start_mark.line + 1
            key = _scalar(key_node)
            if isinstance(value_node, yaml.MappingNode):
                row = _row(path, value_node, columns, problems, with_key=False)
            else:
                row = {"reference": _scalar(value_node)}
            if row is not None:
                rows.append((line, {**row, "key": key}))
    elif isinstance(root, yaml.SequenceNode):
        for item in root.value:
            line = item.start_mark.line + 1
            if not isinstance(item, yaml.MappingNode):
                problems.append(f"{path.name} line {line}: a row must be a mapping with a key")
                continue
            row = _row(path, item, columns, problems, with_key=True)
            if row is not None:
                rows.append((line, row))
    else:
        problems.append(f"{path.name}: must be a mapping (key: reference) or a list of rows")
    return rows


def _row(
    path: Path,
    node: yaml.MappingNode,
    columns: tuple[str, ...],
    problems: list[str],
    *,
    with_key: bool,
) -> dict[str, str | None] | None:
    allowed = columns if with_key else columns[1:]
    row: dict[str, str | None] = {}
    ok = True
    for key_node, value_node in node.value:
        name = _scalar(key_node) or ""
        line = key_node.start_mark.line + 1
        if name not in allowed:
            problems.append(
                f"{path.name} line {line}: unknown field {name!r}; allowed: {', '.join(allowed)}"
            )
            ok = False
        elif not isinstance(value_node, yaml.ScalarNode):
            problems.append(f"{path.name} line {line}: {name} must be a single value")
            ok = False
        else:
            row[name] = _scalar(value_node)
    return row if ok else None


def _scalar(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
        return None
    value = str(node.value).strip()
    return value or None
