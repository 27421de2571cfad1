"""Media for WhatsApp: a local file goes to S3-compatible storage and travels as a presigned URL.

Evolution Go downloads media from a URL; a file on this machine first has to
be somewhere it can reach. Cloudflare R2, MinIO and AWS S3 all speak the S3
API, so boto3 covers them with an endpoint URL.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

_TYPES_BY_EXTENSION = {
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".webp": "image",
    ".mp4": "video",
    ".ogg": "audio",
    ".opus": "audio",
    ".mp3": "audio",
    ".m4a": "audio",
}
_CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".pdf": "application/pdf",
}


# Storage calls give up within these (seconds), so a webhook answers 503 in time.
STORAGE_CONNECT_TIMEOUT = 3
STORAGE_READ_TIMEOUT = 5
UPLOAD_PART_BYTES = 8 * 1024 * 1024


class MediaNotConfigured(Exception):
    """A local file was given but no S3-compatible storage is configured."""


def media_type_for(name: str) -> str:
    """Return Evolution Go's media `type` for a file name or URL path.

    jpeg/jpg/png/webp are `image`, mp4 `video`, ogg/opus/mp3/m4a `audio`;
    everything else (including no extension) is `document`.
    """
    return _TYPES_BY_EXTENSION.get(Path(name.split("?")[0]).suffix.lower(), "document")


@dataclass(frozen=True)
class MediaStore:
    """An S3-compatible bucket that hands out presigned download URLs."""

    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "auto"
    url_ttl_seconds: int = 3600

    def _client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            # Bounded: a storage that hangs must not hold a web worker (a sender waits on it).
            config=Config(
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 1},
                connect_timeout=STORAGE_CONNECT_TIMEOUT,
                read_timeout=STORAGE_READ_TIMEOUT,
            ),
        )

    def put_file_if_absent(self, key: str, path: Path, content_type: str) -> bool:
        """Return whether the file at `path` was uploaded under `key` (`False`: an object is there already).

        Keys made of a content hash make the check enough to store a file once.
        Large files go up in parts of `UPLOAD_PART_BYTES`, one at a time, so an
        upload's memory stays the same whatever the file's size. Raises
        botocore's errors when the storage cannot be reached.
        """
        client = self._client()
        try:
            client.head_object(Bucket=self.bucket, Key=key)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        transfer = TransferConfig(
            multipart_threshold=UPLOAD_PART_BYTES, multipart_chunksize=UPLOAD_PART_BYTES, max_concurrency=1
        )
        extra = {"ContentType": content_type}
        client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=transfer)
        return True

    def presigned_url(self, key: str) -> str:
        """Return a URL that downloads the object `key` for `url_ttl_seconds`."""
        return self._client().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.url_ttl_seconds
        )

    def upload(self, path: Path) -> str:
        """Return a presigned URL (valid `url_ttl_seconds`) for `path` after uploading it.

        Each upload gets its own key, so two files with one name never clash.
        """
        key = f"evonexus/{uuid.uuid4().hex}/{path.name}"
        content_type = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        self._client().upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})
        return self.presigned_url(key)


def media_storage_configured() -> bool:
    """Return whether S3-compatible storage is configured (`MEDIA_S3_ENDPOINT_URL` and `_BUCKET`)."""
    return bool(settings.MEDIA_S3_ENDPOINT_URL and settings.MEDIA_S3_BUCKET)


def store_from_settings() -> MediaStore:
    """Return the configured media store; raises `MediaNotConfigured` if settings are missing."""
    if not media_storage_configured():
        raise MediaNotConfigured(
            "sending a local file needs MEDIA_S3_ENDPOINT_URL and MEDIA_S3_BUCKET (S3-compatible storage)"
        )
    return MediaStore(
        endpoint_url=settings.MEDIA_S3_ENDPOINT_URL,
        bucket=settings.MEDIA_S3_BUCKET,
        access_key_id=settings.MEDIA_S3_ACCESS_KEY_ID,
        secret_access_key=settings.MEDIA_S3_SECRET_ACCESS_KEY,
        region=settings.MEDIA_S3_REGION,
        url_ttl_seconds=settings.MEDIA_URL_TTL_SECONDS,
    )


def media_url_for(source: str, store: MediaStore | None = None) -> str:
    """Return a URL the gateway can download `source` from.

    An http(s) URL is returned as is; an existing local file is uploaded to
    `store` (default: the configured one). Raises `FileNotFoundError` for
    anything else.
    """
    if source.startswith(("http://", "https://")):
        return source
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{source!r} is neither an http(s) URL nor a local file")
    return (store or store_from_settings()).upload(path)


def local_media_path(key: str) -> Path:
    """Return where the local media directory keeps the object `key` (`media/<sha256>`)."""
    name = key.rsplit("/", 1)[-1]
    if not (len(name) == 64 and all(c in "0123456789abcdef" for c in name)):
        raise ValueError(f"not a media key: {key[:80]!r}")
    return Path(settings.WHATSAPP_MEDIA_DIR) / name


def spool_dir() -> Path:
    """Return the directory files are written to while they arrive (beside the media directory)."""
    path = Path(settings.WHATSAPP_MEDIA_DIR) / "incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def keep_local(key: str, path: Path) -> bool:
    """Return whether the file at `path` became the object `key` of the local media directory.

    `False`: the same file (same SHA-256) is there already, and `path` is removed.
    """
    destination = local_media_path(key)
    if destination.exists():
        path.unlink(missing_ok=True)
        return False
    path.replace(destination)
    return True


def with_media_url(event: dict) -> dict:
    """Return `event` with where its stored file can be read: `media_url` (S3) or `media_path` (local).

    `event["media"]` is what we stored when the event arrived (never what the
    sender named). Events without a file, or whose file was dropped, come back
    unchanged; so does the sender's own `media_url` (MinIO).
    """
    media = event.get("media")
    if not isinstance(media, dict) or not media.get("object"):
        return event
    if media.get("stored_in") == "local":
        return {**event, "media_path": str(local_media_path(media["object"]))}
    if media_storage_configured():
        return {**event, "media_url": store_from_settings().presigned_url(media["object"])}
    return event
