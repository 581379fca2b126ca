"""Configuration from `KASACARE_*` environment variables (pydantic-settings).

A bad value stops the start with one line naming the variable (see `load_settings`).
"""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kasacare.clips.storage import InvalidStorageUrl, parse_storage_url
from kasacare.devices.broker import InvalidMqttUrl, parse_mqtt_url
from kasacare.devices.codes import DeviceClaims
from kasacare.kit.clients import Network, parse_networks
from kasacare.kit.errors import KasaCareError
from kasacare.kit.signing_keys import MIN_MASTER_BYTES
from kasacare.notifications.mail import DEFAULT_MAIL_FROM, InvalidSmtpUrl, parse_smtp_url


class ConfigurationError(KasaCareError):
    code = "configuration_error"
    title = "Invalid configuration"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KASACARE_", extra="ignore", frozen=True)

    #: `production` requires `KASACARE_SECRET_KEY` and refuses the test clock; `development`
    #: (the default, for `make run`) keeps a random signing master in the database.
    env: Literal["development", "production"] = "development"
    #: The master every signing key is derived from (clip URLs, CSRF tokens), at least 32
    #: bytes; `kasacare secret-key` prints a new one. Required in production.
    secret_key: SecretStr | None = None
    #: Earlier masters, comma separated: what they signed still verifies until they are
    #: removed (rotation, `kit.signing_keys`).
    previous_secret_keys: SecretStr | None = None
    database_url: str = "sqlite:///./var/kasacare.db"
    storage_url: str = "file://./var/clips"
    admin_token: SecretStr | None = None
    test_clock: bool = False
    catalog_path: Path | None = None
    access_token_ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 12 * 3600
    #: Web session cookies are Secure (HTTPS only; browsers treat localhost as secure).
    cookie_secure: bool = True
    #: Largest clip upload accepted, in bytes.
    clip_max_bytes: Annotated[int, Field(ge=1024, le=2 * 1024**3)] = 50 * 1024 * 1024
    #: How often the sweeper deletes expired clips' bytes (V2: within the hour); 0: never
    #: in this process.
    sweep_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 300
    #: How often the in-process jobs run (renewals, retries, refunds, reconciler); 0 turns
    #: them off (API nodes beside `kasacare worker`). The sweeper and mail have their own.
    jobs_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 60
    #: How often notification mail is sent (when `KASACARE_SMTP_URL` is set); 0: never in
    #: this process.
    mail_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 30
    #: How often the media job reads new clips (duration, codec, size, a poster frame when
    #: the camera sent none); 0: never in this process.
    media_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 30
    #: Goodwill credit an agent may give an account over any rolling year, in years of the
    #: account's plan at its annual price (non-refundable: it pays invoices only).
    goodwill_cap_years: Annotated[float, Field(ge=0, le=10)] = 1.0
    #: `make bench` only: wire the bare ingest endpoint the benchmark compares uploads with.
    bench_bare_endpoint: bool = False
    #: Notification mail (`smtp://user:pass@host:587?starttls=1`); unset: mail is off and
    #: notifications stay in the app.
    smtp_url: SecretStr | None = None
    mail_from: str = DEFAULT_MAIL_FROM
    #: The address people reach the web app at: the links in mail (verify an address,
    #: reset a password) start with it.
    public_url: str = "http://localhost:8000"
    #: Reverse proxies whose `X-Forwarded-For` is believed (addresses or networks, comma
    #: separated); empty: the peer address is the client (`kit.clients`).
    trusted_proxies: str = ""
    #: `required`: an owner binds a camera only with the claim code the (provisioned)
    #: camera shows; `off`: by serial alone, for the simulator and local trials only.
    device_claims: DeviceClaims = DeviceClaims.REQUIRED
    #: The MQTT broker commands go out through (`mqtt://user:password@host:port`, the
    #: service's own broker user); unset: cameras long-poll `GET /v1/device/commands`.
    mqtt_url: SecretStr | None = None
    #: How often this process publishes the command outbox to the broker (with
    #: `KASACARE_MQTT_URL`); 0: never in this process.
    commands_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 1

    @property
    def signing_masters(self) -> tuple[bytes, ...]:
        """The configured masters, current first; empty when none is configured."""
        if self.secret_key is None:
            return ()
        previous = self.previous_secret_keys.get_secret_value() if self.previous_secret_keys else ""
        current = self.secret_key.get_secret_value()
        return tuple(k.strip().encode() for k in (current, *previous.split(",")) if k.strip())

    #: The seller every invoice and credit note names (issue 14 item 2): its legal name,
    #: its address (lines separated by ";") and its tax id (VAT number). Set all three in
    #: production; the defaults leave address and tax id off the documents.
    seller_name: Annotated[str, Field(min_length=1, max_length=120)] = "Kasa Care"
    seller_address: Annotated[str, Field(max_length=400)] = ""
    seller_tax_id: Annotated[str, Field(max_length=40)] = ""
    #: A TrueType font for PDF documents, for names outside the Windows-1252 characters
    #: (Greek, Polish ...); unset: the PDF core font, other characters shown as "?".
    pdf_font_path: Path | None = None

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError as error:
            raise ValueError(f"not a database URL: {value!r}") from error
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("expected sqlite:///path or postgresql://user@host:port/dbname")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str) -> str:
        try:
            parse_storage_url(value)
        except InvalidStorageUrl as error:
            raise ValueError(
                f"{error} (expected file:///path or s3://bucket?endpoint=URL)"
            ) from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            parse_smtp_url(value.get_secret_value())
        except InvalidSmtpUrl as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            parse_mqtt_url(value.get_secret_value())
        except InvalidMqttUrl as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        address = parseaddr(value)[1]
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError("expected an address such as Kasa Care <no-reply@example.com>")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("expected the web app's base URL, such as https://care.example.com")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("secret_key", "previous_secret_keys")
    @classmethod
    def _secret_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        keys = [k.strip() for k in value.get_secret_value().split(",") if k.strip()]
        for key in keys:
            if len(key.encode()) < MIN_MASTER_BYTES:
                raise ValueError(
                    f"each key must be at least {MIN_MASTER_BYTES} bytes"
                    " (`kasacare secret-key` prints one)"
                )
        return value

    @model_validator(mode="after")
    def _production(self) -> Self:
        if self.env != "production":
            return self
        if self.secret_key is None:
            raise ValueError("KASACARE_SECRET_KEY is required when KASACARE_ENV=production")
        if self.test_clock:
            raise ValueError("KASACARE_TEST_CLOCK is refused when KASACARE_ENV=production")
        return self

    @field_validator("seller_name", "seller_address", "seller_tax_id")
    @classmethod
    def _seller(cls, value: str) -> str:
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("one line of text (separate address lines with ;)")
        return value.strip()

    @field_validator("pdf_font_path")
    @classmethod
    def _pdf_font(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no font file at {value}")
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value


def load_settings() -> Settings:
    """Read the environment; a bad value raises ConfigurationError naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"]:  # a rule across variables names them in its message
            raise ConfigurationError(first["msg"].removeprefix("Value error, ")) from None
        field = str(first["loc"][0])
        raise ConfigurationError(f"KASACARE_{field.upper()}: {first['msg']}") from None
