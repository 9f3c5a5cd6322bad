"""What a use case's `sandbox up` hook may read from the launcher's running sandbox.

The launcher (`sandbox.launcher.Sandbox`) calls `on_up(sandbox)`; the use cases must not import the
launcher, so these protocols describe the part of it the hooks use.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Protocol


class SandboxDataDir(Protocol):
    """The sandbox's data directory (each process keeps its files under `<data_dir>/<process>`)."""

    @property
    def data_dir(self) -> Path: ...


class RunningSandbox(SandboxDataDir, Protocol):
    """The started processes, their URLs and the IM client secrets the launcher registered."""

    @property
    def running(self) -> Collection[str]: ...

    @property
    def im_url(self) -> str: ...

    @property
    def client_secrets(self) -> Mapping[str, str]: ...

    def url(self, process: str) -> str: ...  # what the hook calls

    def public_url(self, process: str) -> str: ...  # what a browser uses (redirect URIs, links)
