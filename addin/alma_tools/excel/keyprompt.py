"""Set API key: a masked prompt, the OS credential store, and a check with Alma."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alma_tools.alma import AlmaClient, AuthError, store_api_key
from alma_tools.errors import AlmaToolsError
from alma_tools.excel.messages import TITLE, alert, reported
from alma_tools.excel.settings import read_settings


def _masked_prompt() -> str | None:
    """Ask for the key in a small window that shows dots, never the key (tkinter ships with Python)."""
    import tkinter
    from tkinter import simpledialog

    root = tkinter.Tk()
    root.withdraw()
    root.attributes("-topmost", True)
    try:
        return simpledialog.askstring(
            TITLE,
            "Paste the Alma API key (Bibs read/write).\nIt is kept in Windows Credential Manager.",
            show="*",
            parent=root,
        )
    finally:
        root.destroy()


@reported
def set_api_key(book: Any = None, prompt: Callable[[], str | None] | None = None) -> bool:
    """Ask for the API key (masked), keep it in the OS credential store, and check it with Alma.

    The key is never written to a cell, the file or a log; the message says where it went, never the key.
    """
    key = (prompt or _masked_prompt)()
    if key is None or not key.strip():
        alert(book, "No key was entered; nothing changed.")
        return False
    where = store_api_key(key)
    try:
        settings = read_settings(book)
        client = AlmaClient(
            base_url=settings.base_url or None,
            region=None if settings.base_url else settings.region,
            api_key=key,
        )
    except AlmaToolsError as error:
        alert(book, f"The key is saved in {where}, but it could not be checked: {error}")
        return True
    try:
        client.test_key()
    except AuthError as error:
        alert(book, f"The key is saved in {where}, but Alma did not accept it: {error}")
        return True
    except AlmaToolsError as error:
        alert(book, f"The key is saved in {where}, but it could not be checked with Alma now: {error}")
        return True
    finally:
        client.close()
    alert(book, f"The key is saved in {where} and Alma accepted it.")
    return True
