"""Predictions on a user's own images: decoding, MNIST's and Fashion-MNIST's preparation, and ``zoo predict``."""

import json
import shutil
import sys
from importlib import resources

import numpy as np
import pytest
from conftest import DATA
from PIL import Image
from typer.testing import CliRunner

from zoo import images
from zoo.cli.app import app
from zoo.evaluate import predict
from zoo.weights import open_model

runner = CliRunner()
SHIPPED = "seed-000-random-sample-sgd"  # the MLP whose weights ship with zoo: a model file and an entry name


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture(scope="module")
def lenet(catalog):
    network, entry, _ = open_model("lenet-5", catalog)
    return network, entry


@pytest.fixture(scope="module")
def model_file(catalog, tmp_path_factory):
    """A model file: the shipped MLP's weights, copied."""
    path = tmp_path_factory.mktemp("model") / "mlp.npz"
    with resources.as_file(catalog.get("weights", SHIPPED).factory()) as shipped:
        shutil.copy(shipped, path)
    return path


def photographed(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit as if written on paper: enlarged 4x, dark ink on white, somewhere on a 160 x 160 page."""
    page = Image.new("L", (160, 160), 255)
    page.paste(Image.fromarray(255 - digit).resize((112, 112), Image.BILINEAR), tuple(rng.integers(0, 49, 2).tolist()))
    return page


def test_lenet_5_reads_1000_digits_written_dark_on_light_off_centre(mnist, lenet, tmp_path):
    network, _ = lenet
    rng = np.random.default_rng(12)
    digits, labels = mnist.test_images[:1000], mnist.test_labels[:1000]
    paths = [tmp_path / f"{i}.png" for i in range(len(digits))]
    for digit, path in zip(digits, paths):
        photographed(digit, rng).save(path)
    prepared = np.stack([images.prepare(images.read_image(path), "digit") for path in paths])
    assert prepared.shape == (1000, 28, 28) and prepared.dtype == np.uint8
    assert np.mean(predict(network, prepared) == labels) >= 0.97


def test_an_mnist_sample_saved_as_png_comes_out_as_it_went_in(mnist, lenet, tmp_path):
    network, _ = lenet
    samples = mnist.test_images[:300]
    for i in range(3):  # through a file, as a user would hand one in
        Image.fromarray(samples[i]).save(tmp_path / f"{i}.png")
        assert np.array_equal(images.read_image(tmp_path / f"{i}.png"), samples[i] / np.float32(255))
    prepared = np.stack([images.prepare(images.to_gray(sample), "digit") for sample in samples])
    assert np.abs(prepared.astype(int) - samples).mean() < 4  # grey levels: MNIST's own steps, redone
    assert np.mean(predict(network, prepared) == predict(network, samples)) >= 0.99


def test_grey_pencil_on_grainy_grey_paper_reads_as_a_clean_digit(mnist, lenet):
    network, _ = lenet
    rng = np.random.default_rng(5)
    digits, labels = mnist.test_images[:200], mnist.test_labels[:200]
    pages = np.stack([np.asarray(photographed(d, rng), dtype=np.float64) / 255 for d in digits])
    grainy = np.clip(0.35 + 0.45 * pages + rng.normal(0, 0.04, pages.shape), 0, 1)
    clean = np.stack([images.prepare(page, "digit") for page in pages])
    prepared = np.stack([images.prepare(page, "digit") for page in grainy])
    assert _black_share(prepared) > 0.8 * _black_share(clean)  # the grain is gone, not shrunk into grey
    assert np.mean(predict(network, prepared) == labels) >= 0.95


def _black_share(prepared: np.ndarray) -> float:
    """The mean share of (nearly) black pixels inside each image's box around its nonzero pixels."""
    shares = []
    for image in prepared:
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        shares.append(np.mean(image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] < 8))
    return float(np.mean(shares))


def test_a_bold_digit_covering_most_of_the_page_is_still_ink():
    page = np.ones((40, 40))
    rows, cols = np.ogrid[:40, :40]
    radius = np.hypot(rows - 19.5, cols - 19.5)
    page[(radius > 4) & (radius < 17)] = 0  # a thick black 0: most pixels are ink, the border is paper
    prepared = images.prepare(page, "digit")
    assert prepared[14, 14] == 0 and prepared[14, 4 + 2] == 255  # a light ring around a dark hole


def test_a_speck_of_dirt_away_from_the_digit_is_left_out(mnist):
    page = np.ones((160, 160))
    page[20:132, 24:136] = 1 - np.asarray(Image.fromarray(mnist.test_images[1]).resize((112, 112))) / 255
    clean = images.prepare(page, "digit")
    page[150:153, 4:7] = 0  # three pixels square, as dark as the ink
    assert np.array_equal(images.prepare(page, "digit"), clean)


def test_ink_dark_or_light_colour_or_on_a_transparent_page_is_the_same_digit(mnist, tmp_path):
    digit = mnist.test_images[0]
    light = np.asarray(photographed(digit, np.random.default_rng(1)))
    expected = images.prepare(light / 255, "digit")
    assert np.array_equal(images.prepare(1 - light / 255, "digit"), expected)  # light ink on dark paper
    rgba = np.zeros((*light.shape, 4), np.uint8)  # black ink on a layer of transparent black: white paper only
    rgba[..., 3] = 255 - light
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    assert np.array_equal(images.prepare(images.read_image(tmp_path / "transparent.png"), "digit"), expected)
    Image.fromarray(light).convert("RGB").save(tmp_path / "photo.jpg", quality=90)
    assert np.abs(images.prepare(images.read_image(tmp_path / "photo.jpg"), "digit") - expected.astype(int)).mean() < 1


def test_a_digit_is_fitted_into_20_by_20_keeping_its_aspect_ratio_and_centred_by_its_mass():
    page = np.ones((300, 200))
    page[40:240, 150:190] = 0  # a stroke 200 tall and 40 wide, near the right edge
    prepared = images.prepare(page, "digit")
    rows, cols = np.flatnonzero(prepared.any(axis=1)), np.flatnonzero(prepared.any(axis=0))
    assert len(rows) == 20 and len(cols) == 4  # 200 x 40 into 20 x 20: 20 x 4
    weights = prepared.astype(float)
    centre = [(weights.sum(axis=1 - axis) * np.arange(28)).sum() / weights.sum() for axis in (0, 1)]
    assert np.allclose(centre, 14, atol=0.5)


def test_fashion_style_trims_the_background_resizes_the_longest_edge_centres_and_negates():
    photo = np.ones((300, 200))  # white studio background
    photo[30:270, 50:130] = 0.3  # a dark grey garment, 240 tall and 80 wide
    photo[30:270, 88:92] = 0.6  # a lighter seam down the middle
    prepared = images.prepare(photo, "fashion")
    rows, cols = np.flatnonzero(prepared.any(axis=1)), np.flatnonzero(prepared.any(axis=0))
    assert (rows[0], rows[-1]) == (0, 27)  # the longest edge fills the image
    assert (cols[0], cols[-1]) == (10, 18)  # 80 * 28 / 240 = 9 columns, centred: (28 - 9 + 1) // 2 = 10
    assert prepared[0, 0] == 0 and prepared[14, 11] == round(0.7 * 255)  # light on black: negated
    assert 0 < prepared[14, 14] < prepared[14, 11]  # the seam, subsampled into column 14, stays darker
    rgba = np.dstack([np.full((300, 200, 3), 0.3), photo < 1]).astype(np.float64)  # the garment alone, cut out
    rgba[30:270, 88:92, :3] = 0.6
    assert np.array_equal(images.prepare(images.to_gray(rgba), "fashion"), prepared)
    icon = np.ones((14, 10))
    icon[2:12, 3:8] = 0  # smaller than the dataset's images: enlarged to them
    rows = np.flatnonzero(images.prepare(icon, "fashion").any(axis=1))
    assert (rows[0], rows[-1]) == (0, 27)


def test_a_fashion_mnist_sample_comes_out_as_it_went_in(catalog):
    if not (DATA / "fashion-mnist").is_dir():
        pytest.skip(f"Fashion-MNIST not found under {DATA}")
    samples = catalog.get("dataset", "fashion-mnist").factory(data_dir=DATA).test_images[:200]
    prepared = np.stack([images.prepare(images.to_gray(sample), "fashion") for sample in samples])
    assert np.mean([np.array_equal(p, s) for p, s in zip(prepared, samples)]) > 0.85  # the rest: centred anew
    assert np.abs(prepared.astype(int) - samples).mean() < 1  # objects that fit are not resized


def test_the_style_follows_the_dataset_unless_asked_and_only_28_by_28_one_channel_samples_qualify():
    assert images.style_for("mnist", (1, 28, 28)) == "digit"
    assert images.style_for("fashion-mnist", (1, 28, 28)) == "fashion"
    assert images.style_for("acme-letters", (1, 28, 28)) == "digit"
    assert images.style_for("acme-letters", (784,), "fashion") == "fashion"
    with pytest.raises(images.ImageError, match=r"samples of shape \(3, 32, 32\).*one-channel 28 x 28"):
        images.style_for("cifar", (3, 32, 32))
    with pytest.raises(images.ImageError, match="unknown style 'fashon'; did you mean 'fashion'"):
        images.style_for("mnist", (1, 28, 28), "fashon")
    for style in images.STYLES:
        with pytest.raises(images.ImageError, match="blank|nothing but its background"):
            images.prepare(np.full((40, 40), 0.8), style)


@pytest.fixture
def paths(mnist, tmp_path):
    """Two photographed test digits as PNG files."""
    rng = np.random.default_rng(3)
    files = [tmp_path / "first.png", tmp_path / "second.png"]
    for digit, path in zip(mnist.test_images[:2], files):
        photographed(digit, rng).save(path)
    return files


def test_predict_prints_the_top_3_classes_of_each_image_and_json_says_the_same(paths, model_file):
    lines = ok("predict", model_file, *paths).splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(p) for p in paths]
    document = ok("predict", model_file, *paths, "--json")
    assert document["model"] == SHIPPED and document["dataset"] == "mnist" and document["style"] == "digit"
    for line, result in zip(lines, document["images"]):
        top = result["top"]
        assert len(top) == 3 and [c["class"] for c in top] == [str(c["index"]) for c in top]
        assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"] > 0
        assert line == f"{result['image']}: " + ", ".join(f"{c['class']} {c['probability']:.1%}" for c in top)
    every = ok("predict", model_file, paths[0], "--top", "20", "--json")["images"][0]["top"]
    assert sorted(c["index"] for c in every) == list(range(10))
    assert sum(c["probability"] for c in every) == pytest.approx(1)
    assert ok("predict", model_file, paths[0], "--style", "fashion", "--json")["style"] == "fashion"


def test_predict_with_an_entry_name_uses_its_shipped_weights(paths, model_file):
    assert ok("predict", SHIPPED, *paths, "--json") == ok("predict", model_file, *paths, "--json")


def test_predict_shows_the_input_the_model_saw(paths, model_file, tmp_path):
    one = ok("predict", model_file, paths[0], "--show-input", tmp_path / "seen.png", "--json")
    assert one["images"][0]["input"] == str(tmp_path / "seen.png")
    expected = images.prepare(images.read_image(paths[0]), "digit")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "seen.png")), expected)
    result = run("predict", model_file, *paths, "--show-input", tmp_path / "seen.png")
    assert result.exit_code == 0 and f"wrote {tmp_path / 'seen-2.png'}" in result.stderr
    for i, path in enumerate(paths, start=1):
        shown = np.asarray(Image.open(tmp_path / f"seen-{i}.png"))
        assert np.array_equal(shown, images.prepare(images.read_image(path), "digit"))
    refused = run("predict", model_file, paths[0], "--show-input", tmp_path)  # a directory
    assert refused.exit_code == 1 and refused.stderr.startswith(f"error: {tmp_path}: cannot write the image")


def test_a_missing_unreadable_or_blank_image_is_one_error_line_naming_it(paths, model_file, tmp_path):
    (tmp_path / "notes.png").write_text("not an image\n")
    Image.new("L", (50, 50), 200).save(tmp_path / "blank.png")
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "cut.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "cut.png").read_bytes()[:60])
    expected = {
        tmp_path / "missing.png": "no such file",
        tmp_path / "notes.png": "not an image file",
        tmp_path / "blank.png": "blank",
        tmp_path / "cut.png": "cannot read the image",
    }
    for path, problem in expected.items():
        result = run("predict", model_file, paths[0], path)
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith(f"error: {path}: ") and problem in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_without_pillow_predict_says_how_to_install_it(paths, model_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import ...` raise ImportError
    result = run("predict", model_file, *paths)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: reading images needs Pillow, which is not installed: pip install 'numpy-zoo[images]'"
    )
