"""Media for WhatsApp: a local file goes to S3-compatible storage and travels as a presigned URL.

Evolution Go downloads media from a URL; a file on this machine first has to
be somewhere it can reach. Cloudflare R2, MinIO and AWS S3 all speak the S3
API, so boto3 covers them with an endpoint URL.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
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
            config=Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 3}),
        )

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Return whether `data` was uploaded under `key` (`False`: an object is there already).

        Keys made of a content hash make the check enough to store a file once.
        Raises botocore's errors when the storage cannot be reached.
        """
        client = self._client()
        try:
            client.head_object(Bucket=self.bucket, Key=key)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
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


def with_media_url(event: dict) -> dict:
    """Return `event` with `media_url`: a presigned URL of its stored file, or the sender's own URL.

    Events without a file, or whose file was not stored, come back unchanged.
    """
    media = event.get("media")
    if isinstance(media, dict) and media.get("object") and media_storage_configured():
        return {**event, "media_url": store_from_settings().presigned_url(media["object"])}
    return event
