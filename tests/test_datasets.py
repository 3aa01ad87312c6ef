"""Datasets as plugins: metadata known before loading, what a plugin returns checked, building on the built-in
loaders, check_dataset in the kit, compare refusing mixed data, and --data-dir meaning "look only there"."""

import json
import re
import textwrap

import attrs
import numpy as np
import pytest
from conftest import DATA
from test_faults_config import assert_one_line
from typer.testing import CliRunner
from zoo_builtins.datasets import FASHION_CLASSES, MNIST

import zoo
import zoo.testing
from zoo import data
from zoo.catalog import KINDS
from zoo.cli import app
from zoo.data import DatasetNotFound, ImageData
from zoo.datasets import Dataset, DatasetInfo, dataset_info, load_dataset
from zoo.entries import load_entry
from zoo.errors import ConfigError, DataError
from zoo.loading import build_catalog, default_catalog, load_plugins
from zoo.testing import ConformanceError
from zoo.testing.dispatch import CHECKS, WITHOUT_OPTIONS
from zoo.training import load_data

runner = CliRunner()
CLASSES = ("a", "b", "c")
needs_mnist = pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason=f"real MNIST not found under {DATA}")


def toy(n_train=6, n_test=4, shape=(5, 5), seed=0, **changes) -> ImageData:
    """A small valid image set in memory; ``changes`` replace its fields."""
    rng = np.random.default_rng(seed)
    arrays = ImageData(
        train_images=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        train_labels=rng.integers(0, len(CLASSES), n_train, dtype=np.uint8),
        test_images=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        test_labels=rng.integers(0, len(CLASSES), n_test, dtype=np.uint8),
        classes=CLASSES,
    )
    return attrs.evolve(arrays, **changes)


class Plugin:
    """A dataset plugin registering ``name``: a Dataset declaring ``declared``, or (``declared`` None) a plain
    contract-1 function; either loads ``loader(data_dir)``."""

    def __init__(self, loader, declared: DatasetInfo | None = DatasetInfo((1, 5, 5), CLASSES), name="my-set"):
        self.loader, self.declared, self.name = loader, declared, name

    @zoo.hookimpl
    def register_datasets(self, register):
        def factory(data_dir=None):
            return self.loader(data_dir)

        register(self.name, factory if self.declared is None else Dataset(*attrs.astuple(self.declared), factory))


def catalog_of(*plugins):
    """A catalog of only ``plugins``: fast, and nothing installed gets in the way."""
    return build_catalog(load_plugins(plugins, entry_points=False))


PLUGIN = f"{__name__}.Plugin"


# =============================================================================================
# metadata without pixels


def test_the_built_in_datasets_declare_their_shape_and_classes_without_reading_a_pixel(catalog, monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("read a file")

    monkeypatch.setattr(data, "read_idx", no_reading)
    assert dataset_info(catalog, "mnist") == DatasetInfo((1, 28, 28), tuple("0123456789"))
    assert dataset_info(catalog, "fashion-mnist") == DatasetInfo((1, 28, 28), FASHION_CLASSES)
    with pytest.raises(DataError, match="AssertionError: read a file"):  # loading, by contrast, does read
        load_dataset(catalog, "mnist", DATA)


def test_a_contract_1_dataset_declares_nothing_and_still_loads():
    catalog = catalog_of(Plugin(lambda data_dir: toy(), declared=None))
    assert dataset_info(catalog, "my-set") is None
    loaded = load_dataset(catalog, "my-set")
    assert loaded.train_images.shape == (6, 5, 5) and loaded.classes == CLASSES


@needs_mnist
def test_loading_mnist_is_checked_and_the_old_factory_call_still_works(catalog, mnist):
    loaded = load_dataset(catalog, "mnist", DATA)
    assert loaded.train_images.shape == (60000, 28, 28) and loaded.test_labels.shape == (10000,)
    assert np.array_equal(loaded.test_labels, mnist.test_labels)  # mnist: catalog.get(...).factory(data_dir=...)
    assert isinstance(catalog.get("dataset", "mnist").factory, Dataset)


@pytest.mark.parametrize(
    "shape, classes, loader, error",
    [
        ((28, 28), CLASSES, toy, "three positive integers, not (28, 28)"),
        ((1, 0, 28), CLASSES, toy, "three positive integers"),
        ((1, 28.0, 28), CLASSES, toy, "three positive integers"),
        ((1, 28, 28), (), toy, "one or more names"),
        ((1, 28, 28), (0, 1), toy, "one or more names"),
        ((1, 28, 28), CLASSES, "not callable", "must be callable"),
    ],
)
def test_a_dataset_declaring_nonsense_is_refused_when_made(shape, classes, loader, error):
    with pytest.raises((TypeError, ValueError), match=re.escape(error)):
        Dataset(shape, classes, loader)


def test_a_dataset_plugin_declaring_nonsense_is_a_failed_plugin_not_a_crash():
    class Bad:
        @zoo.hookimpl
        def register_datasets(self, register):
            register("bad", Dataset((28, 28), CLASSES, toy))

    catalog = catalog_of(Bad())
    assert "bad" not in catalog.names("dataset")
    assert "register_datasets raised ValueError: a dataset's shape is (channels, height, width)" in " ".join(
        f.reason for f in catalog.failures
    )


# =============================================================================================
# what a plugin returns is checked


FLOATS = toy().train_images.astype(np.float32) / 255
BROKEN = {
    "floats in [0, 1]": (
        toy(train_images=FLOATS),
        "train_images are float32; datasets return uint8 images (0-255): "
        "multiply by 255 and convert, zoo scales them itself",
    ),
    "int64 images": (
        toy(test_images=toy().test_images.astype(np.int64)),
        "test_images are int64; datasets return uint8",
    ),
    "a dict": ({"train_images": toy().train_images}, "returned dict, not a zoo.data.ImageData"),
    "a list of images": (toy(train_images=toy().train_images.tolist()), "train_images is a list, not a numpy array"),
    "flat images": (
        toy(train_images=toy().train_images.reshape(6, 25)),
        "train_images have shape (6, 25); datasets return images (N, H, W) or (N, C, H, W)",
    ),
    "2-D labels": (toy(train_labels=toy().train_labels[:, None]), "train_labels have shape (6, 1)"),
    "float labels": (toy(test_labels=toy().test_labels.astype(float)), "test_labels are float64; labels are integer"),
    "label = number of classes": (
        toy(train_labels=np.full(6, 3, np.uint8)),
        "train_labels hold 3, outside the 3 classes (0 to 2)",
    ),
    "negative label": (toy(test_labels=np.array([0, 1, -1, 2], np.int8)), "test_labels hold -1, outside the 3"),
    "counts differ": (toy(train_labels=np.zeros(5, np.uint8)), "6 train_images but 5 train_labels"),
    "empty test set": (toy(n_test=0), "test_images are empty"),
    "train and test disagree": (
        toy(test_images=np.zeros((4, 5, 6), np.uint8)),
        "train images are (1, 5, 5) per sample but test images (1, 5, 6)",
    ),
    "not the declared shape": (
        toy(shape=(3, 5, 5)),
        "images are (3, 5, 5) per sample (channels first), but the dataset declares (1, 5, 5)",
    ),
    "not the declared classes": (toy(classes=("x", "y", "z")), "classes are ('x', 'y', 'z'), but the dataset declares"),
    "classes not names": (toy(classes=None), "classes are None: one or more class names"),
}


@pytest.mark.parametrize("returned, problem", BROKEN.values(), ids=BROKEN.keys())
def test_what_a_dataset_returns_is_checked_in_one_line_naming_the_plugin(returned, problem):
    catalog = catalog_of(Plugin(lambda data_dir: returned))
    with pytest.raises(DataError) as caught:
        load_dataset(catalog, "my-set")
    assert assert_one_line(caught.value).startswith(f"dataset 'my-set' (plugin {PLUGIN!r}): {problem}")
    with pytest.raises(ConformanceError, match="fails the dataset contract: " + re.escape(problem)):
        zoo.testing.check_dataset("my-set", catalog=catalog)


@pytest.mark.parametrize(
    "returned",
    [toy(), toy(shape=(1, 5, 5)), toy(train_labels=toy().train_labels.astype(np.int64), classes=list(CLASSES))],
    ids=["(N, H, W) for (1, H, W)", "(N, 1, H, W)", "int64 labels, classes a list"],
)
def test_good_data_passes_in_either_layout(returned):
    catalog = catalog_of(Plugin(lambda data_dir: returned))
    assert load_dataset(catalog, "my-set") is returned
    zoo.testing.check_dataset("my-set", catalog=catalog)


def test_an_undeclared_dataset_is_checked_for_everything_but_the_declaration():
    catalog = catalog_of(Plugin(lambda data_dir: toy(train_images=FLOATS), declared=None))
    with pytest.raises(DataError, match="train_images are float32"):
        load_dataset(catalog, "my-set")


def test_train_loads_an_entrys_data_through_the_checks(tmp_path):
    catalog = zoo.testing.catalog_with(Plugin(lambda data_dir: toy(train_images=FLOATS), declared=None))
    entry = tmp_path / "floats.toml"
    entry.write_text(
        textwrap.dedent(
            """
            data = {dataset = "my-set"}
            layers = [{type = "dense", units = 3}]
            loss = {type = "softmax_cross_entropy"}
            optimizer = {type = "sgd", lr = 0.1}
            batches = {type = "shuffled", size = 2}
            train = {epochs = 1}
            """
        )
    )
    with pytest.raises(DataError, match="dataset 'my-set' .*train_images are float32"):
        load_data(load_entry(str(entry), catalog), catalog)


# =============================================================================================
# missing files and exceptions from loaders


def raises(error):
    def loader(data_dir):
        raise error

    return loader


def test_a_plugin_raises_dataset_not_found_for_missing_files():
    catalog = catalog_of(Plugin(raises(DatasetNotFound("my-set files not in /nowhere; put them there"))))
    with pytest.raises(DatasetNotFound) as caught:
        load_dataset(catalog, "my-set")
    assert str(caught.value) == f"dataset 'my-set' (plugin {PLUGIN!r}): my-set files not in /nowhere; put them there"
    with pytest.raises(DatasetNotFound):  # the data is missing: not the plugin's fault, not a conformance failure
        zoo.testing.check_dataset("my-set", catalog=catalog)


@pytest.mark.parametrize(
    "error, text",
    [
        (FileNotFoundError(2, "No such file or directory", "/data/x.npz"), "FileNotFoundError: [Errno 2] No such file"),
        (OSError("disk\non fire"), "OSError: disk on fire"),
        (KeyError("train"), "KeyError: 'train'"),
    ],
)
def test_any_other_exception_from_a_loader_is_one_line_naming_the_plugin(error, text):
    catalog = catalog_of(Plugin(raises(error)))
    with pytest.raises(DataError) as caught:
        load_dataset(catalog, "my-set")
    assert assert_one_line(caught.value).startswith(f"dataset 'my-set' (plugin {PLUGIN!r}) failed to load: {text}")
    with pytest.raises(ConformanceError, match=f"fails loading: it raised {type(error).__name__}.*DatasetNotFound"):
        zoo.testing.check_dataset("my-set", catalog=catalog)


# =============================================================================================
# --data-dir: an existing directory, the only place searched


def test_an_explicit_data_dir_must_be_a_directory_for_every_dataset(tmp_path):
    seen = []
    catalog = catalog_of(Plugin(lambda data_dir: seen.append(data_dir) or toy()))
    (tmp_path / "file").write_text("x")
    for path, message in ((tmp_path / "file", "is a file, not a directory"), (tmp_path / "no", "no data directory")):
        with pytest.raises(DataError, match=message):
            load_dataset(catalog, "my-set", path)
        with pytest.raises(DataError, match=message):
            zoo.testing.check_dataset("my-set", catalog=catalog, data_dir=path)
    assert not seen  # the plugin was never asked
    load_dataset(catalog, "my-set", tmp_path)
    assert seen == [tmp_path]


# =============================================================================================
# building on the built-in loaders


def first(n):
    def take(loaded: ImageData) -> ImageData:
        return attrs.evolve(loaded, train_images=loaded.train_images[:n], train_labels=loaded.train_labels[:n])

    return take


def low_digits(loaded: ImageData) -> ImageData:
    """Only the digits 0 to 4."""
    train, test = loaded.train_labels < 5, loaded.test_labels < 5
    return ImageData(
        loaded.train_images[train],
        loaded.train_labels[train],
        loaded.test_images[test],
        loaded.test_labels[test],
        classes=tuple("01234"),
    )


class BuildsOnMnist:
    @zoo.hookimpl
    def register_datasets(self, register):
        register("mnist-1k", MNIST.derive(first(1000)))
        register("mnist-low", MNIST.derive(low_digits, classes=tuple("01234")))
        register("mnist-low-undeclared", MNIST.derive(low_digits))  # forgot to declare the new classes


@needs_mnist
def test_a_plugin_builds_on_the_built_in_mnist_without_copying_it(mnist, tmp_path):
    catalog = catalog_of(BuildsOnMnist())
    assert dataset_info(catalog, "mnist-1k") == MNIST.info
    assert dataset_info(catalog, "mnist-low") == DatasetInfo((1, 28, 28), tuple("01234"))
    subset = load_dataset(catalog, "mnist-1k", DATA)
    assert np.array_equal(subset.train_images, mnist.train_images[:1000])
    assert np.array_equal(subset.test_labels, mnist.test_labels)
    low = load_dataset(catalog, "mnist-low", DATA)
    assert set(np.unique(low.train_labels)) == set(range(5)) and low.classes == tuple("01234")
    with pytest.raises(DataError, match="classes are \\('0', '1', '2', '3', '4'\\), but the dataset declares"):
        load_dataset(catalog, "mnist-low-undeclared", DATA)
    with pytest.raises(DatasetNotFound, match="mnist files not found; looked only in the data directory given"):
        load_dataset(catalog, "mnist-1k", tmp_path)


# =============================================================================================
# the kit


@needs_mnist
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_built_in_datasets_pass_check_dataset(catalog, name):
    if not (DATA / name).is_dir():
        pytest.skip(f"{name} not found under {DATA}")
    zoo.testing.check_dataset(name, catalog=catalog, data_dir=DATA)


def test_check_dataset_fails_a_dataset_that_loads_differently_each_time():
    loads = iter(range(100))
    catalog = catalog_of(Plugin(lambda data_dir: toy(seed=next(loads))))
    with pytest.raises(ConformanceError, match=r"fails determinism: two loads gave different train_images") as caught:
        zoo.testing.check_dataset("my-set", catalog=catalog)
    assert (caught.value.kind, caught.value.name, caught.value.check) == ("dataset", "my-set", "determinism")
    assert caught.value.plugin == PLUGIN


def test_check_dataset_warns_that_a_contract_1_dataset_declares_nothing():
    catalog = catalog_of(Plugin(lambda data_dir: toy(), declared=None))
    with pytest.warns(UserWarning, match="declares no shape or classes: register a zoo.datasets.Dataset"):
        zoo.testing.check_dataset("my-set", catalog=catalog)


def test_check_plugin_dispatches_datasets_which_take_no_options():
    catalog = catalog_of(Plugin(lambda data_dir: toy(train_images=FLOATS)))
    with pytest.raises(ConformanceError, match="fails the dataset contract"):
        zoo.testing.check_plugin("dataset", "my-set", catalog=catalog)
    with pytest.raises(ConfigError, match="zoo.testing: dataset 'my-set': a dataset takes no options"):
        zoo.testing.check_plugin("dataset", "my-set", {"x": 1}, catalog=catalog)


class TwoSets:
    @zoo.hookimpl
    def register_datasets(self, register):
        register("good-set", Dataset((1, 5, 5), CLASSES, lambda data_dir=None: toy()))
        register("float-set", Dataset((1, 5, 5), CLASSES, lambda data_dir=None: toy(train_images=FLOATS)))


def test_check_package_checks_datasets_and_reports_what_it_skipped(tmp_path):
    catalog = catalog_of(TwoSets())
    plugin = f"{__name__}.TwoSets"
    with pytest.raises(ConformanceError, match="dataset 'float-set'.*train_images are float32"):
        zoo.testing.check_package(plugin, catalog=catalog)
    with pytest.warns(zoo.testing.NotChecked, match="did not check dataset 'float-set'"):
        checked = zoo.testing.check_package(plugin, catalog=catalog, skip=["dataset:float-set"])
    assert checked == [("dataset", "good-set")] and checked.unchecked == [("dataset", "float-set")]
    with pytest.raises(ConformanceError, match="dataset 'good-set': no data directory"):  # data_dir reaches the check
        zoo.testing.check_package(
            plugin,
            catalog=catalog,
            skip=["float-set"],
            options={"good-set": {"options": {}, "data_dir": tmp_path / "x"}},
        )
    with pytest.warns(zoo.testing.NotChecked):
        checked = zoo.testing.check_package(plugin, catalog=catalog, skip=["float-set", "good-set"])
    assert checked.unchecked == [
        ("dataset", "float-set"),
        ("dataset", "good-set"),
    ]


def test_every_kind_of_plugin_has_a_check():
    assert set(CHECKS) | set(WITHOUT_OPTIONS) == set(KINDS)


# =============================================================================================
# the command line


@pytest.fixture
def fresh_catalog(monkeypatch, data_env):
    """The CLI's catalog rebuilt from this test's environment, before and after."""
    for name in ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_REGISTRY_PATH"):
        monkeypatch.setenv(name, "")
    default_catalog.cache_clear()
    yield
    default_catalog.cache_clear()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


PLUGIN_FILE = """
import numpy as np
import zoo
from zoo.data import ImageData
from zoo.datasets import Dataset


def floats(data_dir=None):
    rng = np.random.default_rng(0)
    images = rng.random((64, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 64, dtype=np.uint8)
    return ImageData(images, labels, images[:8], labels[:8], tuple("0123456789"))


def missing(data_dir=None):
    open("/nonexistent/set.npz", "rb")


@zoo.hookimpl
def register_datasets(register):
    register("float-set", Dataset((1, 28, 28), tuple("0123456789"), floats))
    register("missing-set", missing)
"""

ENTRY = """
data = {{dataset = "{dataset}"}}
layers = [{{type = "dense", units = 10}}]
loss = {{type = "softmax_cross_entropy"}}
optimizer = {{type = "sgd", lr = 0.1}}
batches = {{type = "shuffled", size = 8}}
train = {{epochs = 1}}
"""


@pytest.mark.parametrize(
    "dataset, message",
    [
        ("float-set", "train_images are float32; datasets return uint8 images (0-255)"),
        ("missing-set", "failed to load: FileNotFoundError: [Errno 2] No such file or directory"),
    ],
)
def test_a_broken_dataset_plugin_is_one_error_line_and_trains_nothing(
    tmp_path, monkeypatch, fresh_catalog, runs_env, dataset, message
):
    plugin = tmp_path / "my_sets.py"
    plugin.write_text(PLUGIN_FILE)
    entry = tmp_path / "uses-set.toml"
    entry.write_text(ENTRY.format(dataset=dataset))
    line = error_line(run("--plugin", plugin, "train", entry))
    assert f"error: dataset {dataset!r} (plugin '{plugin}')" in line and message in line
    assert not runs_env.exists() or not list(runs_env.iterdir())


def test_data_dir_that_is_a_file_or_lacks_the_data_is_an_error_not_zoo_data(tmp_path, fresh_catalog):
    (tmp_path / "file").write_text("x")
    line = error_line(
        run("train", "seed-000-random-sample-sgd", "--set", "train.steps=1", "--data-dir", tmp_path / "file")
    )
    assert line == f"error: data directory {tmp_path / 'file'} is a file, not a directory"
    line = error_line(run("train", "seed-000-random-sample-sgd", "--set", "train.steps=1", "--data-dir", tmp_path))
    assert f"mnist files not found; looked only in the data directory given: {tmp_path / 'mnist'}, {tmp_path};" in line


MIXED = ["compare", "seed-000-random-sample-sgd", "tuned-784-10-10-adam", "--set", "train.steps=2", "--jobs", "1"]


def test_compare_refuses_contenders_on_different_data(fresh_catalog, runs_env):
    line = error_line(run(*MIXED))
    assert (
        "seed-000-random-sample-sgd uses mnist, no validation; tuned-784-10-10-adam uses mnist, validation 5000 (last)"
        in line
    )
    assert "--allow-mixed-data" in line
    assert not runs_env.exists()  # refused before anything trained


def test_compare_with_allow_mixed_data_warns_and_labels_every_row(fresh_catalog):
    result = run(*MIXED, "--allow-mixed-data", "--json")
    assert result.exit_code == 0, result.stderr
    assert "warning: contenders are trained on different data" in result.stderr
    rows = json.loads(result.stdout)["results"]
    assert [(r["dataset"], r["validation"], r["split"]) for r in rows] == [
        ("mnist", 0, "last"),
        ("mnist", 5000, "last"),
    ]
    table = run(*MIXED, "--allow-mixed-data")
    assert "data" in table.stdout.splitlines()[0]
    assert "mnist, no validation" in table.stdout and "mnist, validation 5000 (last)" in table.stdout


def test_compare_on_the_same_data_needs_no_flag(fresh_catalog):
    result = run(*MIXED, "--set", "data.validation=1000")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr and "data" not in result.stdout.splitlines()[0]
