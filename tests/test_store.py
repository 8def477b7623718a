"""The decode-once sample store: exact, shared, rebuilt when its source changes, never half-used."""

import os

import numpy as np
import pytest
from PIL import Image

from litedepth.data import NYUSeedDataset, RGBDDataset
from litedepth.data.store import SampleStore, open_store, store_key
from litedepth.data.transforms import ResizeShorter
from litedepth.synth.dataset import write_dataset


@pytest.fixture
def rooms(tmp_path):
    root = tmp_path / "rooms"
    write_dataset(root, 5, split="train", size=(60, 80), progress=False)
    write_dataset(root, 3, split="test", size=(60, 80), progress=False)
    return root


@pytest.mark.parametrize("split, codec", [("train", "nyu8"), ("test", "mm")])
def test_items_are_the_resized_samples_bit_for_bit(rooms, tmp_path, split, codec):
    data = NYUSeedDataset(rooms, split=split)
    store = open_store(data, 48, tmp_path / "stores", progress=False)
    assert len(store) == len(data) and store.codec.name == codec  # 8-bit and millimetre PNGs kept as integers
    for i in range(len(data)):
        expected = ResizeShorter(48)(data.load(i), None)
        rgb, depth = store.item(i)
        np.testing.assert_array_equal(rgb, np.asarray(expected["image"]))
        assert depth.dtype == np.float32
        np.testing.assert_array_equal(depth.view(np.uint32), expected["depth"].view(np.uint32))


def test_depth_that_no_integer_code_holds_is_kept_as_float32(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "pairs").mkdir()
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "pairs" / "a.jpg")
    np.save(tmp_path / "pairs" / "a.npy", (rng.random((30, 40)) * 7).astype(np.float32))
    data = RGBDDataset(tmp_path / "pairs")
    store = open_store(data, 30, tmp_path / "stores", progress=False)
    assert store.codec.name == "float32"
    np.testing.assert_array_equal(store.item(0)[1], data.load(0)["depth"])


def test_a_store_is_built_once_and_shared(rooms, tmp_path):
    data = NYUSeedDataset(rooms, split="train")
    first = open_store(data, 48, tmp_path / "stores", progress=False)
    stamp = (first.folder / "rgb.u8").stat().st_mtime_ns
    again = open_store(NYUSeedDataset(rooms, split="train"), 48, tmp_path / "stores", progress=False)
    assert again.folder == first.folder and (again.folder / "rgb.u8").stat().st_mtime_ns == stamp
    other_scale = open_store(data, 40, tmp_path / "stores", progress=False)
    assert other_scale.folder != first.folder and other_scale.item(0)[0].shape[0] == 40


def test_a_changed_source_gets_a_new_store(rooms, tmp_path):
    data = NYUSeedDataset(rooms, split="train")
    before = open_store(data, 48, tmp_path / "stores", progress=False)
    image = data.image_file(1)[0]
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(image)
    os.utime(image, ns=(1, 1))  # a different modification time, whatever the clock
    after = open_store(NYUSeedDataset(rooms, split="train"), 48, tmp_path / "stores", progress=False)
    assert after.folder != before.folder
    assert after.item(1)[0].max() == 0 and before.item(1)[0].max() > 0


def test_a_build_cut_short_is_never_used(rooms, tmp_path):
    data = NYUSeedDataset(rooms, split="train")
    root = tmp_path / "stores"
    key = store_key(data, 48)
    (root / key).mkdir(parents=True)  # what a crash before the manifest leaves: no manifest
    (root / key / "rgb.u8").write_bytes(b"\0" * 10)
    with pytest.raises(OSError):  # a folder in the way of the finished one is not taken over silently
        open_store(data, 48, root, progress=False)
    (root / key / "rgb.u8").unlink()
    (root / key).rmdir()

    class Boom(Exception):
        pass

    class Failing(NYUSeedDataset):
        def load(self, index):
            if index == 3:
                raise Boom()
            return super().load(index)

    with pytest.raises(Boom):
        open_store(Failing(rooms, split="train"), 48, root, progress=False)
    assert list(root.iterdir()) == []  # the temporary folder is gone, nothing named by a key
    assert isinstance(open_store(data, 48, root, progress=False), SampleStore)


def test_an_opened_store_travels_to_other_processes(rooms, tmp_path):
    """Process pools and DataLoader workers get the store pickled: each maps the files again."""
    import pickle

    store = open_store(NYUSeedDataset(rooms, split="train"), 48, tmp_path / "stores", progress=False)
    rgb, depth = store.item(4)  # files mapped here
    copy = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(copy.item(4)[0], rgb)
    np.testing.assert_array_equal(copy.item(4)[1], depth)
