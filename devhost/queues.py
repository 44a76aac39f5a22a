"""Polls the queues of queue-triggered functions with the host's semantics (extension 5.x):

- connection: the app setting named by `connection` (empty: `AzureWebJobsStorage`), a connection string or
  the identity-based `<name>__queueServiceUri` / `<name>__accountName`;
- host.json `extensions.queues`: batchSize (16), maxDequeueCount (5), visibilityTimeout (0), maxPollingInterval
  (2 s locally), messageEncoding (base64);
- a message that is not valid base64, or whose dequeue count already exceeds maxDequeueCount, goes to
  `<queue>-poison` without an invocation; success deletes it; failure on the last attempt
  (dequeue_count == maxDequeueCount) moves it to poison, earlier failures make it visible again after
  visibilityTimeout;
- polling backs off from 100 ms to maxPollingInterval while the queue is empty.
Messages of one batch run concurrently, as on the host.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from devhost.local_settings import resolve, timespan_seconds
from devhost.worker import IndexedFunction, InvocationFailed, QueueCall, Worker, invoke

log = logging.getLogger("devhost")

RUNNING_VISIBILITY_SECONDS = 600


@dataclass(frozen=True)
class QueueSettings:
    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 2.0
    base64: bool = True

    @classmethod
    def from_host_json(cls, host: dict[str, Any]) -> QueueSettings:
        queues = host.get("extensions", {}).get("queues", {})
        return cls(
            batch_size=min(32, int(queues.get("batchSize", 16))),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=timespan_seconds(queues.get("visibilityTimeout"), 0.0),
            max_polling_interval=timespan_seconds(queues.get("maxPollingInterval"), 2.0),
            base64=str(queues.get("messageEncoding", "base64")).lower() != "none",
        )


def queue_client(connection: str, queue_name: str) -> Any:
    """A raw client (no encode/decode policy: the poller decodes base64 itself, as the host does)."""
    from azure.storage.queue import QueueClient

    setting = connection or "AzureWebJobsStorage"
    value = os.environ.get(setting)
    if value:
        return QueueClient.from_connection_string(value, queue_name)
    endpoint = os.environ.get(f"{setting}__queueServiceUri")
    account = os.environ.get(f"{setting}__accountName")
    if not endpoint and not account:
        raise KeyError(f"queue connection {setting!r}: set {setting} or {setting}__accountName")
    from azure.identity import DefaultAzureCredential

    return QueueClient(endpoint or f"https://{account}.queue.core.windows.net", queue_name,
                       credential=DefaultAzureCredential())


class QueueRunner:
    def __init__(self, worker: Worker, function: IndexedFunction, settings: QueueSettings,
                 stop: threading.Event) -> None:
        self.worker = worker
        self.function = function
        self.settings = settings
        self.stop = stop
        self.queue_name = resolve(str(function.trigger["queueName"]))
        connection = resolve(str(function.trigger.get("connection") or ""))
        self.client = queue_client(connection, self.queue_name)
        self.poison = queue_client(connection, f"{self.queue_name}-poison")

    def run(self) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            self.client.create_queue()  # a convenience of local runs: the real host does not create it
        except ResourceExistsError:
            pass
        interval = 0.1
        with ThreadPoolExecutor(max_workers=self.settings.batch_size, thread_name_prefix=f"queue-{self.function.name}") as pool:
            while not self.stop.is_set():
                try:
                    messages = list(self.client.receive_messages(
                        messages_per_page=self.settings.batch_size, max_messages=self.settings.batch_size,
                        visibility_timeout=RUNNING_VISIBILITY_SECONDS))
                except AzureError as exc:
                    log.warning("queue %s: receive failed: %s", self.queue_name, exc)
                    messages = []
                if messages:
                    list(pool.map(self._process, messages))
                    interval = 0.1
                    continue
                self.stop.wait(interval)
                interval = min(interval * 2, self.settings.max_polling_interval)

    def _process(self, message: Any) -> None:
        try:
            self._process_one(message)
        except Exception as exc:  # storage trouble while settling: the message reappears after its visibility
            log.warning("queue %s: could not settle message %s: %s", self.queue_name, message.id, exc)

    def _process_one(self, message: Any) -> None:
        if message.dequeue_count > self.settings.max_dequeue_count:
            self._to_poison(message, "dequeue count exceeded before invocation")
            return
        try:
            body = (base64.b64decode(message.content, validate=True) if self.settings.base64
                    else str(message.content).encode("utf-8"))
        except (binascii.Error, ValueError):
            self._to_poison(message, "message is not valid base64")
            return
        call = QueueCall(id=message.id, body=body, dequeue_count=message.dequeue_count,
                         insertion_time=message.inserted_on, expiration_time=message.expires_on,
                         next_visible_time=message.next_visible_on, pop_receipt=message.pop_receipt)
        try:
            invoke(self.worker, self.function, call, f"New queue message detected on '{self.queue_name}'.")
        except InvocationFailed:
            if message.dequeue_count >= self.settings.max_dequeue_count:
                self._to_poison(message, f"reached MaxDequeueCount of {self.settings.max_dequeue_count}")
            else:
                self.client.update_message(message, visibility_timeout=int(self.settings.visibility_timeout))
            return
        self.client.delete_message(message)

    def _to_poison(self, message: Any, why: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        log.warning("Message %s has %s. Moving message to queue '%s-poison'.", message.id, why, self.queue_name)
        try:
            self.poison.create_queue()
        except ResourceExistsError:
            pass
        self.poison.send_message(message.content)
        self.client.delete_message(message)


def start_queues(worker: Worker, settings: QueueSettings, stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for function in worker.functions:
        if function.trigger_type != "queueTrigger":
            continue
        runner = QueueRunner(worker, function, settings, stop)
        thread = threading.Thread(target=runner.run, name=f"queue-{function.name}", daemon=True)
        thread.start()
        threads.append(thread)
        log.info("queue %s listening on %s", function.name, runner.queue_name)
    return threads
