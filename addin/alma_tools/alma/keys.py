"""Finding the Alma API key without ever writing it where it could leak.

Order of lookup (first found wins), chosen so that a one-off run can override the stored key:

1. the ``ALMA_API_KEY`` environment variable (CI, scripted runs);
2. the operating system's keyring, service ``alma-tools``, user name ``api-key`` (what the workbook's
   "Set API key" button writes: Windows Credential Manager / macOS Keychain, encrypted by the OS);
3. ``api_key`` in the user's config file ``$XDG_CONFIG_HOME/alma-tools/config.yaml`` (default
   ``~/.config``), for machines without a keyring.

The key itself is never returned in a message: :func:`describe_key_source` says *where* it came from.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keyring
import keyring.errors
import yaml

from alma_tools.alma.exceptions import register_secret
from alma_tools.errors import ConfigError

ENV_VAR = "ALMA_API_KEY"
KEYRING_SERVICE = "alma-tools"
KEYRING_USERNAME = "api-key"

log = logging.getLogger("alma_tools.alma")

_HOW_TO_SET = (
    "Set it with the 'Set API key' button in the Alma Tools ribbon, or the ALMA_API_KEY environment "
    "variable, or 'api_key: <your key>' in {config}. The key is created in the Ex Libris Developer "
    "Network and needs Bibs read/write to scan items in."
)


def config_path() -> Path:
    """The user's config file; honours ``XDG_CONFIG_HOME`` like other command-line tools."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".config"
    return root / "alma-tools" / "config.yaml"


def clean_key(key: object) -> str | None:
    """Return the key stripped of surrounding blanks, or None when there is none.

    A key with a blank or control character inside it cannot be valid and would break the HTTP header, so it
    is refused with a message (that does not repeat the key).
    """
    if key is None:
        return None
    text = str(key).strip()
    if not text:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ConfigError(
            "The Alma API key contains spaces or line breaks inside it; copy it again from the "
            "Developer Network and set it anew."
        )
    return text


def _from_keyring() -> str | None:
    """The key in the OS keyring, or None when there is no key or no usable keyring on this machine."""
    try:
        return clean_key(keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME))
    except keyring.errors.KeyringError as exc:
        log.debug("No usable keyring for the API key: %s", type(exc).__name__)
        return None


def _from_config_file() -> str | None:
    """The ``api_key`` of the user's config file, or None when the file or the setting is absent."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"The settings file {path} cannot be read ({exc.strerror}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        # The parser's message can quote the line holding the key, so it is not passed on.
        raise ConfigError(
            f"The settings file {path} is not valid YAML; it should contain a line like "
            "'api_key: <your key>'."
        ) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"The settings file {path} should contain a line like 'api_key: <your key>'.")
    return clean_key(data.get("api_key"))


def _lookup() -> tuple[str | None, str]:
    """(key, where it came from) following the documented order."""
    key = clean_key(os.environ.get(ENV_VAR))
    if key:
        return key, f"the {ENV_VAR} environment variable"
    key = _from_keyring()
    if key:
        return key, "the system keyring"
    key = _from_config_file()
    if key:
        return key, f"the settings file {config_path()}"
    return None, ""


def resolve_api_key() -> str:
    """Return the API key from the first place that has one; :class:`ConfigError` saying how to set it."""
    key, _source = _lookup()
    if not key:
        raise ConfigError("No Alma API key is set. " + _HOW_TO_SET.format(config=config_path()))
    register_secret(key)
    return key


def describe_key_source() -> str:
    """Say in plain words where the key would be taken from, without showing it (for the ribbon/CLI)."""
    key, source = _lookup()
    if not key:
        return "No Alma API key is set. " + _HOW_TO_SET.format(config=config_path())
    register_secret(key)
    return f"The Alma API key is taken from {source}."


def store_api_key(key: str) -> str:
    """Save *key* in the OS keyring (the "Set API key" button) and return where it was stored.

    Without a usable keyring the key is not written to a file silently: the user is told to use the
    environment variable or the settings file, whose protection they then choose themselves.
    """
    cleaned = clean_key(key)
    if not cleaned:
        raise ConfigError("The API key is empty; paste the key from the Ex Libris Developer Network.")
    register_secret(cleaned)
    try:
        keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, cleaned)
    except keyring.errors.KeyringError:
        raise ConfigError(
            "This computer has no system keyring to keep the API key in. Set the ALMA_API_KEY environment "
            f"variable instead, or put 'api_key: <your key>' in {config_path()} (readable only by you)."
        ) from None
    return "the system keyring"
