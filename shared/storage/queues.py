"""The retry queue as the app writes to it: base64 messages, as the Functions host reads them."""

from __future__ import annotations

import threading
from typing import Any

from shared.config import Settings
from shared.domain.jobs import RETRY_QUEUE, Job, serialize
from shared.storage.clients import queue_client

MAX_VISIBILITY_DELAY_SECONDS = 7 * 24 * 3600


class RetryQueue:
    def __init__(self, settings: Settings, name: str = RETRY_QUEUE) -> None:
        self._settings = settings
        self._name = name
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from azure.core.exceptions import ResourceExistsError

                    client = queue_client(self._settings, self._name)
                    try:
                        client.create_queue()
                    except ResourceExistsError:
                        pass
                    self._client = client
        return self._client

    def enqueue(self, job: Job, delay_seconds: float = 0) -> None:
        delay = max(0, min(int(delay_seconds), MAX_VISIBILITY_DELAY_SECONDS))
        self.client.send_message(serialize(job), visibility_timeout=delay or None)
