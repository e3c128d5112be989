"""The lookup tables: CSV and YAML files, key normalisation, errors and reloading."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapter.errors import ConfigError
from adapter.lookups import LookupTables, ReporterEntry, normalize_key
from adapter.settings import LookupSettings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "lookups"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def tables(
    tmp_path: Path,
    reporters: str | None = None,
    objects: str | None = None,
    suffix: str = "csv",
    **kwargs: float,
) -> LookupTables:
    settings = LookupSettings(
        reporters=write(tmp_path / f"reporters.{suffix}", reporters) if reporters else None,
        objects=write(tmp_path / f"objects.{suffix}", objects) if objects else None,
    )
    return LookupTables(settings, **kwargs)


def test_normalize_key_folds_case_and_whitespace() -> None:
    """Keys compare case-folded, trimmed, with inner whitespace runs folded to one space."""
    assert normalize_key("  Lindenlaan\t 12 ") == "lindenlaan 12"
    assert normalize_key("STRASSE") == normalize_key("straße")


def test_csv_reporters_with_all_columns(tmp_path: Path) -> None:
    """Every reporter column is read; empty optional cells are None."""
    t = tables(
        tmp_path,
        reporters="key,reference,contact_person_reference,default_object,name\n"
        "p.janssen@example-tenant.nl,100003,,300001,Pieter\n"
        "board@delinden.example,100004,100005,,\n",
    )
    assert t.reporter("P.Janssen@Example-Tenant.nl ") == ReporterEntry(
        "100003", None, "300001", "Pieter"
    )
    assert t.reporter("board@delinden.example") == ReporterEntry("100004", "100005")
    assert t.reporter("nobody@example.com") is None


def test_csv_bom_comments_blank_lines_and_column_order(tmp_path: Path) -> None:
    """A UTF-8 BOM, # comment lines and blank lines are skipped; columns may come in any order."""
    path = tmp_path / "objects.csv"
    path.write_bytes(
        "\ufeff# objects by code\n\nname,reference,key\nLindenlaan 12,300001,LL12\n\n"
        '# more\n"Kerkstraat 5A, voor",300010,KS 5A\n'.encode()
    )
    t = LookupTables(LookupSettings(objects=path))
    assert t.object("ll12") == "300001"
    assert t.object("ks   5a") == "300010"


def test_yaml_mapping_and_rows(tmp_path: Path) -> None:
    """YAML: key -> reference, key -> fields, or rows with a key; scalars stay as written."""
    t = tables(
        tmp_path,
        reporters="Fatima.el.Amrani@example.com: 100002\n"
        "'712020:abc':\n  reference: '100003'\n  default_object: 0300001\n",
        objects="- key: LL12\n  reference: 300001\n  name: Lindenlaan 12\n"
        "- {key: no, reference: 300002}\n",
        suffix="yaml",
    )
    assert t.reporter("fatima.el.amrani@example.com") == ReporterEntry("100002")
    assert t.reporter("712020:ABC") == ReporterEntry("100003", default_object="0300001")
    assert t.object("LL12") == "300001"
    assert t.object("NO") == "300002"


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    """Two keys equal after normalisation are refused naming both lines; 'll 12' is distinct."""
    with pytest.raises(ConfigError) as caught:
        tables(tmp_path, objects="key,reference\nLL12,300001\n# x\nll 12 ,300002\n ll12,300003\n")
    assert caught.value.errors == {
        "lookups.objects": [
            "objects.csv line 5: key 'll12' is already on line 2 (keys are compared ignoring"
            " case and spacing)"
        ]
    }


def test_yaml_duplicate_and_empty_reference(tmp_path: Path) -> None:
    """YAML rows are checked like CSV rows: duplicates and empty references name their line."""
    with pytest.raises(ConfigError) as caught:
        tables(
            tmp_path,
            reporters="a@example.com: '100001'\nA@example.com: '100002'\nb: ''\n",
            suffix="yml",
        )
    assert caught.value.errors is not None
    messages = caught.value.errors["lookups.reporters"]
    assert "reporters.yml line 2: key 'A@example.com' is already on line 1" in messages[0]
    assert messages[1] == "reporters.yml line 3: empty reference for key 'b'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "key,ref\na,1\n",
            "objects.csv line 1: unknown column(s) ref; allowed: key, reference, name",
        ),
        ("key,reference\n,300001\n", "objects.csv line 2: empty key"),
        ("key,reference\nLL12,\n", "objects.csv line 2: empty reference for key 'LL12'"),
        ("key,reference\nLL12,1,x,y\n", "objects.csv line 2: 4 values, the header has 2 columns"),
        ("# only a comment\n", "objects.csv: no header row (key, reference, name)"),
        ("name,reference\nx,1\n", "objects.csv line 1: the header needs a key column"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    """Each kind of bad CSV is refused with a message naming the file and line."""
    with pytest.raises(ConfigError) as caught:
        tables(tmp_path, objects=text)
    assert caught.value.errors is not None
    assert caught.value.errors["lookups.objects"][0] == message


def test_bad_files_are_refused(tmp_path: Path) -> None:
    """A file that is missing, not UTF-8, of another type, or not valid YAML is a ConfigError."""
    cases = {
        "missing.csv": None,
        "latin1.csv": "key,reference\ncafé,1\n".encode("latin-1"),
        "table.txt": b"key,reference\n",
        "broken.yaml": b"a: [1\n",
        "scalar.yaml": b"just text\n",
    }
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(ConfigError) as caught:
            LookupTables(LookupSettings(objects=path))
        assert caught.value.errors is not None, name
        assert list(caught.value.errors) == ["lookups.objects"], name


def test_no_files_means_empty_tables() -> None:
    """Without configured files every lookup misses."""
    t = LookupTables(LookupSettings())
    assert t.reporter("x") is None
    assert t.object("x") is None


def test_reload_if_changed_picks_up_a_new_file(tmp_path: Path) -> None:
    """A changed file is re-read; the version changes with the content."""
    t = tables(tmp_path, objects="key,reference\nLL12,300001\n", check_interval=0)
    before = t.version
    assert t.reload_if_changed() is False
    write(tmp_path / "objects.csv", "key,reference\nLL12,300001\nLL14,300002\n")
    assert t.reload_if_changed() is True
    assert t.object("LL14") == "300002"
    assert t.version != before


def test_reload_is_throttled(tmp_path: Path) -> None:
    """Files are stat()ed at most once per check_interval."""
    now = [100.0]
    t = tables(tmp_path, objects="key,reference\nLL12,300001\n", clock=lambda: now[0])
    write(tmp_path / "objects.csv", "key,reference\nLL12,300009\n")
    now[0] += 0.5
    assert t.reload_if_changed() is False
    assert t.object("LL12") == "300001"
    now[0] += 0.6
    assert t.reload_if_changed() is True
    assert t.object("LL12") == "300009"


def test_bad_new_file_keeps_the_old_tables(tmp_path: Path) -> None:
    """A broken edit is logged once and the tables in use stay; the next good edit is taken."""
    t = tables(tmp_path, objects="key,reference\nLL12,300001\n", check_interval=0)
    version = t.version
    write(tmp_path / "objects.csv", "key,reference\nLL12,\n")
    with capture_logs() as logs:
        assert t.reload_if_changed() is False
        assert t.reload_if_changed() is False
    assert [e["event"] for e in logs] == ["lookups.reload_failed"]
    assert logs[0]["log_level"] == "error"
    assert logs[0]["version_kept"] == version
    assert t.object("LL12") == "300001"
    assert t.version == version
    write(tmp_path / "objects.csv", "key,reference\nLL12,300002\n")
    assert t.reload_if_changed() is True
    assert t.object("LL12") == "300002"


def test_forced_reload_raises_and_keeps_tables(tmp_path: Path) -> None:
    """reload() raises ConfigError on a bad file and keeps the tables in use."""
    t = tables(tmp_path, objects="key,reference\nLL12,300001\n")
    write(tmp_path / "objects.csv", "key,reference\nLL12,300001\nll12,300002\n")
    with pytest.raises(ConfigError):
        t.reload()
    assert t.object("LL12") == "300001"
    write(tmp_path / "objects.csv", "key,reference\nLL12,300003\n")
    t.reload()
    assert t.object("LL12") == "300003"


def test_removed_file_keeps_the_old_tables(tmp_path: Path) -> None:
    """A file that disappears (a ConfigMap being swapped) does not empty the tables."""
    t = tables(tmp_path, objects="key,reference\nLL12,300001\n", check_interval=0)
    (tmp_path / "objects.csv").unlink()
    with capture_logs():
        assert t.reload_if_changed() is False
    assert t.object("LL12") == "300001"


def test_example_tables_load() -> None:
    """The shipped example tables (CSV and YAML) load and agree with each other."""
    csv_tables = LookupTables(
        LookupSettings(reporters=EXAMPLES / "reporters.csv", objects=EXAMPLES / "objects.csv")
    )
    yaml_tables = LookupTables(
        LookupSettings(reporters=EXAMPLES / "reporters.yaml", objects=EXAMPLES / "objects.yaml")
    )
    assert csv_tables.object("LL12") == yaml_tables.object("ll12") == "300001"
    sanne = "712020:5b7c1f9e-3a41-4c8e-9d2b-0f6a8e4c1d77"
    assert csv_tables.reporter(sanne) == yaml_tables.reporter(sanne)
    assert csv_tables.reporter(sanne) is not None
