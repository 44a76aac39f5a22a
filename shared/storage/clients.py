"""Storage clients built from the one storage setting, `AzureWebJobsStorage` (connection string) or its
identity-based form `AzureWebJobsStorage__accountName` (+ optional `__tableServiceUri`, `__queueServiceUri`,
`__clientId`), the same settings the Functions host reads.

SDK modules are imported inside the functions: importing the app must stay cheap and connect to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.config import Settings
from shared.storage.roundtrips import record_request, record_response

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueClient


def _credential(settings: Settings) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.storage_client_id:  # a user-assigned managed identity
        return ManagedIdentityCredential(client_id=settings.storage_client_id)
    return DefaultAzureCredential()


# Entra waits 60 s for an answer: a few quick retries, then a 503 that Entra retries itself, beat the SDK's
# default of 10 retries with up to 2 minutes of backoff.
CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "retry_backoff_factor": 0.4, "retry_backoff_max": 4,
                                  "connection_timeout": 5, "read_timeout": 20, "raw_request_hook": record_request,
                                  "raw_response_hook": record_response}


def _transport() -> Any:
    from shared.storage.transport import shared_transport

    return shared_transport(CLIENT_OPTIONS["connection_timeout"], CLIENT_OPTIONS["read_timeout"])


def table_service(settings: Settings) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    options = {**CLIENT_OPTIONS, "transport": _transport()}
    if settings.storage_connection_string:
        return TableServiceClient.from_connection_string(settings.storage_connection_string, **options)
    endpoint = settings.table_service_uri or f"https://{settings.storage_account_name}.table.core.windows.net"
    return TableServiceClient(endpoint=endpoint, credential=_credential(settings), **options)


def queue_client(settings: Settings, queue_name: str) -> QueueClient:
    """A client for one queue, speaking the Functions host's default base64 message encoding.

    The encode policies must be given to the queue client itself: given to QueueServiceClient they are
    silently ignored by get_queue_client().
    """
    from azure.storage.queue import ExponentialRetry, QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    policies: dict[str, Any] = {"message_encode_policy": TextBase64EncodePolicy(),
                                "message_decode_policy": TextBase64DecodePolicy(),
                                "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
                                "connection_timeout": 5, "read_timeout": 20, "transport": _transport()}
    if settings.storage_connection_string:
        return QueueClient.from_connection_string(settings.storage_connection_string, queue_name, **policies)
    endpoint = settings.queue_service_uri or f"https://{settings.storage_account_name}.queue.core.windows.net"
    return QueueClient(endpoint, queue_name, credential=_credential(settings), **policies)
