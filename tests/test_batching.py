"""BatchMaker: uint8 images to float batches in [0, 1], one sample or many, in the network's sample shape."""

import numpy as np
import pytest

from zoo.batching import BatchMaker

IMAGES = np.random.default_rng(0).integers(0, 256, size=(50, 6, 5), dtype=np.uint8)


@pytest.mark.parametrize("index", [np.array([7]), np.array([-1]), np.array([3, 9, 3]), slice(10, 14)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_batch_is_the_images_scaled_to_0_1_in_the_float_dtype(index, dtype):
    batch = BatchMaker(IMAGES, dtype).make(index)
    expected = IMAGES[index].astype(dtype) * dtype(1 / 255)  # the same rounding: cast, then one product
    assert batch.dtype == dtype and batch.shape == expected.shape
    np.testing.assert_array_equal(batch, expected)


def test_one_sample_is_the_same_bits_as_that_sample_in_a_batch():
    maker = BatchMaker(IMAGES, np.float32)
    many = maker.make(np.array([4, 21, 33])).copy()
    for row, i in enumerate([4, 21, 33]):
        np.testing.assert_array_equal(maker.make(np.array([i])), many[row : row + 1])


@pytest.mark.parametrize("index", [np.array([5]), np.array([5, 6]), slice(0, 3)])
def test_batches_come_in_the_sample_shape_asked_for_as_views_made_once(index):
    maker = BatchMaker(IMAGES, np.float32, sample_shape=(1, 6, 5))
    first = maker.make(index)
    assert first.shape[1:] == (1, 6, 5)
    np.testing.assert_array_equal(first[:, 0], BatchMaker(IMAGES, np.float32).make(index))
    assert maker.make(index) is first  # the same buffer: its view is not made again


def test_augmented_batches_come_in_the_sample_shape_too():
    def flip(batch, rng):
        return batch[:, ::-1].copy()

    maker = BatchMaker(IMAGES, np.float32, [flip], np.random.default_rng(0), sample_shape=(1, 6, 5))
    batch = maker.make(np.array([2, 8]))
    assert batch.shape == (2, 1, 6, 5)
    np.testing.assert_array_equal(batch[:, 0], IMAGES[[2, 8], ::-1].astype(np.float32) * np.float32(1 / 255))
