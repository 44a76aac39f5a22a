"""scim2-server (python-scim's reference SCIM server, in memory), served threaded over HTTP/1.1 with keep-alive,
for the side-by-side benchmark: `python -m bench.reference --port P --token T`."""

from __future__ import annotations

import argparse
import secrets

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config
from werkzeug.serving import WSGIRequestHandler, make_server


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                           config=config)
    service = ScimService(provider, secret=secrets.token_urlsafe(32))
    application = BearerTokenApplication(InMemoryStorage(), provider, service=service, bearer_tokens=[args.token])
    server = make_server("127.0.0.1", args.port, application, threaded=True, request_handler=KeepAliveHandler)
    print(f"reference ready on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
