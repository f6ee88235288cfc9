"""One object-store interface over S3 (aioboto3; MinIO or AWS) and a local folder (embedded mode)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aioboto3
from botocore.exceptions import ClientError

from zixly_backtester.service_layer.ports import ObjectStore


class LocalFolderStore:
    """Objects as files under a root folder; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root):
            raise KeyError(key)
        return path

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise KeyError(key) from None

    async def put(self, key: str, data: bytes) -> str:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)

        await asyncio.to_thread(write)
        return path.as_uri()


class S3Store:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._session = aioboto3.Session()
        self._client_kwargs: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}

    def _key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    async def get(self, key: str) -> bytes:
        async with self._session.client("s3", **self._client_kwargs) as s3:
            try:
                response = await s3.get_object(Bucket=self._bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    raise KeyError(key) from None
                raise
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

    async def put(self, key: str, data: bytes) -> str:
        async with self._session.client("s3", **self._client_kwargs) as s3:
            await s3.put_object(Bucket=self._bucket, Key=self._key(key), Body=data)
        return f"s3://{self._bucket}/{self._key(key)}"


def open_store(url: str, *, s3_endpoint_url: str | None = None) -> ObjectStore:
    """``file:///abs/path``, ``file://./relative`` or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalFolderStore(
            Path(parsed.netloc + parsed.path) if parsed.netloc == "." else Path(parsed.path)
        )
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, parsed.path, s3_endpoint_url)
    raise ValueError(f"object store URL must start with file:// or s3:// (got {url!r})")
