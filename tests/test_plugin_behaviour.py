"""Behaviour of the registered plugins: augmenters, initialisers, optimizers, batch schedules, dropout, losses.

Every registered augmenter, initialiser, optimizer and batch schedule goes through zoo's
conformance kit (``zoo.testing``), parametrised over the catalog, so a plugin is checked the
moment it registers a name; a name that needs options gets them from the table of its kind
below (names not listed are checked without options). The other tests check what only the
built-ins promise: their exact geometry, update rules, distributions and schedules.
"""

import contextlib
import inspect
import math
import signal

import numpy as np
import pytest

import zoo.testing
from zoo.layers import Param
from zoo.loading import default_catalog

CATALOG = default_catalog()


def _cases(kind, table, default):
    """``pytest.param(name, variant)`` for every registered name; ``default`` for names the table lacks."""
    for name in CATALOG.names(kind):
        variants = table.get(name, [default])
        for i, variant in enumerate(variants):
            yield pytest.param(name, variant, id=name if len(variants) == 1 else f"{name}-{i}")


@contextlib.contextmanager
def time_limit(seconds):
    """Raise TimeoutError in the main thread if the block takes longer (guards generators that never yield)."""

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_flip_mirrors_the_chosen_images_and_leaves_the_others():
    images = np.random.default_rng(0).random((64, 5, 7)).astype(np.float32)
    before = images.copy()
    out = CATALOG.get("augmenter", "flip").factory(probability=0.5)(images, np.random.default_rng(1))
    mirrored = [np.array_equal(out[i], before[i, :, ::-1]) for i in range(64)]
    kept = [np.array_equal(out[i], before[i]) for i in range(64)]
    assert all(m != k for m, k in zip(mirrored, kept)) and 16 < sum(mirrored) < 48
    assert out is images  # in place, as documented


def test_builtins_are_registered():
    """Guard against vacuous parametrisation: a built-in plugin that failed to load shows up here."""
    assert not CATALOG.failures, CATALOG.failures
    assert {"shift", "rotate", "affine"} <= set(CATALOG.names("augmenter"))
    assert {"sgd", "adam"} <= set(CATALOG.names("optimizer"))
    assert {"full_batch", "random_sample", "shuffled", "sequential"} <= set(CATALOG.names("batches"))
    assert {"zeros", "uniform", "he_normal", "glorot_uniform", "scaled_normal"} <= set(CATALOG.names("initialiser"))


# =============================================================================================
# augmenters

H = W = 28
CENTRE = (H - 1) / 2

# Per augmenter name: option variants, each with the geometry it claims (None for a non-geometric
# augmenter): every image rotated about the centre by at most ``max_degrees`` and shifted by at
# most ``max_shift`` pixels per axis. The first variant is what registry entries use, the second
# the strongest setting the kit is documented to accept as label-preserving for digits.
AUGMENTERS = {
    "shift": [
        dict(options={"max_pixels": 2.5}, max_shift=2.5, max_degrees=0.0),
        dict(options={"max_pixels": 4}, max_shift=4.0, max_degrees=0.0),
    ],
    "rotate": [
        dict(options={"max_degrees": 12}, max_shift=0.0, max_degrees=12.0),
        dict(options={"max_degrees": 30}, max_shift=0.0, max_degrees=30.0),
    ],
    "affine": [
        dict(options={"max_degrees": 12, "max_shift": 2.5}, max_shift=2.5, max_degrees=12.0),
        dict(options={"max_degrees": 30, "max_shift": 4}, max_shift=4.0, max_degrees=30.0),
    ],
    # Mirrors in place and turns digits into other shapes by design: for clothes, not digits.
    "flip": [
        dict(options={}, kit={"in_place": True, "digits": None}),
        dict(options={"probability": 1.0}, kit={"in_place": True, "digits": None}),
    ],
}
GEOMETRIC_CASES = [
    pytest.param(name, case, id=f"{name}-{case['max_degrees']:g}deg-{case['max_shift']:g}px")
    for name, cases in AUGMENTERS.items()
    for case in cases
    if "max_shift" in case
]


def _augmenter_cases():
    """Every variant on real MNIST (when $ZOO_DATA has it); each name's strongest also on the kit's synthetic digits."""
    for case in _cases("augmenter", AUGMENTERS, {"options": {}}):
        name, variant = case.values
        yield pytest.param(name, variant, "auto", id=case.id)
        if variant is AUGMENTERS.get(name, [variant])[-1]:
            yield pytest.param(name, variant, "synthetic", id=f"{case.id}-synthetic")


@pytest.mark.parametrize("name, case, digits", list(_augmenter_cases()))
def test_augmenter_conforms(name, case, digits):
    kit = {"digits": digits, **case.get("kit", {})}
    zoo.testing.check_augmenter(name, case["options"], catalog=CATALOG, **kit)


def _augmenter(name, case):
    return CATALOG.get("augmenter", name).factory(**case["options"])


def blob_images(n, rng, dtype=np.float32, radius=5.0, sigma=1.2):
    """One round blob per image, ``radius`` pixels off centre in a random direction, saturated (1.0) at its core.

    The blob stays well inside the frame under the tested rotations and shifts, so ink is conserved
    and its centre of mass follows the transform.
    """
    angle = rng.uniform(0, 2 * np.pi, n)
    cy, cx = CENTRE + radius * np.sin(angle), CENTRE + radius * np.cos(angle)
    r, c = np.mgrid[0:H, 0:W]
    d2 = (r[None] - cy[:, None, None]) ** 2 + (c[None] - cx[:, None, None]) ** 2
    return np.minimum(1.5 * np.exp(-d2 / (2 * sigma**2)), 1.0).astype(dtype)


def mixed_images(n, rng, dtype):
    """Blobs and noise with exact 0s and 1s, to probe the value range."""
    noise = rng.random((n, H, W))
    noise[noise < 0.3] = 0.0
    noise[noise > 0.7] = 1.0
    return np.concatenate([blob_images(n, rng, dtype), noise.astype(dtype)])


def centre_of_mass(images):
    """``(N, 2)`` (row, col) centre of mass relative to the image centre, and the ``(N,)`` total ink."""
    images = images.astype(np.float64)
    r, c = np.mgrid[0:H, 0:W]
    ink = images.sum(axis=(1, 2))
    com = np.stack([(images * r).sum(axis=(1, 2)), (images * c).sum(axis=(1, 2))], axis=1) / ink[:, None]
    return com - CENTRE, ink


@pytest.mark.parametrize(
    "name, options",
    [
        ("affine", {}),
        ("affine", {"max_degrees": 0, "max_shift": 0}),
        ("shift", {"max_pixels": 0}),
        ("rotate", {"max_degrees": 0}),
    ],
    ids=["affine-default", "affine-zero", "shift-zero", "rotate-zero"],
)
def test_zero_parameter_augmenter_is_identity(name, options):
    augment = CATALOG.get("augmenter", name).factory(**options)
    images = mixed_images(20, np.random.default_rng(5), np.float32)
    np.testing.assert_allclose(augment(images, np.random.default_rng(6)), images, atol=1e-6)
    np.testing.assert_allclose(augment(images[:3], np.random.default_rng(6)), images[:3], atol=1e-6)


def test_affine_scales_each_image_about_its_centre_within_max_scale():
    """With ``max_scale`` alone, a blob's distance from the centre and its ink's square root scale by one factor
    per image, within [1 - m, 1 + m] and spread over it; its direction from the centre stays."""
    images = blob_images(300, np.random.default_rng(7), radius=6.0)
    out = _augmenter("affine", {"options": {"max_scale": 0.2}})(images.copy(), np.random.default_rng(8))
    (before, ink_before), (after, ink_after) = centre_of_mass(images), centre_of_mass(out)
    factor = np.linalg.norm(after, axis=1) / np.linalg.norm(before, axis=1)
    np.testing.assert_allclose(np.sqrt(ink_after / ink_before), factor, rtol=0.03)
    assert factor.min() > 0.8 - 0.02 and factor.max() < 1.2 + 0.02
    assert factor.min() < 0.85 and factor.max() > 1.15, "the factors do not spread over [0.8, 1.2]"
    cosine = (after * before).sum(axis=1) / np.linalg.norm(after, axis=1) / np.linalg.norm(before, axis=1)
    assert cosine.min() > 0.999, "a scale alone turned an image"


def test_affine_with_max_scale_conforms_and_without_it_keeps_its_draws():
    zoo.testing.check_augmenter("affine", {"max_degrees": 10, "max_shift": 2, "max_scale": 0.15}, catalog=CATALOG)
    images = mixed_images(20, np.random.default_rng(5), np.float32)
    rng = np.random.default_rng(6)
    _augmenter("affine", {"options": {"max_degrees": 10, "max_shift": 2}})(images.copy(), rng)
    expected = np.random.default_rng(6)
    expected.uniform(size=3 * len(images))  # the angles and the shifts: nothing drawn for a scale
    assert rng.bit_generator.state == expected.bit_generator.state


def _rotate(vectors, degrees):
    """``vectors`` (N, 2) rotated by each angle in ``degrees`` (G,): (G, N, 2)."""
    t = np.deg2rad(degrees)[:, None]
    cos, sin = np.cos(t), np.sin(t)
    return np.stack([cos * vectors[:, 0] - sin * vectors[:, 1], sin * vectors[:, 0] + cos * vectors[:, 1]], axis=-1)


@pytest.mark.parametrize("name, case", GEOMETRIC_CASES)
def test_augmenter_geometry_within_its_bounds(name, case):
    """Ink is conserved and each centre of mass moves as a rotation within ±max_degrees plus a shift within ±max_shift.

    And the augmenter uses its range: some images move by most of it, and images get different transforms.
    """
    max_shift, max_degrees = case["max_shift"], case["max_degrees"]
    images = blob_images(300, np.random.default_rng(7))
    out = _augmenter(name, case)(images.copy(), np.random.default_rng(8))
    before, ink_before = centre_of_mass(images)
    after, ink_after = centre_of_mass(out)
    np.testing.assert_allclose(ink_after, ink_before, rtol=0.02, err_msg=f"{name}: ink not conserved")

    # Some rotation within bounds, then a shift within bounds, explains each move.
    grid = np.linspace(-max_degrees, max_degrees, max(1, int(8 * max_degrees)) + 1)
    residual = np.abs(after[None] - _rotate(before, grid)).max(axis=2).min(axis=0)
    worst = residual.max()
    assert worst <= max_shift + 0.15, f"{name}: a centre of mass moved {worst:.2f} px beyond any allowed rotation"

    moved = np.abs(after - before).max(axis=1)
    if max_degrees == 0:
        assert moved.max() > 0.8 * max_shift, f"{name}: largest shift {moved.max():.2f} of {max_shift} allowed"
        assert np.ptp(after - before, axis=0).min() > max_shift, f"{name}: shifts do not spread over ±max_shift"
    if max_shift == 0:
        angles = np.rad2deg(
            np.arctan2(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0], np.einsum("ij,ij->i", before, after))
        )
        assert np.abs(angles).max() <= max_degrees + 1.0, f"{name}: rotated by {np.abs(angles).max():.1f} degrees"
        assert np.abs(angles).max() > 0.8 * max_degrees, f"{name}: largest rotation {np.abs(angles).max():.1f} deg"
        assert angles.min() < 0 < angles.max(), f"{name}: rotations all one way"
        # Rotation about the centre keeps the distance from it.
        np.testing.assert_allclose(np.hypot(*after.T), np.hypot(*before.T), atol=0.15)
    # Each image draws its own transform: identical inputs come out differently.
    same = np.repeat(images[:1], 8, axis=0)
    out = _augmenter(name, case)(same, np.random.default_rng(9))
    assert len({out[i].tobytes() for i in range(8)}) == 8, f"{name}: one transform shared by the batch"


# =============================================================================================
# initialisers

FAN_IN, FAN_OUT = 784, 512

# Per initialiser name: (options, claim) variants; the claim is a function of (fan_in, fan_out)
# giving ("constant", value), ("uniform", low, high) or ("normal", mean, std). The kit checks the
# mean and std the claim implies; test_initialiser_distribution_shape the rest of it.
INITIALISERS = {
    "zeros": [({}, lambda fi, fo: ("constant", 0.0))],
    "constant": [({"value": 0.25}, lambda fi, fo: ("constant", 0.25))],
    "uniform": [
        ({}, lambda fi, fo: ("uniform", -0.05, 0.05)),
        ({"low": 0.0, "high": 1.0}, lambda fi, fo: ("uniform", 0.0, 1.0)),
    ],
    "normal": [({"std": 0.2, "mean": 0.1}, lambda fi, fo: ("normal", 0.1, 0.2))],
    "scaled_normal": [
        ({"fan": 20}, lambda fi, fo: ("normal", 0.0, math.sqrt(1 / 20))),
        ({}, lambda fi, fo: ("normal", 0.0, math.sqrt(1 / fi))),
    ],
    "he_normal": [({}, lambda fi, fo: ("normal", 0.0, math.sqrt(2 / fi)))],
    "he_uniform": [({}, lambda fi, fo: ("uniform", -math.sqrt(6 / fi), math.sqrt(6 / fi)))],
    "glorot_normal": [({}, lambda fi, fo: ("normal", 0.0, math.sqrt(2 / (fi + fo))))],
    "glorot_uniform": [({}, lambda fi, fo: ("uniform", -math.sqrt(6 / (fi + fo)), math.sqrt(6 / (fi + fo))))],
}
INITIALISER_CASES = list(_cases("initialiser", INITIALISERS, ({}, None)))


def _moments(claim):
    """The (mean, std) of a claim."""
    if claim[0] == "constant":
        return claim[1], 0.0
    if claim[0] == "uniform":
        low, high = claim[1:]
        return (low + high) / 2, (high - low) / math.sqrt(12)
    return claim[1:]


@pytest.mark.parametrize("name, case", INITIALISER_CASES)
def test_initialiser_conforms(name, case):
    options, claim = case
    scale = {}
    if claim is not None:
        scale = {"mean": lambda fi, fo: _moments(claim(fi, fo))[0], "std": lambda fi, fo: _moments(claim(fi, fo))[1]}
    zoo.testing.check_initialiser(name, options, catalog=CATALOG, **scale)


def _initialiser(name, case):
    return CATALOG.get("initialiser", name).factory(**case[0])


@pytest.mark.parametrize("name, case", INITIALISER_CASES)
def test_initialiser_float32_draws_are_float64_draws_cast(name, case):
    """Draws are made in float64 and cast: a float32 and a float64 run from one seed start alike."""
    init = _initialiser(name, case)
    a32 = init((6, 5), 6, 5, np.random.default_rng(2), np.dtype(np.float32))
    a64 = init((6, 5), 6, 5, np.random.default_rng(2), np.dtype(np.float64))
    np.testing.assert_array_equal(a32, a64.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name, case", [c for c in INITIALISER_CASES if c.values[1][1] and c.values[1][1](1, 1)[0] != "constant"]
)
def test_initialiser_distribution_shape(name, case, dtype):
    """On a 784x512 draw: uniform fills exactly its bounds, evenly; normal has normal tails (mean and std: the kit)."""
    claim = case[1](FAN_IN, FAN_OUT)
    a = _initialiser(name, case)((FAN_IN, FAN_OUT), FAN_IN, FAN_OUT, np.random.default_rng(4), np.dtype(dtype))
    a = a.astype(np.float64)
    if claim[0] == "uniform":
        low, high = claim[1:]
        width = high - low
        assert a.min() >= low and a.max() <= high, f"{name}: range [{a.min()}, {a.max()}] outside [{low}, {high}]"
        assert a.min() < low + 0.01 * width and a.max() > high - 0.01 * width, f"{name}: does not fill [{low}, {high}]"
        # Flat: each quarter of the range holds a quarter of the values.
        counts = np.histogram(a, bins=4, range=(low, high))[0] / a.size
        np.testing.assert_allclose(counts, 0.25, atol=0.01, err_msg=f"{name}: not uniform")
        return
    assert claim[0] == "normal", claim
    mean, std = claim[1:]
    # Normal, not another shape with the same std: 68.3% within one std, 95.4% within two.
    within = [np.mean(np.abs(a - mean) < k * std) for k in (1, 2)]
    np.testing.assert_allclose(within, [0.6827, 0.9545], atol=0.01, err_msg=f"{name}: not normal")


# =============================================================================================
# optimizers

# Per optimizer name: option variants (the kit's quadratic needs a learning rate that converges in 500 steps).
OPTIMIZERS = {
    "sgd": [
        {"lr": 0.2},
        {},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.05, "weight_decay": 0.01},
    ],
    "adam": [{"lr": 0.05}, {"lr": 0.05, "weight_decay": 0.01}],
    "adamw": [{"lr": 0.05}, {"lr": 0.05, "weight_decay": 0.1}],
    "rms_prop": [{"lr": 0.01}, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01}],
}
OPTIMIZER_CASES = list(_cases("optimizer", OPTIMIZERS, {}))


@pytest.mark.parametrize("name, options", OPTIMIZER_CASES)
def test_optimizer_conforms(name, options):
    zoo.testing.check_optimizer(name, options, catalog=CATALOG)


def _optimizer(name, options, **extra):
    return CATALOG.get("optimizer", name).factory(**options, **extra)


def _constant_grad_params(rng, lrs):
    """One (3, 2) parameter per learning rate, all starting at the same values with the same gradient."""
    value, grad = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    return [Param(f"p{i}", value.copy(), grad.copy(), lr) for i, lr in enumerate(lrs)], value, grad


@pytest.mark.parametrize(
    "name, options",
    [
        c
        for c in OPTIMIZER_CASES
        if "decay" in inspect.signature(CATALOG.get("optimizer", c.values[0]).factory).parameters
        and not getattr(_optimizer(*c.values), "weight_decay", 0)  # it makes later steps depend on where each got to
    ],
)
def test_optimizer_decay_lowers_step_each_epoch(name, options):
    """``decay = 0.5``: steps in epoch 1 are half, in epoch 2 a quarter, of the undecayed optimizer's."""
    rng = np.random.default_rng(2)
    plain, decayed = _optimizer(name, options), _optimizer(name, options, decay=0.5)
    params_plain, start, grad = _constant_grad_params(rng, [None])
    params_decayed = [Param("p", start.copy(), grad.copy())]
    plain.setup(params_plain)
    decayed.setup(params_decayed)
    for epoch, ratio in enumerate([1.0, 0.5, 0.25]):
        moves = []
        for opt, params in ((plain, params_plain), (decayed, params_decayed)):
            opt.start_epoch(epoch)
            before = params[0].value.copy()
            params[0].grad[...] = grad
            opt.step(params)
            moves.append(params[0].value - before)
        assert np.abs(moves[0]).min() > 0
        np.testing.assert_allclose(moves[1], ratio * moves[0], rtol=1e-9, err_msg=f"{name}: epoch {epoch}")


def _reference_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    velocity = {}

    def step(i, w, g):
        g = g + weight_decay * w
        if not momentum:
            return w - lr * g
        v = velocity[i] = momentum * velocity.get(i, 0.0) + g
        return w - lr * (g + momentum * v) if nesterov else w - lr * v

    return step


def _reference_adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    state, t = {}, {}

    def step(i, w, g):
        if decoupled:  # Loshchilov & Hutter's AdamW: the decay bypasses the moments
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m, v = state.get(i, (0.0, 0.0))
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        state[i] = m, v
        t[i] = t.get(i, 0) + 1
        m_hat, v_hat = m / (1 - beta1 ** t[i]), v / (1 - beta2 ** t[i])
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def _reference_adamw(lr, weight_decay=0.01, **options):
    return _reference_adam(lr, weight_decay=weight_decay, decoupled=True, **options)


def _reference_rmsprop(lr, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    """PyTorch's RMSprop (not centred)."""
    square, velocity = {}, {}

    def step(i, w, g):
        g = g + weight_decay * w
        v = square[i] = alpha * square.get(i, 0.0) + (1 - alpha) * g * g
        update = g / (np.sqrt(v) + eps)
        if momentum:
            update = velocity[i] = momentum * velocity.get(i, 0.0) + update
        return w - lr * update

    return step


@pytest.mark.parametrize(
    "name, options, reference",
    [
        ("sgd", {"lr": 0.1}, _reference_sgd),
        ("sgd", {"lr": 0.1, "momentum": 0.9}, _reference_sgd),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, _reference_sgd),
        ("sgd", {"lr": 0.1, "weight_decay": 0.01}, _reference_sgd),
        ("sgd", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}, _reference_sgd),
        ("adam", {"lr": 0.01}, _reference_adam),
        ("adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.01}, _reference_adam),
        ("adamw", {"lr": 0.01}, _reference_adamw),
        ("adamw", {"lr": 0.01, "beta1": 0.8, "weight_decay": 0.3}, _reference_adamw),
        ("rms_prop", {"lr": 0.01}, _reference_rmsprop),
        ("rms_prop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.9, "weight_decay": 0.01}, _reference_rmsprop),
    ],
    ids=[
        "sgd",
        "momentum",
        "nesterov",
        "weight_decay",
        "momentum-weight_decay",
        "adam",
        "adam-options",
        "adamw",
        "adamw-options",
        "rmsprop",
        "rmsprop-momentum-options",
    ],
)
def test_builtin_optimizer_follows_its_update_rule(name, options, reference):
    """Six steps with fresh random gradients against the textbook update (PyTorch-style momentum; Adam paper)."""
    rng = np.random.default_rng(3)
    params = [Param("W", rng.normal(size=(3, 4)), np.zeros((3, 4))), Param("b", rng.normal(size=4), np.zeros(4))]
    expected = [p.value.copy() for p in params]
    opt, ref = _optimizer(name, options), reference(**options)
    opt.setup(params)
    opt.start_epoch(0)
    for _ in range(6):
        grads = [rng.normal(size=p.value.shape) for p in params]
        for p, g in zip(params, grads):
            p.grad[...] = g
        expected = [ref(i, w, g) for i, (w, g) in enumerate(zip(expected, grads))]
        opt.step(params)
        for p, w in zip(params, expected):
            np.testing.assert_allclose(p.value, w, rtol=1e-6, atol=1e-12, err_msg=f"{name} {options}: {p.name}")


# =============================================================================================
# batch schedules

# Per schedule name: option variants.
BATCHES = {
    "random_sample": [{"size": 7}],
    "shuffled": [{"size": 7}, {"size": 7, "drop_last": True}, {"size": 128}],
    "sequential": [{}, {"size": 7}],
}


@pytest.mark.parametrize("name, options", list(_cases("batches", BATCHES, {})))
def test_batches_conform(name, options):
    zoo.testing.check_batches(name, options, catalog=CATALOG)


def _take(schedule, n, count, seed=0):
    """The first ``count`` batches as index arrays."""
    iterator = schedule.iterate(n, np.random.default_rng(seed))
    everything = np.arange(n)
    with time_limit(2):
        return [everything[next(iterator)] for _ in range(count)]


def test_trainer_refuses_a_schedule_with_no_batch(small_mnist):
    from zoo.entries import load_entry
    from zoo.errors import ConfigError
    from zoo.training import train

    entry = load_entry("seed-003-minibatch-per-layer-lr", CATALOG, ["batches.size=6000"])
    with pytest.raises(ConfigError, match=r"batches: shuffled makes no batch from 5000 training samples"):
        train(entry, small_mnist, CATALOG)


def test_full_batch():
    schedule = CATALOG.get("batches", "full_batch").factory()
    assert schedule.steps_per_epoch(13) == 1
    batches = _take(schedule, 13, 4)
    iterator = schedule.iterate(13, np.random.default_rng(0))
    assert next(iterator) == slice(0, 13)
    assert all(np.array_equal(b, np.arange(13)) for b in batches)


def test_sequential_size_one_is_every_index_in_order():
    schedule = CATALOG.get("batches", "sequential").factory(size=1)
    assert schedule.steps_per_epoch(5) == 5
    batches = _take(schedule, 5, 15)
    assert [b.tolist() for b in batches] == [[i] for i in range(5)] * 3


def test_sequential_batches_cover_in_order_with_short_last():
    schedule = CATALOG.get("batches", "sequential").factory(size=7)
    assert schedule.steps_per_epoch(20) == 3
    batches = _take(schedule, 20, 6)
    assert [len(b) for b in batches] == [7, 7, 6] * 2
    assert np.array_equal(np.concatenate(batches[:3]), np.arange(20))
    assert all(np.array_equal(a, b) for a, b in zip(batches[:3], batches[3:]))


def test_shuffled_is_a_fresh_permutation_each_epoch():
    schedule = CATALOG.get("batches", "shuffled").factory(size=7)
    n = 20
    assert schedule.steps_per_epoch(n) == 3
    batches = _take(schedule, n, 3 * 4)
    epochs = [np.concatenate(batches[i : i + 3]) for i in range(0, 12, 3)]
    assert [len(b) for b in batches] == [7, 7, 6] * 4
    for order in epochs:
        assert np.array_equal(np.sort(order), np.arange(n)), "an epoch does not cover every index exactly once"
    assert len({order.tobytes() for order in epochs}) == 4, "the order repeats between epochs"
    assert not all(np.array_equal(order, np.arange(n)) for order in epochs), "not shuffled"
    other = _take(schedule, n, 3, seed=1)
    assert not np.array_equal(np.concatenate(other), epochs[0]), "different seeds, same order"


def test_shuffled_drop_last_drops_the_remainder():
    schedule = CATALOG.get("batches", "shuffled").factory(size=7, drop_last=True)
    n = 20
    assert schedule.steps_per_epoch(n) == 2
    batches = _take(schedule, n, 2 * 30)
    assert all(len(b) == 7 for b in batches)
    for i in range(0, len(batches), 2):
        epoch = np.concatenate(batches[i : i + 2])
        assert len(np.unique(epoch)) == 14, "indices repeat within an epoch"
    # The dropped remainder differs between epochs, so every sample is eventually seen.
    assert np.array_equal(np.unique(np.concatenate(batches)), np.arange(n))
    # Exactly divisible: nothing to drop.
    exact = _take(schedule, 21, 3)
    assert schedule.steps_per_epoch(21) == 3 and np.array_equal(np.sort(np.concatenate(exact)), np.arange(21))


def test_random_sample_draws_distinct_indices_each_step():
    schedule = CATALOG.get("batches", "random_sample").factory(size=7)
    n = 20
    assert schedule.steps_per_epoch(n) == 2
    batches = _take(schedule, n, 50)
    for b in batches:
        assert len(b) == 7 and len(np.unique(b)) == 7 and b.min() >= 0 and b.max() < n
    assert len({b.tobytes() for b in batches}) > 45, "steps repeat the same sample"
    assert np.array_equal(np.unique(np.concatenate(batches)), np.arange(n))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, _take(schedule, n, 50, seed=1)))


# =============================================================================================
# dropout


def _dropout(rate, dtype=np.float64, features=500, seed=0):
    layer = CATALOG.get("layer", "dropout").factory(rate=rate)
    assert layer.build((features,), np.dtype(dtype), np.random.default_rng(seed)) == (features,)
    return layer


def test_dropout_is_identity_at_evaluation():
    layer = _dropout(0.5)
    x = np.random.default_rng(1).normal(size=(20, 500))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    dy = np.random.default_rng(2).normal(size=x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_in_training(rate, dtype):
    layer = _dropout(rate, dtype)
    x = np.ones((200, 500), dtype)
    y = layer.forward(x, training=True)
    assert y.dtype == dtype
    dropped = y == 0
    assert dropped.mean() == pytest.approx(rate, abs=0.01), f"{dropped.mean():.3f} of units dropped, rate {rate}"
    np.testing.assert_allclose(y[~dropped], 1 / (1 - rate), rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.02), "inverted dropout should preserve the mean"
    first = dropped.copy()
    assert not np.array_equal(layer.forward(x, training=True) == 0, first), "the same mask every step"


def test_dropout_rate_zero_and_seeding():
    x = np.random.default_rng(3).normal(size=(10, 500))
    np.testing.assert_array_equal(_dropout(0.0).forward(x, training=True), x)
    a = _dropout(0.3, seed=7).forward(x, training=True).copy()
    b = _dropout(0.3, seed=7).forward(x, training=True).copy()
    c = _dropout(0.3, seed=8).forward(x, training=True).copy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError):
        CATALOG.get("layer", "dropout").factory(rate=rate)


# =============================================================================================
# losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_huge_logits(dtype):
    loss = CATALOG.get("loss", "softmax_cross_entropy").factory()
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype)
    labels = np.array([0, 0, 2])
    value = loss.forward(logits, labels)
    # Row losses: 0, 1e4 + log 2, log 3.
    assert np.isfinite(value)
    assert value == pytest.approx((0 + 1e4 + math.log(2) + math.log(3)) / 3, rel=1e-6)
    grad = loss.backward()
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    expected = np.array([[0, 0, 0], [-1, 0.5, 0.5], [1 / 3, 1 / 3, -2 / 3]]) / 3
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_cross_entropy_zero_probability_is_finite():
    loss = CATALOG.get("loss", "cross_entropy").factory()
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    value = loss.forward(p, np.array([1, 0]))
    assert np.isfinite(value) and value > 100
    assert np.all(np.isfinite(loss.backward()))
