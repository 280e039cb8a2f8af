"""MNIST and Fashion-MNIST, verified and cached: the one place datasets come from.

    x_train, y_train, x_test, y_test = load_mnist("mnist", data_dir=None)
    data = load_mnist("mnist", evaluate_on="validation")  # 50,000 to train on; 10,001 held out

Images are float32 in [0, 1], shape (N, 784); labels are int64.  Each of the
four IDX files is looked for, in this order:

1. the verified uncompressed copy in the per-user cache
   ($XDG_CACHE_HOME/hinton-mnist/<dataset>/, default ~/.cache/...);
2. an explicit folder: the ``data_dir`` argument (``--data-dir`` in every
   script), else the HINTON_DATA_DIR environment variable.  The folder may
   hold the files themselves or a <dataset>/ subfolder; .gz or uncompressed.
   A folder named but missing is an error even when the cache has the files,
   so a mistyped path never goes unnoticed;
3. a download from the public mirrors into the cache.

Every copy is checked against the SHA-256 of the *decompressed* official
file, so all copies that pass are the same bytes (which is why the cached
copy may come first: it is simply the fastest to read) and a recompressed
.gz is still accepted.  Downloads go to a temporary file that is renamed into
place only after the check, so the cache never holds a partial or bad file.
IDX headers are validated (magic number, dimensions, length, image/label
counts).  Problems raise ``DataError`` with a one-line message that names the
file; scripts print it and exit non-zero.

    python mnist_data.py --check [--dataset fashion-mnist] [--data-dir DIR] [--no-download]
"""

import argparse
import errno
import gzip
import hashlib
import http.client
import os
import stat
import struct
import sys
import tempfile
import time
import urllib.request
import zlib
from typing import NamedTuple

import numpy as np

ENV_VAR = "HINTON_DATA_DIR"
SIDE = 28  # images are SIDE x SIDE
PIXELS = SIDE * SIDE
# Of the training images, held out for choosing recipes (10,001 of MNIST's 60,000: a sixth of each class, rounded).
VALIDATION_SHARE = 1 / 6
VALIDATION_SEED = 1000    # fixed: the split is the same in every run
DOWNLOAD_TIMEOUT = 30  # seconds per request

SPLIT_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

DATASETS = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "sha256": {  # of the decompressed files
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    },
    "fashion-mnist": {
        "mirrors": [
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "sha256": {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    },
}


class DataError(Exception):
    """A data problem, explained in one line for the person running the script."""


class Dataset(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def cache_dir(dataset):
    """Per-user cache folder for one dataset (honours XDG_CACHE_HOME)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "hinton-mnist", dataset)


def load_mnist(dataset="mnist", data_dir=None, download=True, evaluate_on=None):
    """Load a dataset's train and test splits (see the module docstring); with ``evaluate_on``
    ("test" or "validation"), split off the validation images as ``with_validation`` does.  The
    split is made on the bytes, before the conversion to float32: a quarter of the copying."""
    raw = load_idx_files(dataset, data_dir, download)
    splits = []
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        images = parse_idx(raw[images_name], images_name, ndim=3)
        labels = parse_idx(raw[labels_name], labels_name, ndim=1)
        if images.shape[1:] != (SIDE, SIDE):
            raise DataError(f"{images_name}: images are {images.shape[1]}x{images.shape[2]}, "
                            f"expected {SIDE}x{SIDE}")
        if len(images) != len(labels):
            raise DataError(f"{split} split: {images_name} has {len(images)} images "
                            f"but {labels_name} has {len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise DataError(f"{labels_name}: label {labels.max()} is not a digit class 0-9")
        splits += [images.reshape(len(images), PIXELS), labels.astype(np.int64)]
    data = Dataset(*splits)
    if evaluate_on:
        data = with_validation(data, evaluate_on)
    return data._replace(x_train=to_unit(data.x_train), x_test=to_unit(data.x_test))


def to_unit(pixels):
    """Bytes 0-255 to float32 in [0, 1].  Cast, then divide in place: two fast loops (measured 8x
    faster than one np.divide with dtype=float32, which casts through a buffer)."""
    x = pixels.astype(np.float32)
    np.divide(x, np.float32(255), out=x)
    return x


def with_validation(data, evaluate_on="test", share=VALIDATION_SHARE):
    """``data`` with a ``share`` of its training images held out (fixed, and class-stratified:
    each class gives that share of its images), so that no network trains on them.  ``evaluate_on=
    "validation"`` puts them where the test set was (and drops the test set, so choosing a
    recipe cannot even read it); ``"test"`` keeps the test set for the final report."""
    rng = np.random.default_rng(VALIDATION_SEED)
    held_out = np.zeros(len(data.y_train), bool)
    for c in np.unique(data.y_train):
        rows = np.flatnonzero(data.y_train == c)
        held_out[rng.permutation(rows)[:round(share * len(rows))]] = True
    x_eval, y_eval = ((data.x_train[held_out], data.y_train[held_out]) if evaluate_on == "validation"
                      else (data.x_test, data.y_test))
    return Dataset(data.x_train[~held_out], data.y_train[~held_out], x_eval, y_eval)


def parse_idx(raw, name, ndim):
    """Validate an IDX file of unsigned bytes and view its payload as an array."""
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{name}: {len(raw)} bytes is too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != 0x0800 + ndim:
        raise DataError(f"{name}: bad IDX magic number 0x{magic:08x} "
                        f"(expected 0x{0x0800 + ndim:08x} for {ndim}-d unsigned bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{name}: file is {len(raw)} bytes but its header {dims} needs {expected} "
                        "(truncated or corrupt)")
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_idx_files(dataset, data_dir=None, download=True):
    """Return {file name: verified decompressed bytes} for the dataset's four files."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    spec = DATASETS[dataset]
    if data_dir == "":
        raise DataError("--data-dir '' names no folder: give the folder holding the IDX files, or leave the flag out")
    folder = data_dir or os.environ.get(ENV_VAR) or None
    if folder:
        if not os.path.exists(folder):
            raise DataError(f"{folder} (--data-dir or {ENV_VAR}) does not exist")
        if not (os.path.isdir(folder) and os.access(folder, os.R_OK | os.X_OK)):
            raise DataError(f"{folder} (--data-dir or {ENV_VAR}) is not a folder this user can read")
    cache = cache_dir(dataset)
    found, missing, download_errors = {}, [], []
    for name in [n for pair in SPLIT_FILES.values() for n in pair]:
        expected = spec["sha256"][name]
        data = _read_cached(cache, name, expected)
        if data is None and folder:
            data = _read_local(folder, dataset, name, expected)
            if data is not None:
                _cache(cache, name, data)
        if data is None and download and not download_errors:
            data, download_errors = _download(spec["mirrors"], cache, name, expected)
        if data is None:
            missing.append(name)
        else:
            found[name] = data
    if missing:
        looked = [f"--data-dir/{ENV_VAR}: {folder}" if folder else f"no --data-dir or {ENV_VAR} given",
                  f"cache: {cache}"]
        looked.append("download: " + ("; ".join(download_errors) if download else "switched off"))
        raise DataError(
            f"{dataset} files missing: {', '.join(missing)} (looked in {'; '.join(looked)}). "
            f"Supply them with --data-dir DIR or {ENV_VAR}=DIR, a folder holding the four "
            "IDX files (.gz or uncompressed)")
    return found


def _verify(data, name, expected, source):
    """The IDX header first (its errors say more than a checksum mismatch), then the SHA-256."""
    try:
        parse_idx(data, name, ndim=3 if "images" in name else 1)
    except DataError as err:
        raise DataError(str(err).replace(name, source, 1)) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise DataError(f"{source}: SHA-256 mismatch (got {digest[:16]}..., expected "
                        f"{expected[:16]}...); the file is corrupt or from another dataset")


def _read_cached(cache, name, expected):
    """The verified cached copy, or None.  A cached copy that cannot be read or fails the
    check only costs speed: it is removed (or, if that fails too, ignored) with a warning.
    Something else where the copy should be (a device, a FIFO, a folder) is never read,
    removed or replaced: it stops the run, named."""
    path = os.path.join(cache, name)
    if not os.path.lexists(path):
        return None
    refuse_special(path, "the data cache holds only verified copies of the IDX files")
    try:
        data = _read(path)
        _verify(data, name, expected, path)
        return data
    except DataError as err:
        try:
            os.remove(path)
            print(f"warning: {err}; removed it", file=sys.stderr)
        except OSError as remove_err:
            print(f"warning: {err}; ignoring it (cannot remove it: {remove_err.strerror})", file=sys.stderr)
    return None


def _read_local(folder, dataset, name, expected):
    """The file from a user-given folder (plain or .gz, directly or in <dataset>/), or None."""
    for base in (os.path.join(folder, dataset), folder):
        for path in (os.path.join(base, name), os.path.join(base, name + ".gz")):
            if os.path.exists(path):
                data = _decompress(path) if path.endswith(".gz") else _read(path)
                _verify(data, name, expected, path)
                return data
    return None


def _read(path):
    refuse_special(path, "--data-dir must hold the IDX files themselves")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None


def _decompress(path):
    refuse_special(path, "--data-dir must hold the IDX files themselves")
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a valid gzip file ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None


def _download(mirrors, cache, name, expected):
    """Try each mirror in turn; returns (data or None, [reasons the mirrors failed])."""
    errors = []
    for mirror in mirrors:
        url = mirror + name + ".gz"
        fd, partial = tempfile.mkstemp(prefix=f"{name}.", suffix=".gz.partial")  # outside the cache
        try:
            print(f"downloading {url}", file=sys.stderr)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            data = _decompress(partial)
            _verify(data, name, expected, url)
            _cache(cache, name, data)
            return data, []
        except DataError as err:
            errors.append(str(err))
        except (OSError, http.client.HTTPException) as err:  # no network, HTTP error, timeout, cut short
            errors.append(f"{url}: {getattr(err, 'reason', None) or err!r}")
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    return None, errors


def special_file(path):
    """What stands at ``path`` if it is not a regular file: "a folder", "a device", "a FIFO", "a socket",
    "a symlink to a device" and so on, "a broken symlink"; None for a regular file or nothing at all.  Nothing here
    ever reads one (a FIFO blocks, a device never ends) or replaces one (a rename over /dev/null would
    remove the machine's /dev/null)."""
    if not os.path.lexists(path):
        return None
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken symlink"
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"a symlink to {kind}" if os.path.islink(path) else kind


def refuse_special(path, hint):
    """A DataError naming ``path`` if it is not a regular file (special_file)."""
    kind = special_file(path)
    if kind:
        raise DataError(f"{path} is {kind}, not a regular file; {hint}")


def write_atomically(path, data):
    """Write bytes to a temporary file in the same folder, then rename: a reader
    (or a crash) never sees a partial file, and the temporary never stays behind."""
    write_all_or_nothing({path: data})


def write_all_or_nothing(files):
    """Write {path: bytes}: every file to a temporary name beside it first, renamed only once all are
    written, so a failure (a full disk, a folder where a file should go) leaves none of them changed."""
    for path in files:
        kind = special_file(path)
        if kind:
            raise FileExistsError(errno.EEXIST, f"{kind} stands where the file should go", path)
    temporaries = {}
    try:
        for path, data in files.items():
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            fd, temporaries[path] = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                                     suffix=".partial")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(temporaries[path], 0o644)  # mkstemp makes it private; nothing here is secret
        for path, tmp in temporaries.items():
            os.replace(tmp, path)
    finally:
        for tmp in temporaries.values():
            if os.path.exists(tmp):
                os.remove(tmp)


def _cache(folder, name, data):
    """Keep a verified copy in the cache; an unwritable cache only costs speed next time."""
    try:
        write_atomically(os.path.join(folder, name), data)
    except OSError as err:
        print(f"warning: could not cache {name} in {folder}: {err.strerror}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """Every script's parser: a bad flag is one line (no usage block) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv=None):
    parser = Parser(description="Verify and summarise the MNIST / Fashion-MNIST files.")
    parser.add_argument("--check", action="store_true", required=True,
                        help="verify the files and print per-split counts and class frequencies")
    parser.add_argument("--no-download", action="store_true",
                        help="only check the folder and the cache; never use the network")
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="default: %(default)s")
    parser.add_argument("--data-dir", metavar="DIR", help=f"folder with the four IDX files (default: ${ENV_VAR})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = load_mnist(args.dataset, args.data_dir, download=not args.no_download)
    seconds = time.perf_counter() - start
    print(f"{args.dataset}: all four files verified (SHA-256 of the decompressed IDX), "
          f"loaded in {seconds:.2f} s; cache {cache_dir(args.dataset)}")
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        counts = np.bincount(y, minlength=10)
        print(f"{split:5s} {len(x):6d} images {x.shape[1]} pixels, values [{x.min():.0f}, {x.max():.0f}]; "
              "per class: " + " ".join(f"{c}:{n}" for c, n in enumerate(counts)))


if __name__ == "__main__":
    try:
        main()
    except DataError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit("interrupted")
