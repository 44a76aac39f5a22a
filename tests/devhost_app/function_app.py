"""A small app, independent of the SCIM app, that exercises each devhost behaviour.

Timer and queue invocations are recorded in process memory and read back over HTTP (`GET /api/events`).
"""

import base64
import hashlib
import json
import os
import sys
import threading
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
EVENTS: list[dict[str, object]] = []
_lock = threading.Lock()


def record(**event: object) -> None:
    with _lock:
        EVENTS.append({**event, "at": time.time(), "caller": caller()})


def caller() -> str:
    """The module of the code that called the function (two frames up: the function, then its caller): which worker
    ran it, azure_functions_runtime's executor or devhost's in-process worker."""
    return str(sys._getframe(3).f_globals.get("__name__"))


@app.route(route="probe/{*rest}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def probe(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Everything the function sees of a request, to hold both workers to the same conversions."""
    body = req.get_body()
    payload = {
        "method": req.method, "url": req.url, "headers": dict(req.headers), "params": dict(req.params),
        "route": dict(req.route_params), "body_type": type(body).__name__, "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(), "caller": str(sys._getframe(1).f_globals.get("__name__")),
        "function_name": context.function_name, "retry": [context.retry_context.retry_count,
                                                          context.retry_context.max_retry_count],
        "traceparent": len(context.trace_context.trace_parent),
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", headers={"X-Probe": "1"})


@app.route(route="reflect", methods=["POST"])
def reflect(req: func.HttpRequest) -> func.HttpResponse:
    """Answers with the request body as it came, in the content type and status the request asks for."""
    return func.HttpResponse(req.get_body(), status_code=int(req.params.get("status", "200")),
                             mimetype=req.params.get("type", "application/octet-stream"),
                             headers={"X-Body-Base64": base64.b64encode(req.get_body()[:32]).decode()})


@app.route(route="text", methods=["GET"])
def text(req: func.HttpRequest) -> str:
    return "plain text returned as str"


@app.route(route="echo/{name}/{id:guid?}", methods=["GET", "POST"])
def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    payload = {
        "method": req.method, "url": req.url, "route": dict(req.route_params), "params": dict(req.params),
        "header": req.headers.get("x-test"), "body": req.get_body().decode(), "invocation_id": context.invocation_id,
        "function_name": context.function_name,
        "greeting": os.environ.get("GREETING"), "overridden": os.environ.get("OVERRIDDEN"),
    }
    return func.HttpResponse(json.dumps(payload), status_code=201 if req.method == "POST" else 200,
                             headers={"X-Echo": "yes", "ETag": 'W/"1"'}, mimetype="application/json")


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_number(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"number {req.route_params['id']}")


@app.route(route="items/{name}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"name {req.route_params['name']}")


@app.route(route="files/{*rest}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("rest", ""))


@app.route(route="slow", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(0.5)
    return func.HttpResponse("done")


@app.route(route="asyncecho", methods=["GET"])
async def async_echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("async ok", status_code=202)


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom")


@app.route(route="events", methods=["GET"])
def events(req: func.HttpRequest) -> func.HttpResponse:
    with _lock:
        return func.HttpResponse(json.dumps(EVENTS), mimetype="application/json")


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=True)
def every_second(timer: func.TimerRequest) -> None:
    record(fn="every_second", past_due=timer.past_due)


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=False)
def overrunning(timer: func.TimerRequest) -> None:
    record(fn="overrunning", past_due=timer.past_due)
    time.sleep(2.2)


@app.timer_trigger(schedule="%MONITORED_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def monitored(timer: func.TimerRequest) -> None:
    record(fn="monitored", past_due=timer.past_due)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def yearly(timer: func.TimerRequest, context: func.Context) -> None:
    record(fn="yearly", past_due=timer.past_due, invocation_id=context.invocation_id)


@app.timer_trigger(schedule="%FLAKY_SCHEDULE%", arg_name="timer", run_on_startup=True)
# whole seconds: the 3.13 worker (azure-functions-runtime) parses delay_interval as %H:%M:%S
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:01")
def flaky(timer: func.TimerRequest, context: func.Context) -> None:
    record(fn="flaky", retry_count=context.retry_context.retry_count)
    raise RuntimeError("always fails")


@app.queue_trigger(arg_name="msg", queue_name="%TEST_QUEUE%", connection="TestStorage")
def on_message(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    record(fn="on_message", body=body, dequeue_count=msg.dequeue_count, id=msg.id,
           insertion_time=msg.insertion_time.isoformat() if msg.insertion_time else None,
           pop_receipt=bool(msg.pop_receipt))
    if body.startswith("fail"):
        raise ValueError("asked to fail")


@app.queue_trigger(arg_name="msg", queue_name="%TEST_QUEUE%-poison", connection="TestStorage")
def on_poison(msg: func.QueueMessage) -> None:
    record(fn="on_poison", body=msg.get_body().decode(), dequeue_count=msg.dequeue_count)
