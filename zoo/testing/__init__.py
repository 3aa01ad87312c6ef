"""zoo's conformance kit: checks that a plugin keeps the contract of its kind, for plugin authors' test suites.

Like scikit-learn's ``check_estimator``, each check builds the plugin by name with the options
a registry entry would give it, exercises it and raises :class:`ConformanceError` (an
``AssertionError``, so any test runner reports it as a failure) with one paragraph naming the
kind, the name, the plugin and package, the options, the check and by how much it failed.
zoo runs the kit on every one of its own built-in plugins and registry entries.

Usage, in a plugin package's tests (pytest shown; the kit itself needs only numpy and scipy)::

    import pytest
    import zoo.testing
    import my_package.layers

    CATALOG = zoo.testing.catalog_with(my_package.layers)  # works before `pip install` too


    @pytest.mark.parametrize("units", [1, 3])
    def test_leaky_dense(units):
        zoo.testing.check_layer("leaky_dense", {"units": units, "weight_init": "he_normal"}, catalog=CATALOG)


    def test_every_name_of_my_package():
        zoo.testing.check_package(
            "my_package.layers",  # the distribution name once installed, e.g. "my-zoo-plugins"
            catalog=CATALOG,
            options={"leaky_dense": {"units": 3}, "my_init": {"options": {}, "std": 0.05}},
        )

Options are written exactly as in a registry entry's table (plain TOML values; options ending
in ``_init`` take an initialiser's name or table) and go through the same validation, so a
bad option fails with the same one-line :class:`zoo.errors.ZooError` an entry would. The
checks are deterministic (fixed seeds), take well under a second per plugin (a dataset's, as long
as loading it twice), and write files only to a temporary directory they remove (the model-file
round trip of ``check_layer``).

The checks, by kind (each function's docstring lists exactly what it checks and the thresholds):

- :func:`check_layer`: on batches ``(4, *in_shape)``, ``in_shape=(5,)`` unless given (pass
  ``in_shape=(C, H, W)``, e.g. ``(2, 6, 6)``, for a layer on images); layers of either contract
  (contract 1 through ``FlatLayer``). ``build`` returns a valid shape (an exception it raises
  fails the check); gradients of input and every parameter by central differences, in
  training and evaluation mode; float32 stays float32 and agrees with float64; randomness is
  seeded by the Generator ``build`` gets; evaluation is deterministic given the layer's
  ``state()``, which ``load_state()`` restores; parameters and state survive a save and load
  through zoo's model files; and, for a layer with ``to_onnx`` (when onnx is installed; else a
  :class:`NotChecked` warning), its one-layer ONNX graph gives what evaluation-mode ``forward`` does.
- :func:`check_loss`: gradient by central differences; float32 stays float32.
- :func:`check_optimizer`: minimises a convex quadratic, in place, float32 stays float32,
  honours ``Param.lr``, and its ``state()`` (if any) resumes bit-identically.
- :func:`check_initialiser`: shapes, dtypes, seeded draws from the given Generator only, and the
  ``std``/``mean`` it claims.
- :func:`check_augmenter`: shape, dtype and [0, 1] range kept, input untouched, seeded, and
  labels preserved: digits it augments must still be recognised by a simple classifier.
- :func:`check_batches`: valid indices, seeded batches, epochs as long as ``steps_per_epoch`` says.
- :func:`check_schedule`: finite multipliers >= 0 that depend on the step alone (asked in any order),
  and for a schedule watching a metric, a ``state()`` that resumes it exactly.
- :func:`check_entry`: a registry entry validates, builds and runs a training step.
- :func:`check_weights`: trained weights load, fit their entry and record its current recipe.
- :func:`check_dataset`: a dataset loads (twice, identically) uint8 images and integer labels
  inside its classes, of the shape and classes it declares; missing files are a ZooError.
- :func:`check_plugin` dispatches on the kind; :func:`check_package` checks every name a
  package registered, all of them whatever fails, and raises one :class:`PackageConformanceError`
  listing every failure; the names it skipped are in its result's ``.unchecked`` and in a
  :class:`NotChecked` warning. :func:`catalog_with` adds plugins that are not installed.
"""

from zoo.testing.augmenters import check_augmenter
from zoo.testing.batches import check_batches
from zoo.testing.core import ConformanceError, catalog_with
from zoo.testing.datasets import check_dataset
from zoo.testing.dispatch import check_plugin
from zoo.testing.entries import check_entry
from zoo.testing.initialisers import check_initialiser
from zoo.testing.layers import check_layer
from zoo.testing.losses import check_loss
from zoo.testing.optimizers import check_optimizer
from zoo.testing.package import Checked, NotChecked, PackageConformanceError, check_package
from zoo.testing.schedules import check_schedule
from zoo.testing.weights import check_weights

__all__ = [
    "Checked",
    "ConformanceError",
    "NotChecked",
    "PackageConformanceError",
    "catalog_with",
    "check_augmenter",
    "check_batches",
    "check_dataset",
    "check_entry",
    "check_weights",
    "check_initialiser",
    "check_layer",
    "check_loss",
    "check_optimizer",
    "check_package",
    "check_plugin",
    "check_schedule",
]
