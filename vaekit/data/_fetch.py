r"""Hash-checked file fetching with pooch, the cache directory, and atomic ``.npy`` caches.

Every data file vaekit reads from the network is a :class:`RemoteFile`: a *key* (its path
relative to the cache directory, e.g. ``"mnist/train-images-idx3-ubyte.gz"``), a URL (``None``
when the file cannot be fetched by plain HTTP, e.g. CelebA on Google Drive) and a published hash
(``"md5:..."``, ``"sha1:..."`` or ``"sha256:..."``, pooch's format).

Where files live (first that is set wins):

1. the ``data_dir`` argument,
2. the environment variable ``VAEKIT_DATA_DIR``,
3. ``pooch.os_cache("vaekit")`` (``~/.cache/vaekit`` on Linux, ``~/Library/Caches/vaekit`` on
   macOS, ``%LOCALAPPDATA%\vaekit\vaekit\Cache`` on Windows).

Offline mode (``offline=True`` or ``VAEKIT_OFFLINE=1``) never touches the network: a file must
already be in the cache and match its hash.

Mirrors: a registry override maps keys to ``{"url": ..., "hash": ...}`` (either field may be
left out to keep the default). It is read from the ``registry`` argument (a mapping, or the path
of a JSON file) and from the JSON file named by ``VAEKIT_DATA_REGISTRY``; the argument wins over
the environment, which wins over the built-in registry::

    {"mnist/train-images-idx3-ubyte.gz":
        {"url": "https://my.mirror/mnist/train-images-idx3-ubyte.gz",
         "hash": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"}}

Integrity: pooch streams a download to a temporary file *in the cache directory*, checks the
hash, and only then moves it to its final name; the temporary file is removed on any failure
(``pooch.core.stream_download``). A wrong hash, a truncated transfer or a network error is one
:class:`DatasetError` naming the file and what to do, and leaves nothing new in the cache. A
file already in the cache whose hash does not match is never used: online, pooch downloads it
again (replacing it only once the new copy verifies); offline, or when the file has no URL, it
is a :class:`DatasetError`. vaekit never deletes a file it did not write itself.

Derived arrays (the decoded CelebA crops) are cached as ``.npy`` files written to a temporary
name in the same directory and renamed into place (:func:`npy_cache`), then memory-mapped.
"""

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "DATA_DIR_ENV",
    "OFFLINE_ENV",
    "REGISTRY_ENV",
    "DatasetError",
    "RemoteFile",
    "cache_dir",
    "fetch",
    "fetch_all",
    "is_offline",
    "npy_cache",
    "read_registry_override",
    "resolve",
]

DATA_DIR_ENV = "VAEKIT_DATA_DIR"
OFFLINE_ENV = "VAEKIT_OFFLINE"
REGISTRY_ENV = "VAEKIT_DATA_REGISTRY"

_HASH = re.compile(r"^(?:(md5):([0-9a-f]{32})|(sha1):([0-9a-f]{40})|(?:sha256:)?([0-9a-f]{64}))$")


class DatasetError(ValueError):
    """A data set could not be loaded: a missing, corrupt or truncated file, or a bad argument.

    The message is one line naming the file (or the argument) and what to do about it.
    """


class RemoteFile(NamedTuple):
    """One file of a data set, as the registry knows it.

    Attributes:
        key: path relative to the cache directory, e.g. ``"cifar10/cifar-10-binary.tar.gz"``.
        url: where to download it, or ``None`` if it must be put in the cache by hand.
        hash: published checksum in pooch's ``"algorithm:hex"`` form, or ``None`` if unknown
            (then the user must supply one through a registry override).
        homepage: where a person can get the file by hand (used in error messages).
    """

    key: str
    url: str | None
    hash: str | None
    homepage: str = ""


def _one_line(text: object) -> str:
    """The first non-empty line of ``str(text)``, without trailing space."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return type(text).__name__ if isinstance(text, BaseException) else ""


def cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory vaekit caches data files in.

    ``data_dir`` if given, else ``$VAEKIT_DATA_DIR`` if set, else ``pooch.os_cache("vaekit")``.
    Nothing is created.

    Example:
        >>> from vaekit.data import cache_dir
        >>> str(cache_dir("/tmp/my-data"))
        '/tmp/my-data'
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import pooch  # lazy: the data extra is optional

    return Path(pooch.os_cache("vaekit"))


def is_offline(offline: bool | None = None) -> bool:
    """Whether to stay off the network: ``offline`` if given, else ``$VAEKIT_OFFLINE`` truthy.

    Example:
        >>> from vaekit.data._fetch import is_offline
        >>> is_offline(True)
        True
    """
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _check_hash(value: object, where: str) -> str:
    if not isinstance(value, str) or not _HASH.match(value.strip().lower()):
        raise DatasetError(
            f"{where}: hash must be 'md5:<32 hex>', 'sha1:<40 hex>' or 'sha256:<64 hex>', "
            f"got {value!r}"
        )
    return value.strip().lower()


def _read_registry_file(path: str | os.PathLike, where: str) -> Mapping[str, Any]:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        reason = _one_line(error)
        raise DatasetError(f"{where}: cannot read registry file {path}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        reason = _one_line(error)
        raise DatasetError(f"{where}: registry file {path} is not JSON: {reason}") from None
    return data


def read_registry_override(
    registry: Mapping[str, Any] | str | os.PathLike | None, known: Mapping[str, RemoteFile]
) -> dict[str, dict[str, str]]:
    """Merge the ``$VAEKIT_DATA_REGISTRY`` file and the ``registry`` argument, validated.

    Args:
        registry: a mapping ``{key: {"url": str, "hash": str}}`` (either field optional), a path
            to a JSON file holding one, or ``None``.
        known: the built-in registry; every override key must be one of its keys.

    Returns:
        ``{key: {"url": ..., "hash": ...}}`` with only the fields that were given; the argument's
        fields win over the environment file's.

    Raises:
        DatasetError: naming ``registry`` (or the environment variable) for an unreadable file,
            an unknown key or field, or a malformed hash.

    Example:
        >>> from vaekit.data._fetch import RemoteFile, read_registry_override
        >>> known = {"a/x.bin": RemoteFile("a/x.bin", "https://example.org/x.bin", None)}
        >>> read_registry_override({"a/x.bin": {"url": "http://127.0.0.1:8000/x.bin"}}, known)
        {'a/x.bin': {'url': 'http://127.0.0.1:8000/x.bin'}}
    """
    sources: list[tuple[str, Any]] = []
    env = os.environ.get(REGISTRY_ENV, "").strip()
    if env:
        sources.append((REGISTRY_ENV, _read_registry_file(env, REGISTRY_ENV)))
    if registry is not None:
        if isinstance(registry, str | os.PathLike):
            registry = _read_registry_file(registry, "registry")
        sources.append(("registry", registry))
    merged: dict[str, dict[str, str]] = {}
    for where, data in sources:
        if not isinstance(data, Mapping):
            raise DatasetError(f"{where}: must map file keys to {{'url', 'hash'}}, got {data!r}")
        for key, entry in data.items():
            if key not in known:
                from difflib import get_close_matches

                close = get_close_matches(str(key), list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise DatasetError(f"{where}: unknown file key {key!r}{hint}")
            if not isinstance(entry, Mapping) or not entry or set(entry) - {"url", "hash"}:
                raise DatasetError(
                    f"{where}[{key!r}]: must be a mapping with 'url' and/or 'hash', got {entry!r}"
                )
            fields = merged.setdefault(key, {})
            if "url" in entry:
                if not isinstance(entry["url"], str) or not entry["url"]:
                    raise DatasetError(f"{where}[{key!r}]['url']: must be a URL string")
                fields["url"] = entry["url"]
            if "hash" in entry:
                fields["hash"] = _check_hash(entry["hash"], f"{where}[{key!r}]['hash']")
    return merged


def resolve(remote: RemoteFile, overrides: Mapping[str, Mapping[str, str]]) -> RemoteFile:
    """``remote`` with the url / hash of ``overrides[remote.key]`` applied, if any.

    Example:
        >>> from vaekit.data._fetch import RemoteFile, resolve
        >>> f = RemoteFile("a/x.bin", None, None)
        >>> resolve(f, {"a/x.bin": {"url": "http://h/x.bin"}}).url
        'http://h/x.bin'
    """
    entry = overrides.get(remote.key, {})
    return remote._replace(url=entry.get("url", remote.url), hash=entry.get("hash", remote.hash))


def _how_to_get(remote: RemoteFile, path: Path) -> str:
    source = remote.url or remote.homepage or "its publisher"
    return (
        f"download it from {source} to {path} (or set {DATA_DIR_ENV}, or point "
        f"{REGISTRY_ENV} / registry= at a mirror)"
    )


def _why_manual(remote: RemoteFile) -> str:
    if remote.url is None:
        return "it cannot be downloaded automatically"
    return f"offline (offline=True or {OFFLINE_ENV}=1)"


def _hash_matches(path: Path, known_hash: str) -> bool:
    import pooch

    algorithm, _, digest = known_hash.rpartition(":")
    return pooch.file_hash(str(path), alg=algorithm or "sha256") == digest


def fetch(remote: RemoteFile, *, data_dir: str | os.PathLike | None = None,
          offline: bool | None = None) -> Path:
    """The local path of ``remote``, downloaded (hash-checked) into the cache if needed.

    Reads ``remote.key`` under :func:`cache_dir`; downloads ``remote.url`` with pooch when the
    file is missing or its hash does not match, unless offline.

    Returns:
        The path of a file whose hash matches ``remote.hash``.

    Raises:
        DatasetError: the file has no known hash; it is missing offline (or has no URL); it is
            in the cache but corrupt offline; or the download failed (network error, HTTP error,
            truncated transfer, hash mismatch). The one-line message names the file and says
            where to put it. Nothing partial is left in the cache.

    Example:
        >>> from vaekit.data import DatasetError
        >>> from vaekit.data._fetch import RemoteFile, fetch
        >>> try:
        ...     fetch(RemoteFile("demo/x.bin", None, "sha256:" + "0" * 64), data_dir="/nonexistent")
        ... except DatasetError as error:
        ...     print(str(error).split(";")[0])
        demo/x.bin: not in the cache (/nonexistent/demo/x.bin)
    """
    path = cache_dir(data_dir) / remote.key
    if remote.hash is None:
        raise DatasetError(
            f"{remote.key}: no published hash is known; confirm the file and pass "
            f"registry={{{remote.key!r}: {{'hash': 'sha256:...'}}}} (or set {REGISTRY_ENV})"
        )
    known_hash = _check_hash(remote.hash, f"{remote.key} hash")
    if is_offline(offline) or remote.url is None:
        why = _why_manual(remote)
        if not path.is_file():
            raise DatasetError(
                f"{remote.key}: not in the cache ({path}); {why}: {_how_to_get(remote, path)}"
            )
        if not _hash_matches(path, known_hash):
            raise DatasetError(
                f"{remote.key}: cached file {path} is corrupt or a different version (its hash "
                f"is not {known_hash}); delete it and {_how_to_get(remote, path)}"
            )
        return path
    import pooch
    import requests

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        local = pooch.retrieve(
            remote.url, known_hash=known_hash, fname=path.name, path=path.parent,
            progressbar=False,
        )
    except ValueError as error:  # pooch: the downloaded bytes have another hash
        raise DatasetError(
            f"{remote.key}: download from {remote.url} failed: the server sent a different "
            f"file ({_one_line(error)}); use a mirror with the published file, or "
            f"{_how_to_get(remote, path)}"
        ) from None
    except (OSError, requests.RequestException) as error:
        raise DatasetError(
            f"{remote.key}: download from {remote.url} failed ({_one_line(error)}); check your "
            f"network, or {_how_to_get(remote, path)}"
        ) from None
    return Path(local)


def fetch_all(remotes: list[RemoteFile], *, data_dir: str | os.PathLike | None = None,
              offline: bool | None = None) -> list[Path]:
    """:func:`fetch` each of ``remotes``, first reporting *every* missing by-hand file at once.

    When more than one file is missing and cannot be downloaded (offline, or no URL), one
    :class:`DatasetError` lists them all with the folder to put them in, so that the user
    does not discover them one at a time.

    Example:
        >>> from vaekit.data import DatasetError
        >>> from vaekit.data._fetch import RemoteFile, fetch_all
        >>> files = [RemoteFile(f"demo/{n}", None, "sha256:" + "0" * 64) for n in "ab"]
        >>> try:
        ...     fetch_all(files, data_dir="/nonexistent")
        ... except DatasetError as error:
        ...     print(str(error).split(";")[0])
        demo/a, demo/b: not in the cache (/nonexistent/demo)
    """
    root = cache_dir(data_dir)
    manual = [r for r in remotes if (is_offline(offline) or r.url is None) and r.hash is not None]
    missing = [r for r in manual if not (root / r.key).is_file()]
    if len(missing) > 1:
        folders = sorted({str((root / r.key).parent) for r in missing})
        sources = sorted({r.homepage or r.url or "its publisher" for r in missing})
        raise DatasetError(
            f"{', '.join(r.key for r in missing)}: not in the cache ({', '.join(folders)}); "
            f"{_why_manual(missing[0])}: download them from {' / '.join(sources)} into "
            f"{', '.join(folders)} (or set {DATA_DIR_ENV}, or point {REGISTRY_ENV} / registry= "
            "at a mirror)"
        )
    return [fetch(remote, data_dir=data_dir, offline=offline) for remote in remotes]


def npy_cache(
    path: Path, shape: tuple[int, ...], dtype: np.dtype | type, fill: Callable[[np.ndarray], None]
) -> np.ndarray:
    """A read-only memory map of the ``.npy`` at ``path``, built with ``fill`` if missing.

    When ``path`` does not exist, a writable ``(shape, dtype)`` memory map is created under a
    temporary name in the same directory, passed to ``fill`` (which writes every element),
    flushed, and renamed to ``path`` (atomic on POSIX and Windows): a crash mid-way leaves no
    ``path``, only a stray ``*.tmp`` that the next build ignores and a failed build removes.

    Raises:
        DatasetError: if the existing file is unreadable or has another shape / dtype (its
            message says to delete it).

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from vaekit.data._fetch import npy_cache
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "ones.npy"
        >>> int(npy_cache(target, (2, 3), np.uint8, lambda out: out.fill(1)).sum())
        6
    """
    dtype = np.dtype(dtype)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        os.close(handle)
        tmp = Path(tmp_name)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            fill(out)
            out.flush()
            del out
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"{path}: unreadable cache file ({_one_line(error)}); delete it to rebuild it"
        ) from None
    if array.shape != tuple(shape) or array.dtype != dtype:
        raise DatasetError(
            f"{path}: cache file holds {array.shape} {array.dtype}, expected {tuple(shape)} "
            f"{dtype}; delete it to rebuild it"
        )
    return array
