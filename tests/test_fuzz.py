"""Fuzzing with hypothesis, bounded and derandomized so CI repeats the same examples.

Random registry entries and ``--set`` overrides give an entry or one ZooError line, never another exception;
random damage to model files and gzip'd IDX files is detected or harmless; the IDX parser never reads past its
buffer nor allocates what a random header claims.
"""

import copy
import datetime
import gzip
import hashlib
import inspect
import itertools
import json
import math
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_config import MINIMAL
from test_data import idx_bytes
from test_faults_config import assert_one_line
from test_faults_modelfile import damaged_copy, refused_or_intact, save_tiny

from zoo.config import TOP_KEYS, ModelEntry, parse_toml, resolved
from zoo.data import read_idx
from zoo.entries import load_entry
from zoo.errors import DataError, ZooError
from zoo.loading import default_catalog
from zoo.network import build_network

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)
CATALOG = default_catalog()
RECORDS = [record for record in CATALOG.records() if record.kind != "model"]
PLUGIN_NAMES = sorted({record.name for record in RECORDS})
KEYS = sorted(
    set(TOP_KEYS)
    | {"epochs", "steps", "seed", "dtype", "log_every", "dataset", "validation", "split", "type"}
    | {name for record in RECORDS for name in inspect.signature(record.factory).parameters}
)
ENTRIES = {name: CATALOG.get("model", name).factory()[0] for name in CATALOG.names("model")}
TABLES = ENTRIES | {"minimal": parse_toml(MINIMAL, "t.toml")}


def typo(word: str) -> st.SearchStrategy[str]:
    """``word`` with one character dropped or replaced, or one inserted."""
    return st.tuples(st.integers(0, len(word)), st.sampled_from("dri"), st.characters(codec="utf-8")).map(
        lambda t: word[: t[0]] + {"d": "", "r": t[2], "i": t[2] + word[t[0] : t[0] + 1]}[t[1]] + word[t[0] + 1 :]
    )


names = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).flatmap(typo), st.text(max_size=8))
plugin_names = st.one_of(st.sampled_from(PLUGIN_NAMES), st.sampled_from(PLUGIN_NAMES).flatmap(typo))
scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(-3, 1000),
    st.floats(),
    st.text(max_size=8),
    plugin_names,
    st.none(),  # not TOML, but model files store entries as JSON, which has null
    st.dates(),
    st.datetimes(),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=6
)


def spots(node):
    """Every ``(container, key)`` in a nested table, depth first."""
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        yield node, key
        if isinstance(value, (dict, list)):
            yield from spots(value)


def mutate(table: dict, data) -> dict:
    """A copy of ``table`` with 1 to 4 changes: keys dropped, added or renamed; values or plugin names replaced;
    numbers nudged."""
    table = copy.deepcopy(table)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        found = list(spots(table))
        op = data.draw(st.sampled_from(["drop", "add", "rename", "replace", "plugin", "nudge"]), label="op")
        if op == "add":
            containers = [table] + [c[k] for c, k in found if isinstance(c[k], dict)]
            data.draw(st.sampled_from(containers), label="where")[data.draw(names, label="key")] = data.draw(values)
            continue
        if op == "plugin":
            found = [(c, k) for c, k in found if k == "type" or str(k).endswith("_init")] or found
        container, key = data.draw(st.sampled_from(found), label="spot")
        if op == "drop":
            del container[key]
        elif op == "rename" and isinstance(container, dict):
            container[data.draw(names, label="new name")] = container.pop(key)
        elif op == "nudge":  # a plausible number of the same type, so more mutants stay valid and get built
            number = st.integers(1, 300) if type(container[key]) is int else st.floats(0, 1, exclude_max=True)
            container[key] = data.draw(number, label="number")
        else:
            container[key] = data.draw(plugin_names if op == "plugin" else values, label="value")
    return table


def check_valid_entry(entry: ModelEntry) -> None:
    """A valid entry can be described, stored as JSON (as model files do) and, when small, built."""
    event("valid entry")
    json.dumps(entry.table)
    resolved(entry, CATALOG)
    if all(spec.ref.options.get("units", 0) <= 256 for spec in entry.layers):
        try:
            build_network(entry, CATALOG, (8,), 10, np.random.SeedSequence(0))
        except ZooError as error:
            assert_one_line(error)


@FUZZ
@given(base=st.sampled_from(sorted(TABLES)), data=st.data())
def test_random_entries_load_or_fail_with_one_line(base, data):
    table = mutate(TABLES[base], data)
    try:
        entry = ModelEntry.from_table("fuzz", table, "fuzz.toml", CATALOG)
    except ZooError as error:
        event(f"refused: {type(error).__name__}")
        assert_one_line(error)
    else:
        check_valid_entry(entry)


def toml_value(value) -> str:
    """``value`` written as a TOML value (None, which TOML lacks, as an empty string)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}[str(value)]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value if value is not None else "")


def key_paths(node, prefix: str = ""):
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        yield f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            yield from key_paths(value, f"{prefix}{key}.")


PATHS = sorted({path for table in ENTRIES.values() for path in key_paths(table)})
odd_segments = st.sampled_from(["", " ", "-1", "99", "²", "٣", "0x1", "epochs", "type", "units"])
paths = st.one_of(
    st.sampled_from(PATHS),
    st.sampled_from(PATHS).flatmap(typo),
    st.builds(lambda path, extra: f"{path}.{extra}", st.sampled_from(PATHS), odd_segments | names),
    st.builds(lambda path, extra: path.rsplit(".", 1)[0] + "." + extra, st.sampled_from(PATHS), odd_segments),
)
value_texts = st.one_of(
    values.map(toml_value),
    st.text(max_size=12),
    st.sampled_from(["", "nan", "-inf", "1e400", "1" + "0" * 400, "1\nx = 2", "[1,", '"unclosed', "a=b", "true"]),
)
overrides = st.lists(st.builds(lambda p, v: f"{p}={v}", paths, value_texts) | st.text(max_size=16), max_size=3)


@FUZZ
@given(name=st.sampled_from(sorted(ENTRIES)), overrides=overrides)
def test_random_overrides_give_an_entry_or_one_line(name, overrides):
    try:
        entry = load_entry(name, CATALOG, overrides)
    except ZooError as error:
        event(f"refused: {type(error).__name__}")
        assert_one_line(error)
    else:
        check_valid_entry(entry)


damage = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.floats(0, 1), st.just(0)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.integers(0, 255)),
        st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.just(0)),
    ),
    min_size=1,
    max_size=4,
)


def damaged(content: bytes, ops) -> bytes:
    """``content`` after each ``(op, where, byte)``: flip (xor ``byte``), cut there, insert ``byte``, delete one."""
    content = bytearray(content)
    for op, where, byte in ops:
        i = int(where * len(content))  # where < 1 for flip and delete, so i is a byte's index
        if op == "cut":
            del content[i:]
        elif op == "insert":
            content.insert(i, byte)
        elif content and op == "flip":
            content[i] ^= byte
        elif content:
            del content[i]
    return bytes(content)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, catalog):
    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny.npz", catalog)


@FUZZ
@given(ops=damage)
def test_random_damage_to_a_model_file_is_detected_or_harmless(tmp_path_factory, tiny, catalog, ops):
    path = damaged_copy(tmp_path_factory.getbasetemp(), damaged(tiny.content, ops))
    event("refused" if refused_or_intact(path, catalog, tiny) else "loaded intact")
    path.unlink()


IMAGES = np.random.default_rng(0).integers(0, 256, (40, 6, 6), dtype=np.uint8)
RAW = idx_bytes(IMAGES)
GZ = gzip.compress(RAW, mtime=0)
SHA256 = hashlib.sha256(RAW).hexdigest()
_names = itertools.count()


def parse(path):
    """``read_idx(path)``'s array or DataError, and the peak of memory traced while it ran; ``path`` is removed."""
    tracemalloc.start()
    try:
        result = read_idx(path)
    except DataError as error:
        result = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    path.unlink()
    if isinstance(result, DataError):
        assert str(path) in assert_one_line(result)
    return result, peak


@FUZZ
@given(gz=st.booleans(), verify=st.booleans(), ops=damage)
def test_random_damage_to_an_idx_file(tmp_path_factory, gz, verify, ops):
    """With its checksum (which zoo's loader always checks), or gzip'd (gzip has a CRC-32), damage is detected
    or harmless; a raw file read without a checksum is refused or gives exactly the bytes its header describes."""
    content = damaged(GZ if gz else RAW, ops)
    path = tmp_path_factory.getbasetemp() / f"images-{next(_names)}{'.gz' if gz else ''}"
    path.write_bytes(content)
    try:
        array = read_idx(path, SHA256 if verify else None)
    except DataError as error:
        assert str(path) in assert_one_line(error)
        event("refused")
        return
    finally:
        path.unlink()
    event("loaded")
    if gz or verify:
        assert np.array_equal(array, IMAGES)
    else:
        assert_holds_its_bytes(array, content)


def assert_holds_its_bytes(array: np.ndarray, content: bytes) -> None:
    """``array`` is what the IDX bytes ``content`` say: the shape in its header, then every byte after it."""
    header = 4 + 4 * array.ndim
    assert content[:4] == bytes([0, 0, 8, array.ndim])
    assert array.shape == struct.unpack(f">{array.ndim}I", content[4:header])
    assert array.tobytes() == content[header:]


dims = st.lists(st.integers(0, 5) | st.integers(0, 2**32 - 1), max_size=5)


@FUZZ
@given(
    type_code=st.sampled_from([0x08, 0x08, 0x08, 0x09, 0x0D]),
    shape=dims,
    ndim=st.none() | st.integers(0, 255),
    payload=st.none() | st.integers(0, 200),
    cut=st.none() | st.integers(0, 40),
)
def test_random_idx_headers_never_read_past_the_buffer(tmp_path_factory, type_code, shape, ndim, payload, cut):
    """Dimensions (each up to 2^32 - 1) are checked against the bytes there before numpy sees them.

    ``payload`` None gives the bytes the header claims (when that is small); ``ndim`` None the real number
    of dimensions; ``cut`` chops the file there.
    """
    claimed = math.prod(shape)
    body = bytes(claimed if payload is None and claimed <= 4096 else payload or 0)
    header = bytes([0, 0, type_code, len(shape) if ndim is None else ndim]) + struct.pack(f">{len(shape)}I", *shape)
    content = (header + body)[:cut]
    path = tmp_path_factory.getbasetemp() / f"header-{next(_names)}"
    path.write_bytes(content)
    result, peak = parse(path)
    assert peak < 100_000 + 2 * len(content)
    if not isinstance(result, DataError):
        assert_holds_its_bytes(result, content)
