"""Blueprint: GET /api/health, anonymous and free of account data, for the Function App health check: table and
queue storage reachable (200, else 503), the retry and poison queue depths, and when reconcile last ran."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from scim_handlers.services import services
from shared.domain.jobs import POISON_QUEUE, RETRY_QUEUE
from shared.domain.times import utc_iso_or_none
from shared.storage.lease import LeaseStore

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    svc = services()
    body: dict[str, Any] = {"status": "healthy", "tables": "reachable", "queues": "reachable"}
    try:
        last = LeaseStore(svc.tables).last_run()
        body["lastReconcile"] = utc_iso_or_none(last)
    except Exception:
        body.update(status="unhealthy", tables="unreachable", lastReconcile=None)
    body["retryQueueDepth"] = svc.queue_depth(RETRY_QUEUE)
    body["poisonQueueDepth"] = svc.queue_depth(POISON_QUEUE)
    if body["retryQueueDepth"] is None or body["poisonQueueDepth"] is None:
        body.update(status="unhealthy", queues="unreachable")
    return func.HttpResponse(json.dumps(body), status_code=200 if body["status"] == "healthy" else 503,
                             mimetype="application/json")

