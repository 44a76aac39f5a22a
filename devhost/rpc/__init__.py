"""The host's gRPC contract with language workers, as Python message classes.

`proto/` holds FunctionRpc.proto and its two imports unchanged from github.com/Azure/azure-functions-language-worker-
protobuf (MIT, LICENSE beside them; commit 2a3fb29, the v1.9.0 protofile plus the capabilities update strategy). They
are compiled when first needed with grpcio-tools (`grpc.protos`), so no generated code is kept in the repository and
the classes are exactly what the contract says. Only the Python 3.13 path needs them (the library worker takes its
messages as these objects), which is why grpcio-tools is a development requirement for 3.13 only.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import ModuleType

PROTO_DIR = Path(__file__).with_name("proto")
_lock = threading.Lock()
_protos: ModuleType | None = None


def protos() -> ModuleType:
    """The `FunctionRpc_pb2` module (StreamingMessage, InvocationRequest, TypedData, RpcHttp, ...)."""
    global _protos
    with _lock:
        if _protos is None:
            import grpc  # grpcio; grpc.protos compiles through grpcio-tools

            # grpc.protos resolves the file and its imports ("identity/...", "shared/...") against sys.path.
            sys.path.insert(0, str(PROTO_DIR))
            try:
                _protos = grpc.protos("FunctionRpc.proto")
            finally:
                sys.path.remove(str(PROTO_DIR))
        return _protos
