"""Where files live: local paths or fsspec URLs (``s3://``, ``gs://``, ``file://``,
``memory://``), behind a handful of functions.

Local paths stay :class:`pathlib.Path` and keep today's guarantees (temporary file, fsync,
rename). A URL becomes a :class:`upath.UPath`, a ``pathlib``-like object over fsspec, so the
code that joins, names and compares paths reads the same for both. Object stores have no
rename: a file there is written as one whole-object upload (``pipe``), which the store makes
visible only when complete; nothing is ever appended.

Credentials and endpoints come from each backend's usual environment and configuration
(``AWS_*`` variables and ``~/.aws`` for S3, ``GOOGLE_APPLICATION_CREDENTIALS`` for GCS,
``FSSPEC_<PROTOCOL>_<OPTION>`` for any fsspec option), or from ``storage_options``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from ..errors import Location, MissingExtraError, OutputError, UsageError

#: A local path or a URL's path object (a ``upath.UPath``, which has ``pathlib.Path``'s
#: API: the type checker sees both as ``Path``; :func:`is_url` tells them apart).
AnyPath = Path

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Extras to install per protocol (the hint printed when the backend is missing).
EXTRAS: dict[str, str] = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


def is_url(location: object) -> bool:
    """True for ``proto://...`` text or a URL path object (``file://`` included)."""
    if isinstance(location, Path):
        return False
    return bool(_URL.match(str(location))) or hasattr(location, "storage_options")


def _missing(what: str, extra: str) -> MissingExtraError:
    return MissingExtraError(f"{what} needs an optional dependency that is not installed",
                      hint=f"pip install 'boamps-etl[{extra}]'")


def as_path(location: str | os.PathLike[str] | Any,
            storage_options: Mapping[str, Any] | None = None) -> AnyPath:
    """A :class:`Path` for a local path, a :class:`upath.UPath` for a URL.

    Raises:
        UsageError: the URL's backend (s3fs, gcsfs) or universal-pathlib is not installed,
            or the protocol is unknown.
    """
    if isinstance(location, Path):
        return location
    if not is_url(location):
        return Path(location)
    if hasattr(location, "storage_options"):
        return cast(Path, location)
    text = str(location)
    protocol = text.split("://", 1)[0].lower()
    if protocol in ("file", "local"):  # a local file: keep temp file + fsync + rename
        from urllib.parse import unquote, urlsplit

        return Path(unquote(urlsplit(text).path))
    try:
        from upath import UPath
    except ImportError:
        raise _missing(f"the URL {text}", EXTRAS.get(protocol, "s3")) from None
    try:
        return cast(Path, UPath(text, **dict(storage_options or {})))
    except ImportError:
        raise _missing(f"the URL {text}", EXTRAS.get(protocol, protocol)) from None
    except ValueError as exc:
        raise UsageError(f"cannot open {text} ({exc})") from None


def normalize(path: AnyPath) -> AnyPath:
    """``a/b/../c`` -> ``a/c`` for URLs (object stores keep '..' as part of a key); local
    paths are returned as they are (``resolve`` follows symlinks there)."""
    if not is_url(path):
        return path
    protocol, _, rest = str(path).partition("://")
    lead = "/" if rest.startswith("/") else ""
    return as_path(f"{protocol}://{lead}{posixpath.normpath(rest).lstrip('/')}",
                   getattr(path, "storage_options", None))


def forget_listings(path: AnyPath) -> None:
    """Drop what the backend remembers of listings under ``path`` (fsspec caches them per
    filesystem object, and a run must see the store as it is now)."""
    if is_url(path):
        _fs(path).invalidate_cache()


def forget_all_listings() -> None:
    """:func:`forget_listings` for every fsspec filesystem this process has made (a Dask
    worker's, between runs)."""
    fsspec = sys.modules.get("fsspec")
    if fsspec is None:
        return  # no URL was ever opened here
    for cls in set(fsspec.registry.values()):
        for fs in list(getattr(cls, "_cache", {}).values()):
            fs.invalidate_cache()


def walk(top: AnyPath, onerror: Callable[[OSError], None] | None = None,
         one_level: bool = False, sizes: dict[str, int] | None = None
         ) -> Iterator[tuple[tuple[str, ...], list[str], list[str]]]:
    """``os.walk`` for both kinds: (parts relative to ``top``, subfolder names, file
    names), top-down; the caller may prune the subfolder list in place. ``onerror``:
    called with the error of a local folder that cannot be listed. ``one_level``: only
    ``top`` itself (one listing request on an object store). ``sizes``: filled with the
    size of each object listed (bytes, by its path relative to ``top``, parts joined by
    '/'), which the listing gives for free; left alone for a local folder.

    An object store's tree is listed flat, every key under ``top`` in pages of a thousand
    (one request per thousand files, instead of one per folder), then walked in memory."""
    if not is_url(top):
        for dirpath, dirnames, filenames in os.walk(top, onerror=onerror):
            yield Path(dirpath).relative_to(top).parts, dirnames, filenames
            if one_level:
                return
        return
    fs = _fs(top)
    base = _key(top).rstrip("/")
    if one_level:
        try:
            items = fs.ls(base, detail=True, refresh=True)
        except FileNotFoundError:
            return
        dirs: list[str] = []
        files: list[str] = []
        for item in items:
            name = item["name"].rstrip("/")
            if name.lstrip("/") == base.lstrip("/"):
                continue  # some stores list the prefix itself
            if item.get("type") == "directory":
                dirs.append(name.rsplit("/", 1)[-1])
                continue
            files.append(name.rsplit("/", 1)[-1])
            if sizes is not None:
                sizes[files[-1]] = int(item.get("size") or 0)
        yield (), dirs, files
        return
    tree = _listing_tree(fs, base, sizes)
    stack: list[tuple[tuple[str, ...], _Node]] = [((), tree)]
    while stack:
        rel, node = stack.pop()
        dirs = list(node.dirs)
        yield rel, dirs, list(node.files)
        # depth-first, in the order the caller left the names (as os.walk)
        stack.extend(((*rel, name), node.dirs[name]) for name in reversed(dirs)
                     if name in node.dirs)


class _Node:
    """A folder of a flat object listing: its subfolders and file names."""

    __slots__ = ("dirs", "files")

    def __init__(self) -> None:
        self.dirs: dict[str, _Node] = {}
        self.files: list[str] = []


def _listing_tree(fs: Any, base: str, sizes: dict[str, int] | None = None) -> _Node:
    """Every object under ``base`` (one flat, paginated listing) as a tree of folders
    (``sizes``: see :func:`walk`)."""
    root = _Node()
    try:
        found = fs.find(base, withdirs=False, detail=True)
    except FileNotFoundError:
        return root
    lead = base.lstrip("/") + "/"
    for name, info in sorted(found.items()):
        key = name.lstrip("/")
        if not key.startswith(lead) or info.get("type") == "directory":
            continue
        parts = key[len(lead):].split("/")
        node = root
        for part in parts[:-1]:
            if part:
                node = node.dirs.setdefault(part, _Node())
        if parts[-1]:  # a key ending with '/' only marks an (empty) folder
            node.files.append(parts[-1])
            if sizes is not None:
                sizes[key[len(lead):]] = int(info.get("size") or 0)
    return root


def listing(folder: AnyPath) -> dict[str, int] | None:
    """The size of every object under an object store's ``folder``, by key relative to it
    (one flat listing); None for a local folder (ask the file system instead)."""
    if not is_url(folder):
        return None
    fs = _fs(folder)
    base = _key(folder).rstrip("/").lstrip("/") + "/"
    try:
        found = fs.find(_key(folder).rstrip("/"), withdirs=False, detail=True)
    except FileNotFoundError:
        return {}
    return {name.lstrip("/")[len(base):]: int(info.get("size") or 0)
            for name, info in found.items()
            if name.lstrip("/").startswith(base) and info.get("type") != "directory"}


def exists(path: AnyPath) -> bool:
    """True when there is a file or folder at ``path``. For URLs, a refused access raises
    (PermissionError) instead of passing for 'missing'."""
    if not is_url(path):
        return path.exists()
    try:
        _fs(path).info(_key(path))
    except FileNotFoundError:
        return False
    return True


def is_dir(path: AnyPath) -> bool:
    """A folder; for object stores, a prefix with objects below it (or a bucket)."""
    if not is_url(path):
        return path.is_dir()
    try:
        info = _fs(path).info(_key(path))
    except FileNotFoundError:
        return False
    return bool(info.get("type") == "directory")


def missing(path: AnyPath, what: str) -> str:
    """Why ``path`` is not there, in a few words (the bucket, when that is what is missing)."""
    if is_url(path):
        bucket = _key(path).split("/", 1)[0]
        try:
            try:
                _fs(path).info(bucket)
            except FileNotFoundError:
                return f"{what} is in a bucket that does not exist ('{bucket}')"
        except OSError:
            pass
    return f"{what} does not exist"


def read_bytes(path: AnyPath) -> bytes:
    return path.read_bytes()


#: An object is hashed by reads of this many bytes (one GET for a smaller one).
HASH_BLOCK = 8 << 20


def sha256(path: AnyPath) -> str | None:
    """Content hash of a file, None when it cannot be read (one GET on object stores, a
    few for an object over :data:`HASH_BLOCK`: never held whole)."""
    try:
        if is_url(path):
            return _object_sha256(path)
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (OSError, ValueError):
        return None


def _object_sha256(path: AnyPath) -> str:
    fs, key, size = _fs(path), _key(path), HASH_BLOCK
    digest, at = hashlib.sha256(), 0
    while True:
        try:
            data = fs.cat_file(key, start=at, end=at + size)  # past the end: what there is
        except (OSError, ValueError):
            # a store may refuse a range that starts at the end (an empty object, or one
            # of a multiple of HASH_BLOCK bytes); a missing object raises here again
            if at == 0:
                digest.update(fs.cat_file(key))
            elif fs.info(key).get("size") != at:
                raise
            break
        digest.update(data)
        at += len(data)
        if len(data) < size:
            break
    return digest.hexdigest()


def sha256_many(paths: list[AnyPath], threads: int = 16) -> list[str | None]:
    """:func:`sha256` of several files; objects are fetched by ``threads`` at once (each
    is a round trip to the store), local files one after the other."""
    if len(paths) < 2 or not any(is_url(p) for p in paths):
        return [sha256(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(threads, len(paths))) as pool:
        return list(pool.map(sha256, paths))


def put(path: AnyPath, data: bytes, root: Path | None = None) -> None:
    """Make ``path`` hold ``data``, never visible half-written: a temporary file, fsync
    and rename on local disks (never outside the real ``root``), one whole-object upload
    on object stores."""
    if not is_url(path):
        from .writers import atomic_write

        atomic_write(Path(path), data, root)
        return
    _fs(path).pipe_file(_key(path), data)


def put_file(path: AnyPath, local: Path) -> None:
    """Upload the local file ``local`` to the object ``path``, whole (a multipart upload
    for a large one, read in parts: the store makes the object visible only when it is
    complete)."""
    _fs(path).put_file(os.fspath(local), _key(path))


def get_file(path: AnyPath, local: Path) -> None:
    """Download the object ``path`` to the local file ``local`` (in parts: never held
    whole in memory)."""
    _fs(path).get_file(_key(path), os.fspath(local))


def open_read(path: AnyPath) -> Any:
    """A file or an object opened for reading in order, :data:`HASH_BLOCK` bytes read
    ahead (one ranged GET each on an object store)."""
    if not is_url(path):
        return open(path, "rb", buffering=1 << 20)
    return _fs(path).open(_key(path), "rb", block_size=HASH_BLOCK, cache_type="readahead")


def remove_tree(path: AnyPath) -> None:
    """Delete every object under the prefix ``path`` (an object store's folder)."""
    with contextlib.suppress(FileNotFoundError):
        _fs(path).rm(_key(path).rstrip("/"), recursive=True)


def remove(path: AnyPath) -> None:
    """Delete a file; a missing one is fine."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def inside(folder: AnyPath, target: AnyPath) -> bool:
    """True when ``target`` is ``folder`` or below it."""
    if is_url(folder) != is_url(target):
        return False
    if not is_url(folder):
        from .writers import is_inside

        return is_inside(Path(folder), Path(target))
    a, b = str(folder).rstrip("/"), str(target).rstrip("/")
    return b == a or b.startswith(a + "/")


def check_writable(folder: AnyPath) -> None:
    """Fail early, with nothing written, when ``folder`` cannot take new files.

    For object stores, the bucket must exist and be reachable with the credentials at hand.
    """
    if not is_url(folder):
        from .writers import check_writable as check_local

        check_local(Path(folder))
        return
    fs = _fs(folder)
    bucket = _key(folder).split("/", 1)[0]
    try:
        fs.info(bucket)
    except FileNotFoundError:
        raise OutputError(f"the bucket '{bucket}' does not exist", Location(str(folder)),
                          "create it first, or check the name") from None
    except OSError as exc:
        raise OutputError(f"cannot be written ({_short(exc)})", Location(str(folder)),
                          "check the URL and the credentials") from None


def describe_error(exc: BaseException) -> str:
    """One line for an error raised by a storage backend (credentials, network...)."""
    return _short(exc)


def _fs(path: AnyPath) -> Any:
    """The fsspec filesystem of a URL path."""
    return getattr(path, "fs")  # noqa: B009 - UPath only, the type checker sees a Path


def _key(path: AnyPath) -> str:
    """The path inside the filesystem (``bucket/key`` for object stores)."""
    return str(getattr(path, "path"))  # noqa: B009


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
