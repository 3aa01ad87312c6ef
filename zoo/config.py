"""Registry entries: TOML tables validated into frozen attrs values, with every plugin name resolved.

An entry is checked completely when it loads, before any data is read or any
training starts: unknown keys, wrong types, bad values and misspelt plugin names
all become one line naming the file and the key path: a :class:`ConfigError`, or an
:class:`UnknownNameError` (with its suggestions) for a name no plugin registered.
"""

import copy
import math
import sys
import tomllib
from typing import Any

import attrs

from zoo.averaging import AverageSpec
from zoo.catalog import Catalog, check_signature, unknown_key_message
from zoo.defaults import initialiser_name, option_defaults, unnamed
from zoo.early_stopping import EarlyStoppingSpec
from zoo.errors import ConfigError
from zoo.options import option_error
from zoo.schedule import MONITORED
from zoo.test_time import OFFSETS, TestTimeSpec

TOP_KEYS = (
    "description",
    "tags",
    "data",
    "layers",
    "loss",
    "optimizer",
    "batches",
    "schedule",
    "augment",
    "train",
    "test_time",
)
TRAIN_KEYS = ("epochs", "steps", "seed", "dtype", "log_every", "clip_norm", "early_stopping", "average")
EARLY_STOPPING_KEYS = ("monitor", "patience", "min_delta")
AVERAGE_KEYS = ("decay",)
TEST_TIME_KEYS = ("shifts",)
DTYPES = ("float32", "float64")
SPLITS = ("last", "random")
INIT_SUFFIX = "_init"
ALTERNATIVES = {"train.epochs": "steps", "train.steps": "epochs"}
"""Keys that replace each other: overriding one removes the other."""
LAYER_LR = "lr"
IMAGE_SHAPE, CLASSES = (1, 28, 28), 10
"""The shape of every built-in dataset, assumed where an entry is described without loading its data."""


@attrs.frozen
class PluginRef:
    """A reference to a registered plugin by ``type`` name, with its options (initialiser options resolved to refs)."""

    kind: str
    type: str
    options: dict[str, Any] = attrs.field(hash=False)
    where: str


@attrs.frozen
class LayerSpec:
    """A layer reference plus its own learning rate, if it has one."""

    ref: PluginRef
    lr: float | None = None


@attrs.frozen
class DataSpec:
    """Which dataset, and how many training samples to hold out for validation (the last ones, or a random draw)."""

    dataset: str = "mnist"
    validation: int = 0
    split: str = "last"


@attrs.frozen
class TrainSpec:
    """The budget (``epochs`` or ``steps``), seed, float type, how often to log, clipping, early stopping and
    weight averaging."""

    epochs: int | None = None
    steps: int | None = None
    seed: int = 0
    dtype: str = "float32"
    log_every: int | None = None
    clip_norm: float | None = None
    early_stopping: EarlyStoppingSpec | None = None
    average: AverageSpec | None = None


@attrs.frozen
class ModelEntry:
    """A validated registry entry. ``table`` is the TOML it came from (after overrides)."""

    name: str
    source: str
    description: str
    tags: tuple[str, ...]
    data: DataSpec
    layers: tuple[LayerSpec, ...]
    loss: PluginRef
    optimizer: PluginRef
    batches: PluginRef
    augment: tuple[PluginRef, ...]
    train: TrainSpec
    schedule: PluginRef | None = attrs.field(default=None, kw_only=True)
    """The learning-rate schedule, if the entry has one."""
    test_time: TestTimeSpec = attrs.field(factory=TestTimeSpec, kw_only=True)
    table: dict[str, Any] = attrs.field(eq=False, hash=False, repr=False)

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any], source: str, catalog: Catalog) -> "ModelEntry":
        """Validate ``table`` (one entry's TOML) against the catalog; raise ConfigError on the first problem."""
        check = _Checker(source, catalog)
        check.keys(table, TOP_KEYS, "")
        layers = check.array(table, "layers", "")
        if not layers:
            raise ConfigError(f"{source}: layers: an entry needs at least one layer")
        augment = check.array(table, "augment", "", required=False)
        entry = cls(
            name=name,
            source=source,
            description=check.value(table, "description", str, "", default=""),
            tags=tuple(check.strings(table, "tags", "")),
            data=check.data(check.table(table, "data", "", required=False)),
            layers=tuple(check.layer(layer, f"layers.{i}") for i, layer in enumerate(layers)),
            loss=check.ref(check.table(table, "loss", ""), "loss", "loss"),
            optimizer=check.ref(check.table(table, "optimizer", ""), "optimizer", "optimizer"),
            batches=check.ref(check.table(table, "batches", ""), "batches", "batches"),
            augment=tuple(check.ref(a, "augmenter", f"augment.{i}") for i, a in enumerate(augment)),
            schedule=check.ref(table["schedule"], "schedule", "schedule") if "schedule" in table else None,
            train=check.train(check.table(table, "train", "")),
            test_time=check.test_time(check.table(table, "test_time", "", required=False)),
            table=table,
        )
        _check_watched_metrics(entry, catalog)
        return entry

    @classmethod
    def from_toml(cls, name: str, text: str, source: str, catalog: Catalog) -> "ModelEntry":
        return cls.from_table(name, parse_toml(text, source), source, catalog)

    def with_overrides(self, overrides: list[str], catalog: Catalog) -> "ModelEntry":
        """A new entry with ``KEY.PATH=VALUE`` overrides applied to its table, validated again."""
        if not overrides:
            return self
        table = apply_overrides(self.table, overrides)
        return ModelEntry.from_table(self.name, table, f"{self.source} (with --set)", catalog)

    def seed_for(self, seed: int | None) -> int:
        """``seed``, or the entry's own ``train.seed`` when none is given."""
        return self.train.seed if seed is None else seed


def _check_watched_metrics(entry: ModelEntry, catalog: Catalog) -> None:
    """Early stopping, or a schedule, watching a validation metric needs a validation split: known before any data."""
    if entry.data.validation:
        return
    monitor = getattr(create(entry.schedule, catalog), "monitor", None) if entry.schedule else None
    if entry.train.early_stopping:
        where, monitor = "train.early_stopping", entry.train.early_stopping.monitor
    elif monitor is not None:
        where = "schedule"
    else:
        return
    raise ConfigError(
        f"{entry.source}: {where}: watches {monitor}, but the entry has no validation split (set data.validation)"
    )


def resolved(entry: ModelEntry, catalog: Catalog) -> dict[str, Any]:
    """The entry with every default filled in: what each plugin will actually be given, as TOML-like data.

    A default initialiser is shown as the table of the registered name that makes it (see
    :func:`zoo.defaults.initialiser_name`), or, if none does, as ``<module.name>``. Defaults
    TOML cannot write (``None``, objects) are left out.
    """

    def plugin(ref: PluginRef) -> dict[str, Any]:
        defaults = {}
        for key, value in option_defaults(catalog.get(ref.kind, ref.type).factory).items():
            if key in ref.options:
                defaults[key] = None  # holds the signature's place for the entry's own value, set below
            elif key.endswith(INIT_SUFFIX) and callable(value):
                named = initialiser_name(value, catalog)
                defaults[key] = unnamed(value) if named is None else plugin(PluginRef("initialiser", *named, ""))
            elif isinstance(value, (str, int, float, bool)):
                defaults[key] = value
        options = {k: plugin(v) if isinstance(v, PluginRef) else v for k, v in ref.options.items()}
        return {"type": ref.type, **defaults, **options}

    return {
        "description": entry.description,
        "tags": list(entry.tags),
        "data": attrs.asdict(entry.data),
        "layers": [{**plugin(spec.ref), **({"lr": spec.lr} if spec.lr else {})} for spec in entry.layers],
        "augment": [plugin(ref) for ref in entry.augment],
        **({"schedule": plugin(entry.schedule)} if entry.schedule else {}),
        "loss": plugin(entry.loss),
        "optimizer": plugin(entry.optimizer),
        "batches": plugin(entry.batches),
        "train": {k: v for k, v in attrs.asdict(entry.train).items() if v is not None},
        **({"test_time": attrs.asdict(entry.test_time)} if entry.test_time.shifts else {}),
    }


def create(ref: PluginRef, catalog: Catalog) -> Any:
    """Make the plugin object ``ref`` names, first making any initialisers among its options.

    An option the factory refuses (a validator's TypeError or ValueError, attrs' own among
    them) is a ConfigError at ``ref.where``, in one line: see :func:`zoo.options.option_error`.
    """
    options = {
        key: create(value, catalog) if key.endswith(INIT_SUFFIX) and isinstance(value, PluginRef) else value
        for key, value in ref.options.items()
    }
    record = catalog.get(ref.kind, ref.type, f"{ref.where}.type")
    check_signature(record.factory, options, ref.where, f"{ref.kind} {ref.type!r}")
    try:
        return record.factory(**options)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{ref.where}: {option_error(error)}") from None


def plugin_ref(kind: str, name: str, options: dict[str, Any], source: str, catalog: Catalog) -> PluginRef:
    """``name`` with ``options`` resolved and checked as an entry's ``{type = NAME, ...}`` table would be,
    errors naming ``source: options``."""
    return _Checker(source, catalog).ref({"type": name, **options}, kind, "options")


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: malformed TOML: {error}") from None


def apply_overrides(table: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.0.c=VALUE`` overrides to a copy of ``table``; VALUE is read as TOML, else as a string.

    Missing tables are created (``data.validation=1000`` on an entry without ``[data]``);
    whether a key is allowed is for validation to say, with suggestions.
    """
    table = copy.deepcopy(table)
    for override in overrides:
        path, sep, text = override.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"--set {override!r}: expected KEY.PATH=VALUE, e.g. train.epochs=3")
        keys = path.strip().split(".")
        parent: Any = table
        for depth, key in enumerate(keys[:-1]):
            parent = _step(parent, key, ".".join(keys[: depth + 1]), override)
        leaf = keys[-1]
        if isinstance(parent, list):
            _step(parent, leaf, path, override)
            parent[int(leaf)] = parse_value(text)
        elif isinstance(parent, dict):
            parent[leaf] = parse_value(text)
            if path.strip() in ALTERNATIVES:
                parent.pop(ALTERNATIVES[path.strip()], None)
        else:
            raise ConfigError(f"--set {override!r}: {'.'.join(keys[:-1])} is a value, not a table")
    return table


def _step(container: Any, key: str, where: str, override: str) -> Any:
    if isinstance(container, list):
        # isdigit alone accepts '²', which int() does not
        if not (key.isascii() and key.isdigit()) or int(key) >= len(container):
            raise ConfigError(f"--set {override!r}: {where}: no such index (there are {len(container)})")
        return container[int(key)]
    if isinstance(container, dict):
        child = container.setdefault(key, {})
        if key.endswith(INIT_SUFFIX) and isinstance(child, str):  # the shorthand NAME is the table {type = NAME}
            child = container[key] = {"type": child}
        return child
    raise ConfigError(f"--set {override!r}: {where} is a value, not a table")


def parse_value(text: str) -> Any:
    """``text`` as one TOML value, else as a string (so ``1\\nx = 2`` is a string, not 1 with x dropped)."""
    try:
        parsed = tomllib.loads(f"v = {text.strip()}")
    except tomllib.TOMLDecodeError:
        return text.strip()
    return parsed["v"] if parsed.keys() == {"v"} else text.strip()


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a table",
    list: "an array",
}


@attrs.define
class _Checker:
    """Reads values out of an entry table, raising one ConfigError line per problem."""

    source: str
    catalog: Catalog

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def keys(self, table: dict, accepted: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in accepted:
                raise ConfigError(unknown_key_message(f"{self.source}: {_join(where, key)}", key, accepted))

    def value(self, table: dict, key: str, kind: type, where: str, default: Any = None, required: bool = False):
        path = _join(where, key)
        if key not in table:
            if required:
                raise self.fail(path, f"missing; expected {_TYPE_NAMES[kind]}")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > sys.float_info.max:  # TOML integers have no size limit
                raise self.fail(path, f"expected a finite number, got {value!r}")
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(path, f"expected {_TYPE_NAMES[kind]}, got {value!r}")
        return value

    def table(self, table: dict, key: str, where: str, required: bool = True) -> dict:
        return self.value(table, key, dict, where, default={}, required=required)

    def array(self, table: dict, key: str, where: str, required: bool = True) -> list:
        items = self.value(table, key, list, where, default=[], required=required)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(f"{_join(where, key)}.{i}", f"expected a table, got {item!r}")
        return items

    def strings(self, table: dict, key: str, where: str) -> list[str]:
        items = self.value(table, key, list, where, default=[])
        if not all(isinstance(item, str) for item in items):
            raise self.fail(_join(where, key), f"expected an array of strings, got {items!r}")
        return items

    def positive(self, table: dict, key: str, where: str, kind: type = int, **kw):
        value = self.value(table, key, kind, where, **kw)
        if value is not None and (value <= 0 or (kind is float and not math.isfinite(value))):  # nan <= 0 is false
            what = "a finite number" if kind is float else "an integer"
            raise self.fail(_join(where, key), f"must be {what} > 0, got {value!r}")
        return value

    def non_negative(self, table: dict, key: str, where: str) -> int:
        value = self.value(table, key, int, where, default=0)
        if value < 0:
            raise self.fail(_join(where, key), f"must be >= 0, got {value}")
        return value

    def choice(self, table: dict, key: str, where: str, choices: tuple[str, ...], default: str) -> str:
        value = self.value(table, key, str, where, default=default)
        if value not in choices:
            raise self.fail(_join(where, key), f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def ref(self, table: dict, kind: str, where: str) -> PluginRef:
        """A ``{type = NAME, ...options}`` table (or a bare NAME string) resolved against the catalog."""
        if isinstance(table, str):
            table = {"type": table}
        if not isinstance(table, dict):
            raise self.fail(where, f"expected a table or a {kind} name, got {table!r}")
        name = self.value(table, "type", str, where, required=True)
        options = {key: value for key, value in table.items() if key != "type"}
        for key, value in options.items():
            if key.endswith(INIT_SUFFIX):
                if not isinstance(value, (str, dict)):
                    raise self.fail(_join(where, key), f"expected an initialiser name or table, got {value!r}")
                options[key] = self.ref(value, "initialiser", _join(where, key))
        ref = PluginRef(kind, name, options, f"{self.source}: {where}")
        create(ref, self.catalog)  # factories are cheap: making one checks every option's value
        return ref

    def layer(self, table: dict, where: str) -> LayerSpec:
        lr = self.positive(table, LAYER_LR, where, kind=float)
        ref = self.ref({k: v for k, v in table.items() if k != LAYER_LR}, "layer", where)
        return LayerSpec(ref, lr)

    def data(self, table: dict) -> DataSpec:
        self.keys(table, ("dataset", "validation", "split"), "data")
        dataset = self.value(table, "dataset", str, "data", default="mnist")
        self.catalog.get("dataset", dataset, f"{self.source}: data.dataset")
        validation = self.non_negative(table, "validation", "data")
        return DataSpec(dataset, validation, self.choice(table, "split", "data", SPLITS, "last"))

    def train(self, table: dict) -> TrainSpec:
        self.keys(table, TRAIN_KEYS, "train")
        epochs = self.positive(table, "epochs", "train")
        steps = self.positive(table, "steps", "train")
        if (epochs is None) == (steps is None):
            raise self.fail("train", "give exactly one of epochs or steps")
        stopping = self.table(table, "early_stopping", "train", required=False)
        average = self.table(table, "average", "train", required=False)
        return TrainSpec(
            epochs=epochs,
            steps=steps,
            seed=self.non_negative(table, "seed", "train"),
            dtype=self.choice(table, "dtype", "train", DTYPES, "float32"),
            log_every=self.positive(table, "log_every", "train"),
            clip_norm=self.positive(table, "clip_norm", "train", kind=float),
            early_stopping=self.early_stopping(stopping) if "early_stopping" in table else None,
            average=self.average(average) if "average" in table else None,
        )

    def average(self, table: dict) -> AverageSpec:
        where = "train.average"
        self.keys(table, AVERAGE_KEYS, where)
        decay = self.value(table, "decay", float, where, default=AverageSpec().decay)
        if not 0 < decay < 1:
            raise self.fail(f"{where}.decay", f"must be between 0 and 1 (exclusive), got {decay!r}")
        return AverageSpec(decay)

    def test_time(self, table: dict) -> TestTimeSpec:
        self.keys(table, TEST_TIME_KEYS, "test_time")
        shifts = self.value(table, "shifts", int, "test_time", default=0)
        if shifts != 0 and shifts not in OFFSETS:
            raise self.fail("test_time.shifts", f"expected 0, {' or '.join(map(str, OFFSETS))}, got {shifts!r}")
        return TestTimeSpec(shifts)

    def early_stopping(self, table: dict) -> EarlyStoppingSpec:
        where = "train.early_stopping"
        self.keys(table, EARLY_STOPPING_KEYS, where)
        defaults = EarlyStoppingSpec()
        min_delta = self.value(table, "min_delta", float, where, default=defaults.min_delta)
        if not (math.isfinite(min_delta) and min_delta >= 0):
            raise self.fail(f"{where}.min_delta", f"must be a finite number >= 0, got {min_delta!r}")
        return EarlyStoppingSpec(
            monitor=self.choice(table, "monitor", where, MONITORED, defaults.monitor),
            patience=self.positive(table, "patience", where, default=defaults.patience),
            min_delta=min_delta,
        )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
