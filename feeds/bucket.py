"""An S3 bucket (or any S3-compatible store) as the publisher sees it: objects under one prefix,
each with its bytes and the headers it is served with.

boto3 is imported here and nowhere else, and every error it raises is turned here into a
`PublishError` that names the bucket and the fix: no such bucket, credentials missing or
refused, access denied, no network.  Keys given to a `Bucket` and returned by it are relative to
its prefix: they are the site's paths.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from . import __version__
from .errors import PublishError, SettingsError

# Bucket names as S3 takes them (3 to 63 lowercase letters, digits, dots and hyphens; older
# buckets and other stores also have underscores).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
# A prefix's parts are characters a URL path holds as they are, so that a key is its URL's path.
_PART = re.compile(r"[A-Za-z0-9._~-]+")
CONNECT_TIMEOUT = 10  # seconds; botocore's 60 makes a publish with no network hang for minutes
READ_TIMEOUT = 60
ATTEMPTS = 3  # tries of a request that failed for a reason that may pass (botocore's standard mode)
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
MD5_META = "feeds-md5"  # metadata (x-amz-meta-feeds-md5) naming the MD5 of the bytes an object holds
_MISSING = ("404", "NoSuchKey", "NotFound")
_REFUSED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
            "InvalidClientTokenId", "AuthorizationHeaderMalformed", "TokenRefreshRequired")
_DENIED = ("AccessDenied", "403", "AllAccessDisabled", "AccountProblem")


@dataclass(frozen=True)
class Target:
    """Where the site goes: a bucket, and the prefix (``""`` or ending in ``/``) of its keys."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_target(url: str) -> Target:
    """The bucket and prefix of ``s3://BUCKET/PREFIX`` (the prefix may be empty)."""
    scheme, _, rest = url.partition("://")
    if scheme != "s3" or not rest:
        raise SettingsError(f"{url!r} is not an s3:// URL; give it like s3://news-bucket/ or "
                            "s3://news-bucket/site/")
    bucket, _, path = rest.partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise SettingsError(f"{url!r}: {bucket!r} is not a bucket name (3 to 63 lowercase letters, "
                            "digits, dots and hyphens)")
    parts = path.strip("/").split("/") if path.strip("/") else []
    for part in parts:
        if not _PART.fullmatch(part) or part in (".", ".."):
            raise SettingsError(f"{url!r}: the prefix may hold only letters, digits and . _ ~ - "
                                "between single slashes (a key is the path of its URL)")
    return Target(bucket, "".join(f"{part}/" for part in parts))


class Headers(NamedTuple):
    """The headers an object is served with, as they were sent when it was uploaded."""

    content_type: str
    cache_control: str
    encoding: str = ""  # Content-Encoding; empty for none


class Stored(NamedTuple):
    """What the bucket says an object holds: the MD5 of its bytes and its headers."""

    md5: str
    headers: Headers


class Bucket:
    """The objects under one prefix of one bucket, through one boto3 client (thread-safe: the
    publisher calls it from many threads at once)."""

    def __init__(self, target: Target, endpoint_url: str | None = None, connections: int = 16) -> None:
        self.target = target
        self.endpoint_url = endpoint_url
        config = Config(
            max_pool_connections=connections, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "max_attempts": ATTEMPTS},
            # botocore >= 1.36 adds CRC checksums that several S3-compatible stores refuse; every PUT
            # here carries a Content-MD5 instead, which they all check.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
            # Other stores (MinIO, Ceph) answer virtual-hosted names only when set up to; all take paths.
            s3={"addressing_style": "path"} if endpoint_url else None,
            user_agent_extra=f"feeds/{__version__}",
        )
        try:
            self._client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:  # a profile that does not exist, a bad endpoint URL
            raise self._error(exc, "set up the S3 client") from None

    def get(self, key: str) -> bytes | None:
        """The bytes of the object at `key`; None when there is none."""
        try:
            response = self._client.get_object(Bucket=self.target.bucket, Key=self.target.prefix + key)
            data: bytes = response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._error(exc, "read", key) from None
        return data

    def head(self, key: str) -> Stored | None:
        """The MD5 and headers of the object at `key`; None when there is none."""
        try:
            found = self._client.head_object(Bucket=self.target.bucket, Key=self.target.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._error(exc, "read", key) from None
        # An object another tool uploaded has no MD5 of ours; its ETag is the MD5 of a plain upload.
        md5 = found.get("Metadata", {}).get(MD5_META) or str(found.get("ETag", "")).strip('"')
        return Stored(md5, Headers(found.get("ContentType", ""), found.get("CacheControl", ""),
                                   found.get("ContentEncoding", "")))

    def put(self, key: str, body: bytes, headers: Headers, md5: str) -> None:
        """Upload `body` (whose MD5 in hex is `md5`, which the store checks) to `key`, served with
        `headers`."""
        extra = {"ContentEncoding": headers.encoding} if headers.encoding else {}
        try:
            self._client.put_object(
                Bucket=self.target.bucket, Key=self.target.prefix + key, Body=body,
                ContentType=headers.content_type, CacheControl=headers.cache_control,
                ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode("ascii"),
                Metadata={MD5_META: md5}, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "write", key) from None

    def delete(self, keys: Iterable[str]) -> None:
        """Delete the objects at `keys` (a key with no object is no error)."""
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self.target.prefix + key} for key in keys[start:start + DELETE_BATCH]]
            try:
                response = self._client.delete_objects(Bucket=self.target.bucket,
                                                       Delete={"Objects": batch, "Quiet": True})
            except (BotoCoreError, ClientError) as exc:
                raise self._error(exc, "delete", batch[0]["Key"][len(self.target.prefix):]) from None
            for failed in response.get("Errors", []):
                error = ClientError({"Error": failed}, "DeleteObjects")
                raise self._error(error, "delete", str(failed.get("Key", ""))[len(self.target.prefix):])

    def keys(self) -> set[str]:
        """The keys of every object under the prefix."""
        found: set[str] = set()
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.target.bucket, Prefix=self.target.prefix)
            for page in pages:
                found.update(item["Key"][len(self.target.prefix):] for item in page.get("Contents", ()))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "list") from None
        return found

    def _error(self, exc: Exception, doing: str, key: str = "") -> PublishError:
        """`exc` (from boto3) as one line naming the bucket, what failed and the fix."""
        bucket = self.target.bucket
        where = f"bucket {bucket!r}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        what = f"{doing} {self.target.prefix}{key}" if key else doing
        code = _code(exc)
        if code == "NoSuchBucket":
            return PublishError(f"{where} does not exist: create it (aws s3 mb s3://{bucket}), or check "
                                "the bucket's name, the region (AWS_DEFAULT_REGION) and --endpoint-url")
        if code in _REFUSED or isinstance(exc, CredentialRetrievalError):
            return PublishError(f"{where}: the credentials were refused ({code or exc}): check "
                                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE; `aws "
                                "configure` sets them up), and that they are this store's")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return PublishError(f"{where}: no credentials ({exc}): set AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run `aws configure`")
        if code in _DENIED:
            return PublishError(f"{where}: access denied ({what}): the credentials need s3:ListBucket on "
                                f"arn:aws:s3:::{bucket} and s3:GetObject, s3:PutObject and s3:DeleteObject "
                                f"on arn:aws:s3:::{bucket}/{self.target.prefix}*")
        if isinstance(exc, ConnectionError | HTTPClientError):
            endpoint = self.endpoint_url or "S3"
            return PublishError(f"{where}: cannot reach {endpoint} ({exc}): check the network connection"
                                + (" and --endpoint-url" if self.endpoint_url else ""))
        detail = f"{code}: {_message(exc)}" if code else str(exc)
        return PublishError(f"{where}: cannot {what} ({detail})")


def _code(exc: Exception) -> str:
    """The S3 error code of a ClientError ("NoSuchBucket", or the bare status of a HEAD)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _message(exc: Exception) -> Any:
    return exc.response.get("Error", {}).get("Message", "") if isinstance(exc, ClientError) else str(exc)
