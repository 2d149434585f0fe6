"""One storage API for a local lake folder and S3 (or any S3-compatible endpoint).

Everything goes through pyarrow.fs so that local runs and S3 runs exercise the same
code path; pyarrow's S3 client needs no botocore, which keeps it clear of Airflow's pins.
Data roots are URIs: ``s3://bucket/prefix``, ``file:///abs/path`` or a plain local path.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

log = logging.getLogger(__name__)
# Whole-object reads tried again after a transient fault: the S3 client retries a request that
# fails, not a response body cut off half-way, which surfaces as an OSError of the read itself.
READ_ATTEMPTS = 3
T = TypeVar("T")


class ObjectUnavailable(OSError):
    """An object that cannot be read at all, and will not become readable by retrying: gone
    since it was listed (404) or forbidden to these credentials (403). ``reason`` says which,
    without the object's content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ObjectReadError(OSError):
    """Reading an open object failed after the client's own retries (a network fault): the
    task should fail and be retried, not blame the object."""


def _unavailable(e: OSError) -> ObjectUnavailable | None:
    if isinstance(e, FileNotFoundError):
        return ObjectUnavailable("object not found when read (deleted after it was listed?)")
    if isinstance(e, PermissionError) or "ACCESS_DENIED" in str(e) or "AccessDenied" in str(e):
        return ObjectUnavailable("access denied: these credentials may not read the object")
    return None


class InputObject(io.RawIOBase):
    """A raw object opened for reading (random access): a pyarrow file whose I/O errors
    surface as ObjectReadError, so a reader can tell the network from bad content."""

    def __init__(self, f: pa.NativeFile) -> None:
        self._f = f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _io(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            raise _unavailable(e) or ObjectReadError(f"read failed: {type(e).__name__}") from None

    def read(self, size: int = -1) -> bytes:
        return self._io(self._f.read, None if size is None or size < 0 else size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._io(self._f.seek, offset, whence)

    def tell(self) -> int:
        return self._io(self._f.tell)

    def size(self) -> int:
        return self._io(self._f.size)

    def close(self) -> None:
        self._f.close()
        super().close()


@dataclass(frozen=True)
class S3Options:
    """Credentials and endpoint for S3; all optional (the default AWS chain applies)."""

    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # never show secrets in logs or the UI
        return f"S3Options(endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    @classmethod
    def from_env(cls, environ: dict | None = None) -> S3Options:
        """The standard AWS_* variables (AWS_ENDPOINT_URL for S3-compatible stores); what is
        unset is left to the default AWS credential chain (instance role, profile)."""
        env = os.environ if environ is None else environ
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or None,
        )

    @classmethod
    def from_connection(cls, conn) -> S3Options:
        """An Airflow AWS connection: an ``airflow.sdk`` Connection, or its JSON form as a dict
        (``AIRFLOW_CONN_AWS_DEFAULT='{"conn_type": "aws", ...}'``). login/password (or extra
        aws_access_key_id/aws_secret_access_key) are the keys; extra holds endpoint_url (or
        service_config.s3.endpoint_url), region_name and aws_session_token."""
        if isinstance(conn, dict):
            login, password, extra = conn.get("login"), conn.get("password"), conn.get("extra") or {}
            if isinstance(extra, str):
                import json

                extra = json.loads(extra or "{}")
        else:
            login, password, extra = conn.login, conn.password, conn.extra_dejson or {}
        s3_config = (extra.get("service_config") or {}).get("s3") or {}
        return cls(
            endpoint_url=extra.get("endpoint_url") or s3_config.get("endpoint_url"),
            access_key=login or extra.get("aws_access_key_id"),
            secret_key=password or extra.get("aws_secret_access_key"),
            session_token=extra.get("aws_session_token"),
            region=extra.get("region_name"),
        )

    def describe(self) -> str:
        """Where the credentials come from, for a log line (never the secrets)."""
        keys = (
            "access keys given"
            if self.access_key
            else "the default AWS credential chain (instance role, profile, AWS_* variables)"
        )
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3{where}, {keys}"


def _s3_filesystem(opts: S3Options) -> pafs.S3FileSystem:
    kwargs: dict = {
        # Throttling, 5xx and connection resets are retried with backoff by the client.
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=8),
        "connect_timeout": 10,
        "request_timeout": 60,
    }
    if opts.access_key:
        kwargs["access_key"] = opts.access_key
        kwargs["secret_key"] = opts.secret_key
        if opts.session_token:
            kwargs["session_token"] = opts.session_token
    if opts.region:
        kwargs["region"] = opts.region
    if opts.endpoint_url:
        parsed = urlparse(opts.endpoint_url)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
        # S3-compatible servers (MinIO, moto) rarely serve virtual-hosted buckets.
        kwargs["force_virtual_addressing"] = False
    return pafs.S3FileSystem(**kwargs)


def lake_for(root: str, s3: S3Options | None = None) -> Lake:
    """A lake for a root: an S3 root without options takes them from the environment
    (S3Options.from_env), as every command-line tool here does."""
    if s3 is None:
        s3 = S3Options.from_env() if normalise_root(root).startswith("s3://") else S3Options()
    return Lake(root, s3)


def normalise_root(root: str) -> str:
    """Return the root as a URI without a trailing slash (local paths become file://)."""
    root = root.strip()
    if root.startswith("s3://"):
        return root.rstrip("/")
    if root.startswith("file://"):
        path = root[len("file://") :]
    else:
        path = root
    return "file://" + os.path.abspath(os.path.expanduser(path)).rstrip("/")


@dataclass
class Lake:
    """A data root plus the options needed to reach it."""

    root: str
    s3: S3Options = field(default_factory=S3Options)

    def __post_init__(self) -> None:
        self.root = normalise_root(self.root)
        self._fs: pafs.FileSystem | None = None

    # -- addressing -----------------------------------------------------------------
    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def uri(self, *parts: str) -> str:
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    @property
    def fs(self) -> pafs.FileSystem:
        if self._fs is None:
            self._fs = _s3_filesystem(self.s3) if self.is_s3 else pafs.LocalFileSystem()
        return self._fs

    def path(self, uri: str) -> str:
        """The filesystem path of a URI under any root this lake can reach."""
        if uri.startswith("s3://"):
            return uri[len("s3://") :]
        if uri.startswith("file://"):
            return uri[len("file://") :]
        return os.path.abspath(uri)

    def to_uri(self, path: str) -> str:
        return ("s3://" if self.is_s3 else "file://") + path

    # -- reads ----------------------------------------------------------------------
    def exists(self, uri: str) -> bool:
        return self.fs.get_file_info(self.path(uri)).type != pafs.FileType.NotFound

    def list_files(self, prefix_uri: str, suffixes: tuple[str, ...] | None = None) -> list[str]:
        """Files under a prefix (recursive), sorted, skipping hidden/underscore names."""
        selector = pafs.FileSelector(self.path(prefix_uri), recursive=True, allow_not_found=True)
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            name = info.base_name
            if name.startswith((".", "_")):
                continue
            if suffixes and not name.lower().endswith(suffixes):
                continue
            out.append(self.to_uri(info.path))
        return sorted(out)

    def list_dirs(self, prefix_uri: str) -> list[str]:
        selector = pafs.FileSelector(self.path(prefix_uri), recursive=False, allow_not_found=True)
        return sorted(self.to_uri(i.path) for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.Directory)

    def open_input(self, uri: str) -> InputObject:
        """Open an object for streaming reads. Raises ObjectUnavailable when it is gone or
        forbidden (no retry will help), OSError for anything else (transient)."""
        try:
            return InputObject(self.fs.open_input_file(self.path(uri)))
        except OSError as e:
            gone = _unavailable(e)
            if gone is not None:
                raise gone from e
            raise

    def _read_whole(self, uri: str, read: Callable[[], T]) -> T:
        """``read()``, tried again from the start after a transient OSError (never after
        not-found or access-denied, which no retry changes)."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return read()
            except OSError as e:
                if _unavailable(e) is not None or attempt == READ_ATTEMPTS:
                    raise
                log.warning("read of %s failed (%s); reading it again", uri.rsplit("/", 1)[-1], type(e).__name__)
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def read_bytes(self, uri: str) -> bytes:
        def read() -> bytes:
            with self.fs.open_input_file(self.path(uri)) as f:
                return f.read()

        return self._read_whole(uri, read)

    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def read_parquet(self, uri: str, columns: list[str] | None = None) -> pa.Table:
        return self._read_whole(uri, lambda: pq.read_table(self.path(uri), filesystem=self.fs, columns=columns))

    # -- writes ---------------------------------------------------------------------
    def write_bytes(self, uri: str, data: bytes) -> str:
        """Write one object atomically: readers see the old object or the whole new one."""
        path = self.path(uri)
        if self.is_s3:
            # A single PUT is atomic on S3.
            # compression=None: pyarrow would otherwise gzip an object named *.gz on the way
            # out ("detect"), so the bytes stored would not be the bytes given.
            with self.fs.open_output_stream(path, compression=None) as f:
                f.write(data)
            return uri
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return uri

    def write_text(self, uri: str, text: str) -> str:
        return self.write_bytes(uri, text.encode("utf-8"))

    def write_parquet(self, table: pa.Table, uri: str, row_group_size: int = 64_000) -> str:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd", row_group_size=row_group_size)
        return self.write_bytes(uri, buf.getvalue())

    def copy(self, src_uri: str, dst_uri: str) -> None:
        if not self.is_s3:
            # Streamed to a temporary name, then renamed: atomic, and a file of any size
            # costs a buffer of memory, not its size.
            dst = self.path(dst_uri)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = os.path.join(os.path.dirname(dst), f".tmp-{uuid.uuid4().hex}-{os.path.basename(dst)}")
            shutil.copyfile(self.path(src_uri), tmp)
            os.replace(tmp, dst)
            return
        self.fs.copy_file(self.path(src_uri), self.path(dst_uri))

    def delete(self, uri: str) -> None:
        try:
            self.fs.delete_file(self.path(uri))
        except FileNotFoundError:
            pass

    def delete_prefix(self, prefix_uri: str) -> None:
        """Remove everything under a prefix, including hidden and underscore files."""
        path = self.path(prefix_uri)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return
        self.fs.delete_dir(path)
