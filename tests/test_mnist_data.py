"""The loader on small IDX files the tests write themselves, plus a local HTTP mirror."""

import gzip
import hashlib
import http.server
import os
import re
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

import mnist_data
from conftest import ROOT

COUNTS = {"train": 30, "test": 12}


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


@pytest.fixture
def tiny(monkeypatch):
    """A registered 'tiny' dataset: {file name: decompressed bytes} with matching checksums."""
    rng = np.random.default_rng(0)
    files = {}
    for split, (images_name, labels_name) in mnist_data.SPLIT_FILES.items():
        files[images_name] = idx_bytes(rng.integers(0, 256, (COUNTS[split], 28, 28)))
        files[labels_name] = idx_bytes(np.arange(COUNTS[split]) % 10)
    spec = {"mirrors": ["http://127.0.0.1:9/"],  # port 9 (discard): refused at once, i.e. offline
            "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    monkeypatch.setitem(mnist_data.DATASETS, "tiny", spec)
    return files


def write_files(folder, files, gz):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def cache_files(dataset="tiny"):
    folder = mnist_data.cache_dir(dataset)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip_from_a_folder(tiny, tmp_path, gz):
    folder = write_files(tmp_path / "data", tiny, gz)
    x_train, y_train, x_test, y_test = mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    assert x_train.shape == (30, 784) and x_test.shape == (12, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    raw = np.frombuffer(tiny["train-images-idx3-ubyte"], np.uint8, offset=16).reshape(30, 784)
    assert np.array_equal(x_train, raw.astype(np.float32) / 255)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert list(y_test) == [i % 10 for i in range(12)]
    # A verified uncompressed copy is cached; the next load needs no folder at all.
    assert cache_files() == sorted(tiny)
    again = mnist_data.load_mnist("tiny", download=False)
    assert np.array_equal(again.x_train, x_train)


def test_folder_from_environment_variable_and_dataset_subfolder(tiny, tmp_path, monkeypatch):
    write_files(tmp_path / "data" / "tiny", tiny, gz=True)
    monkeypatch.setenv("HINTON_DATA_DIR", str(tmp_path / "data"))
    assert len(mnist_data.load_mnist("tiny", download=False).y_train) == 30


def corrupt(tiny, name, data):
    files = dict(tiny)
    files[name] = data
    return files


@pytest.mark.parametrize("name, make_bad, message", [
    ("train-images-idx3-ubyte", lambda d: b"\x00\x00\x08\x01" + d[4:], "bad IDX magic number 0x00000801"),
    ("t10k-labels-idx1-ubyte", lambda d: d[:-3], "truncated or corrupt"),
    ("train-images-idx3-ubyte", lambda d: d[:8], "too short for an IDX header"),
    ("t10k-images-idx3-ubyte", lambda d: d[:-1] + bytes([d[-1] ^ 1]), "SHA-256 mismatch"),
])
def test_bad_files_give_an_error_naming_the_file(tiny, tmp_path, name, make_bad, message):
    folder = write_files(tmp_path / "data", corrupt(tiny, name, make_bad(tiny[name])), gz=False)
    with pytest.raises(mnist_data.DataError, match=message) as err:
        mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    assert name in str(err.value)
    assert name not in cache_files()  # a bad file is never cached


def test_image_and_label_counts_must_agree(tiny, tmp_path, monkeypatch):
    files = corrupt(tiny, "train-labels-idx1-ubyte", idx_bytes(np.arange(29) % 10))
    monkeypatch.setitem(mnist_data.DATASETS["tiny"]["sha256"], "train-labels-idx1-ubyte",
                        hashlib.sha256(files["train-labels-idx1-ubyte"]).hexdigest())
    folder = write_files(tmp_path / "data", files, gz=False)
    with pytest.raises(mnist_data.DataError, match="has 30 images but train-labels-idx1-ubyte has 29"):
        mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)


def test_not_gzip_is_reported(tiny, tmp_path):
    folder = write_files(tmp_path / "data", tiny, gz=False)
    os.rename(folder / "train-labels-idx1-ubyte", folder / "train-labels-idx1-ubyte.gz")
    with pytest.raises(mnist_data.DataError, match=r"train-labels-idx1-ubyte.gz: not a valid gzip"):
        mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)


def test_offline_and_no_files_gives_one_clear_message(tiny, tmp_path):
    (tmp_path / "nowhere").mkdir()  # a data folder without the files
    with pytest.raises(mnist_data.DataError) as err:
        mnist_data.load_mnist("tiny", data_dir=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert "\n" not in message
    for part in ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "nowhere", "--data-dir",
                 "HINTON_DATA_DIR", mnist_data.cache_dir("tiny"), "127.0.0.1:9"]:
        assert part in message
    assert cache_files() == []  # nothing partial left behind


def test_corrupt_cached_copy_is_deleted_and_replaced(tiny, tmp_path):
    folder = write_files(tmp_path / "data", tiny, gz=True)
    mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    cached = os.path.join(mnist_data.cache_dir("tiny"), "train-labels-idx1-ubyte")
    with open(cached, "r+b") as f:
        f.seek(20)
        f.write(b"\x07")
    data = mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    assert list(data.y_train[:10]) == list(range(10))
    with open(cached, "rb") as f:
        assert f.read() == tiny["train-labels-idx1-ubyte"]


class Mirror(http.server.BaseHTTPRequestHandler):
    """Serves ``routes`` {path: bytes}; a path in ``cut_short`` sends half its body, then hangs up."""
    routes, cut_short = {}, set()

    def do_GET(self):
        body = self.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if self.path in self.cut_short else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Mirror.routes, Mirror.cut_short = {}, set()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_falls_through_mirrors_and_caches(tiny, mirror, monkeypatch):
    good, bad, short = mirror + "/good/", mirror + "/bad/", mirror + "/short/"
    for name, data in tiny.items():
        Mirror.routes["/good/" + name + ".gz"] = gzip.compress(data, mtime=0)
        Mirror.routes["/bad/" + name + ".gz"] = gzip.compress(data[:-1] + b"\x01")
        Mirror.routes["/short/" + name + ".gz"] = gzip.compress(data)
        Mirror.cut_short.add("/short/" + name + ".gz")
    monkeypatch.setitem(mnist_data.DATASETS["tiny"], "mirrors", [mirror + "/missing/", bad, short, good])
    data = mnist_data.load_mnist("tiny")
    assert len(data.y_train) == 30
    assert cache_files() == sorted(tiny)  # only the four verified files: no partial, no bad copy
    for name, content in tiny.items():
        with open(os.path.join(mnist_data.cache_dir("tiny"), name), "rb") as f:
            assert f.read() == content


def test_download_with_only_bad_mirrors_leaves_cache_clean(tiny, mirror, monkeypatch):
    for name, data in tiny.items():
        Mirror.routes["/bad/" + name + ".gz"] = gzip.compress(data[:-1] + b"\x01")
        Mirror.routes["/short/" + name + ".gz"] = gzip.compress(data)
        Mirror.cut_short.add("/short/" + name + ".gz")
    monkeypatch.setitem(mnist_data.DATASETS["tiny"], "mirrors", [mirror + "/bad/", mirror + "/short/"])
    with pytest.raises(mnist_data.DataError) as err:
        mnist_data.load_mnist("tiny")
    assert "SHA-256 mismatch" in str(err.value) and "/bad/train-images-idx3-ubyte.gz" in str(err.value)
    assert cache_files() == []


def test_unknown_dataset():
    with pytest.raises(mnist_data.DataError, match="unknown dataset 'kmnist'"):
        mnist_data.load_mnist("kmnist")


def run_cli(*args, **env):
    return subprocess.run([sys.executable, os.path.join(ROOT, "mnist_data.py"), *args],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def test_check_cli_reports_missing_files_in_one_line_without_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("--check", "--no-download", "--data-dir", str(tmp_path / "empty"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "mnist files missing" in errors[0] and "download: switched off" in errors[0]


@pytest.mark.parametrize("args, code, message", [
    (["--check", "--data-dir", ""], 1, "error: --data-dir '' names no folder"),
    (["--check", "--dataset", "kmnist"], 2, "argument --dataset: invalid choice: 'kmnist'"),
    (["--check", "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
    ([], 2, "the following arguments are required: --check"),
])
def test_check_cli_bad_input_is_one_line_and_a_nonzero_exit(args, code, message, tmp_path):
    """An empty --data-dir is a folder named but missing, not "not given"; a bad flag is one line, not a usage dump."""
    result = run_cli(*args, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert result.returncode == code and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "cache").exists()


def test_an_empty_data_dir_is_an_error_in_every_script_too(tmp_path):
    with pytest.raises(mnist_data.DataError, match="--data-dir '' names no folder"):
        mnist_data.load_mnist("mnist", data_dir="")


@pytest.mark.parametrize("make, kind", [(os.makedirs, "a folder"), (os.mkfifo, "a FIFO")])
def test_cache_entry_that_is_not_a_regular_file_is_refused_and_left_in_place(make, kind, tiny, tmp_path):
    """Never read (a FIFO would block the run), removed or replaced: one line naming it."""
    folder = write_files(tmp_path / "data", tiny, gz=True)
    entry = os.path.join(mnist_data.cache_dir("tiny"), "train-labels-idx1-ubyte")
    os.makedirs(os.path.dirname(entry))
    make(entry)
    with pytest.raises(mnist_data.DataError, match=f"{re.escape(entry)} is {kind}, not a regular file; the data "
                                                   "cache holds only verified copies"):
        mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    assert mnist_data.special_file(entry) == kind


def test_data_dir_file_that_is_a_fifo_is_refused_not_read(tiny, tmp_path):
    folder = write_files(tmp_path / "data", tiny, gz=True)
    os.remove(folder / "train-images-idx3-ubyte.gz")
    os.mkfifo(folder / "train-images-idx3-ubyte.gz")
    with pytest.raises(mnist_data.DataError, match="train-images-idx3-ubyte.gz is a FIFO, not a regular file"):
        mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)


def test_special_file_names_what_stands_there(tmp_path):
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "fifo", tmp_path / "to-fifo")
    os.symlink(tmp_path / "file", tmp_path / "to-file")
    os.symlink(tmp_path / "nothing", tmp_path / "dangling")
    kinds = {name: mnist_data.special_file(str(tmp_path / name))
             for name in ("file", "to-file", "missing", "fifo", "to-fifo", "dangling")}
    assert kinds == {"file": None, "to-file": None, "missing": None, "fifo": "a FIFO",
                     "to-fifo": "a symlink to a FIFO", "dangling": "a broken symlink"}
    assert mnist_data.special_file(str(tmp_path)) == "a folder" and mnist_data.special_file("/dev/null") == "a device"
    with pytest.raises(FileExistsError, match="a FIFO stands where the file should go"):
        mnist_data.write_atomically(str(tmp_path / "fifo"), b"x")  # the last guard, behind every check
    assert mnist_data.special_file(str(tmp_path / "fifo")) == "a FIFO" and sorted(os.listdir(tmp_path)) == [
        "dangling", "fifo", "file", "to-fifo", "to-file"]


def test_unreadable_cache_file_in_a_read_only_cache_is_ignored(tiny, tmp_path, monkeypatch, capsys):
    folder = write_files(tmp_path / "data", tiny, gz=True)
    mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)  # fills the cache
    cached = os.path.join(mnist_data.cache_dir("tiny"), "train-images-idx3-ubyte")
    real_open = open

    def no_permission(path, *args, **kwargs):  # tests may run as root, where chmod 000 still reads
        if str(path) == cached:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    def read_only(path):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(mnist_data, "open", no_permission, raising=False)
    monkeypatch.setattr(mnist_data.os, "remove", read_only)
    data = mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    assert data.x_train.shape == (30, 784)
    err = capsys.readouterr().err
    assert "cannot read (Permission denied)" in err and "ignoring it (cannot remove it" in err


def test_cache_home_that_is_a_file_only_costs_the_cache(tiny, tmp_path, monkeypatch, capsys):
    (tmp_path / "not-a-folder").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    folder = write_files(tmp_path / "data", tiny, gz=True)
    assert len(mnist_data.load_mnist("tiny", data_dir=str(folder)).y_test) == 12
    assert "could not cache" in capsys.readouterr().err
    with pytest.raises(mnist_data.DataError, match="files missing"):  # and a download fails cleanly
        mnist_data.load_mnist("tiny", data_dir=str(tmp_path))


def test_data_dir_that_does_not_exist_is_an_error_even_with_the_data_cached(tiny, tmp_path):
    folder = write_files(tmp_path / "data", tiny, gz=True)
    mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)  # fills the cache
    with pytest.raises(mnist_data.DataError, match=r"nowhere \(--data-dir or HINTON_DATA_DIR\) does not exist"):
        mnist_data.load_mnist("tiny", data_dir=str(tmp_path / "nowhere"), download=False)


def test_data_dir_that_is_a_file_or_unreadable_is_one_line_and_no_download(tiny, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(mnist_data.DataError, match="is not a folder this user can read"):
        mnist_data.load_mnist("tiny", data_dir=str(tmp_path / "file"))
    folder = write_files(tmp_path / "data", tiny, gz=True)
    monkeypatch.setattr(mnist_data.os, "access", lambda path, mode: str(path) != str(folder))
    with pytest.raises(mnist_data.DataError, match="is not a folder this user can read"):
        mnist_data.load_mnist("tiny", data_dir=str(folder))


def test_unreadable_gz_says_so_not_that_it_is_bad_gzip(tiny, tmp_path, monkeypatch):
    folder = write_files(tmp_path / "data", tiny, gz=True)

    def no_permission(path, mode="rb"):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(mnist_data.gzip, "open", no_permission)
    with pytest.raises(mnist_data.DataError, match=r"\.gz: cannot read \(Permission denied\)"):
        mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)


def test_validation_split_is_fixed_stratified_and_disjoint():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 3000)
    x = np.arange(3000, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)  # row i holds i
    data = mnist_data.Dataset(x, y, -np.ones((7, 4), np.float32), np.arange(7) % 10)
    held = mnist_data.with_validation(data, "validation", share=1 / 6)
    kept = mnist_data.with_validation(data, "test", share=1 / 6)
    train_rows, val_rows = set(held.x_train[:, 0].astype(int)), set(held.x_test[:, 0].astype(int))
    assert not train_rows & val_rows and len(train_rows | val_rows) == 3000  # disjoint, nothing lost
    assert abs(len(val_rows) - 500) <= 5
    for c in range(10):  # each class gives its share
        assert abs(np.mean(held.y_test == c) - np.mean(y == c)) < 0.01
    again = mnist_data.with_validation(data, "validation", share=1 / 6)
    assert np.array_equal(again.x_test, held.x_test)  # the same split every time
    assert np.array_equal(kept.x_train, held.x_train) and np.array_equal(kept.x_test, data.x_test)
    assert not np.isin(-1, held.x_test)  # in validation mode the test set is not there at all


@pytest.mark.parametrize("evaluate_on", ["test", "validation"])
def test_split_on_the_bytes_equals_split_on_the_floats(tiny, tmp_path, monkeypatch, evaluate_on):
    """load_mnist(evaluate_on=...) splits before converting; the result must be the same arrays."""
    rng = np.random.default_rng(1)
    files = dict(tiny)  # 12 training images of each digit, so that 2 of each are held out
    files["train-images-idx3-ubyte"] = idx_bytes(rng.integers(0, 256, (120, 28, 28)))
    files["train-labels-idx1-ubyte"] = idx_bytes(np.arange(120) % 10)
    sha256 = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setitem(mnist_data.DATASETS, "tiny", {**mnist_data.DATASETS["tiny"], "sha256": sha256})
    folder = write_files(tmp_path / "data", files, gz=False)
    full = mnist_data.load_mnist("tiny", data_dir=str(folder), download=False)
    split = mnist_data.load_mnist("tiny", data_dir=str(folder), download=False, evaluate_on=evaluate_on)
    expected = mnist_data.with_validation(full, evaluate_on)
    assert len(split.y_train) == 100
    for got, want in zip(split, expected):
        assert got.dtype == want.dtype and np.array_equal(got, want)
