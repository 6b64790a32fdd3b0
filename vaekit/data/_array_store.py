"""A data set on disk as one ``.npy`` file per named array plus a JSON manifest.

:func:`write_arrays` writes arrays (or an iterable of chunks, for data larger than memory)
through ``np.lib.format.open_memmap``; :func:`open_arrays` maps them back read-only, so a
training input pipeline (:mod:`vaekit.data.stream`) reads only the rows it needs. Plain
``.npy`` files of plain numeric data (no Python objects): any NumPy reads them with
``np.load(path, mmap_mode="r", allow_pickle=False)``.

Layout of ``directory``::

    manifest.json    {"format": "vaekit.arrays", "version": 1, "num_examples": N,
                      "arrays": {"x": {"file": "x.npy", "shape": [N, 64, 64, 1],
                                       "dtype": "|u1"}, ...}}
    x.npy            (N, 64, 64, 1) uint8
    ...

Example:
  >>> import tempfile, numpy as np
  >>> path = tempfile.mkdtemp() + "/set"
  >>> _ = write_arrays(path, {"x": np.zeros((10, 8, 8, 1), np.uint8),
  ...                         "y": np.arange(10)})
  >>> arrays = open_arrays(path)
  >>> arrays["x"].shape, arrays["x"].dtype, type(arrays["y"]).__name__
  ((10, 8, 8, 1), dtype('uint8'), 'memmap')
"""

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from vaekit._checks import check_int

MANIFEST = "manifest.json"
FORMAT = "vaekit.arrays"
FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class ArrayStoreError(ValueError):
    """A stored data set that is missing, truncated or does not match its manifest.

    The message names the file (or directory) at fault.
    """


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".json"):
        raise ValueError(
            f"`arrays` keys must be file-name-safe strings (letters, digits, '_', '.', '-'; "
            f"not starting with '.' or '-'), got {name!r}."
        )
    return name


def _check_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if dtype.hasobject or dtype.kind == "V":
        raise ValueError(
            f"`arrays[{name!r}]` has dtype {dtype}, which holds Python objects; "
            "use a numeric or bool dtype."
        )
    return dtype


def _spec_of(chunk: Mapping[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{name: (row shape, dtype)}`` of a first chunk, validated."""
    if not isinstance(chunk, Mapping) or not chunk:
        raise ValueError(f"`arrays` must be a non-empty mapping of arrays, got {chunk!r}.")
    spec = {}
    for name, value in chunk.items():
        array = np.asarray(value)
        if array.ndim < 1:
            raise ValueError(f"`arrays[{name!r}]` must have a leading example axis, got a scalar.")
        spec[_check_name(name)] = (array.shape[1:], _check_dtype(name, array.dtype))
    return spec


def _chunk_rows(chunk: Mapping[str, np.ndarray], spec: dict, index: int) -> int:
    """Rows of one chunk; raises naming the chunk if it does not match ``spec``."""
    if not isinstance(chunk, Mapping) or set(chunk) != set(spec):
        got = sorted(chunk) if isinstance(chunk, Mapping) else type(chunk).__name__
        raise ValueError(f"`arrays` chunk {index} has keys {got}, expected {sorted(spec)}.")
    lengths = set()
    for name, value in chunk.items():
        array = np.asarray(value)
        row_shape, dtype = spec[name]
        if array.ndim < 1 or array.shape[1:] != row_shape or array.dtype != dtype:
            raise ValueError(
                f"`arrays` chunk {index}: {name!r} has shape {array.shape} and dtype "
                f"{array.dtype}, expected (rows, {', '.join(map(str, row_shape))}) {dtype}."
            )
        lengths.add(array.shape[0])
    if len(lengths) != 1:
        raise ValueError(f"`arrays` chunk {index}: arrays differ in length ({sorted(lengths)}).")
    return lengths.pop()


def _chunks(arrays: object) -> tuple[Iterator[Mapping[str, np.ndarray]], bool]:
    """``(iterator of chunks, whether arrays was a single mapping)``."""
    if isinstance(arrays, Mapping):
        return iter([arrays]), True
    if isinstance(arrays, Iterable) and not isinstance(arrays, str | bytes | np.ndarray):
        return iter(arrays), False
    raise ValueError(
        f"`arrays` must be a mapping of arrays or an iterable of such chunks, got "
        f"{type(arrays).__name__}."
    )


def _write_into(tmp: Path, arrays: object, num_examples: int | None) -> dict:
    """Writes the ``.npy`` files of all chunks into ``tmp``; returns the manifest."""
    chunks, single = _chunks(arrays)
    first = next(chunks, None)
    if first is None:
        raise ValueError("`arrays` is an empty iterable: no chunk to write.")
    spec = _spec_of(first)
    if single:
        num_examples = _chunk_rows(first, spec, 0)
    elif num_examples is None:
        raise ValueError("`num_examples` (the total rows) is required when `arrays` is an "
                         "iterable of chunks.")
    n = check_int(num_examples, "num_examples", minimum=0)
    outs = {name: np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=dtype,
                                            shape=(n, *row_shape))
            for name, (row_shape, dtype) in spec.items()}
    written = 0
    for index, chunk in enumerate(_prepend(first, chunks)):
        rows = _chunk_rows(chunk, spec, index)
        if written + rows > n:
            raise ValueError(f"`arrays` holds more than `num_examples` = {n} rows.")
        for name, out in outs.items():
            out[written:written + rows] = np.asarray(chunk[name])
        written += rows
    if written != n:
        raise ValueError(f"`arrays` holds {written} rows, but `num_examples` = {n}.")
    for out in outs.values():
        out.flush()
    del outs
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "num_examples": n,
        "arrays": {name: {"file": f"{name}.npy", "shape": [n, *row_shape], "dtype": dtype.str}
                   for name, (row_shape, dtype) in spec.items()},
    }


def _prepend(first: Mapping, rest: Iterator[Mapping]) -> Iterator[Mapping]:
    yield first
    yield from rest


def write_arrays(
    directory: str | os.PathLike,
    arrays: Mapping[str, np.ndarray] | Iterable[Mapping[str, np.ndarray]],
    *,
    num_examples: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes named, equally long arrays to ``directory`` (one ``.npy`` each + manifest).

    ``arrays`` is either one mapping ``{name: (N, ...) array}`` or an iterable of such chunks
    (same names, row shapes and dtypes; any row counts) whose rows are written one chunk at a
    time into memory-mapped files, so a data set larger than memory never has to be in
    memory; then ``num_examples`` (the total rows) is required. Dtypes are kept (uint8
    images stay uint8). Atomic: everything is written to a temporary directory next to
    ``directory`` and renamed into place, so a crash leaves no half-written data set.

    Args:
      directory: the data set's directory (its parent is created if needed).
      arrays: ``{name: array}`` or an iterable of ``{name: chunk}``.
      num_examples: total rows over all chunks (required for an iterable of chunks).
      overwrite: replace an existing ``directory``; otherwise it is an error.

    Returns:
      the data set's directory, resolved.

    Example:
      >>> import tempfile, numpy as np
      >>> path = tempfile.mkdtemp() + "/chunked"
      >>> chunks = ({"x": np.full((4, 2), i, np.uint8)} for i in range(3))
      >>> _ = write_arrays(path, chunks, num_examples=12)
      >>> open_arrays(path)["x"][:, 0].tolist()
      [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    """
    target = Path(directory).resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"`directory` {target} already exists; pass overwrite=True.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        manifest = _write_into(tmp, arrays, num_examples)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _replace(tmp: Path, target: Path) -> None:
    """Renames ``tmp`` to ``target``, moving an existing ``target`` aside first."""
    if not target.exists():
        os.rename(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, old / "data")
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _entry_ok(name: object, entry: object) -> bool:
    return (isinstance(name, str) and isinstance(entry, dict)
            and entry.get("file") == f"{name}.npy" and _NAME.match(name) is not None
            and isinstance(entry.get("shape"), list) and isinstance(entry.get("dtype"), str))


def read_manifest(directory: str | os.PathLike) -> dict:
    """The validated manifest of a data set written by :func:`write_arrays`.

    Raises:
      ArrayStoreError: naming the manifest when it is missing, not JSON, or not a
        version this vaekit reads.
    """
    path = Path(directory).resolve() / MANIFEST
    if not path.is_file():
        raise ArrayStoreError(f"no data set manifest {path} (write the data set with "
                              "vaekit.data.write_arrays).")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArrayStoreError(f"data set manifest {path} cannot be read: {err}") from None
    ok = (isinstance(manifest, dict) and manifest.get("format") == FORMAT
          and isinstance(manifest.get("arrays"), dict) and manifest["arrays"]
          and isinstance(manifest.get("num_examples"), int))
    if ok:
        ok = all(_entry_ok(name, entry) for name, entry in manifest["arrays"].items())
    if not ok:
        raise ArrayStoreError(f"{path} is not a vaekit data set manifest.")
    if manifest.get("version") != FORMAT_VERSION:
        raise ArrayStoreError(f"data set manifest {path} has format version "
                              f"{manifest.get('version')!r}; this vaekit reads {FORMAT_VERSION}.")
    return manifest


def _open_one(path: Path, entry: dict) -> np.memmap:
    """Read-only memory map of one ``.npy``, checked against its manifest entry."""
    if not path.is_file():
        raise ArrayStoreError(f"data set file {path} is missing.")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ArrayStoreError(f"data set file {path} is truncated or not a .npy file "
                              f"({err}).") from None
    shape, dtype = tuple(entry["shape"]), np.dtype(entry["dtype"])
    if array.shape != shape or array.dtype != dtype:
        raise ArrayStoreError(
            f"data set file {path} holds {array.shape} {array.dtype}, but the manifest says "
            f"{shape} {dtype}."
        )
    expected = array.offset + array.nbytes
    if path.stat().st_size < expected:
        raise ArrayStoreError(f"data set file {path} is truncated ({path.stat().st_size} of "
                              f"{expected} bytes).")
    return array


def open_arrays(directory: str | os.PathLike) -> dict[str, np.memmap]:
    """Read-only memory maps ``{name: (N, ...) np.memmap}`` of a :func:`write_arrays` set.

    Nothing is read until rows are indexed; indexing a row reads just that row. Every file is
    checked against the manifest (present, shape, dtype, size) before anything is returned.

    Raises:
      ArrayStoreError: naming the file when the manifest or an array file is missing,
        truncated, or disagrees with the manifest.
    """
    root = Path(directory).resolve()
    manifest = read_manifest(root)
    out = {}
    for name, entry in manifest["arrays"].items():
        array = _open_one(root / entry["file"], entry)
        if array.shape[:1] != (manifest["num_examples"],):
            raise ArrayStoreError(
                f"data set file {root / entry['file']} has {array.shape[0]} rows, but the "
                f"manifest says num_examples = {manifest['num_examples']}."
            )
        out[name] = array
    return out
