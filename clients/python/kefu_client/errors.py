"""KefuError: the one exception a kefu call raises."""

from __future__ import annotations

import grpc


class KefuError(Exception):
    """A refused or failed call, carrying the gRPC status code's name and the server's message.

    `code` is the name ("INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED", …) so
    callers can branch without importing grpc; `status` is the grpc.StatusCode itself.
    """

    def __init__(self, status: grpc.StatusCode, message: str):
        super().__init__(f"{status.name}: {message}")
        self.status = status
        self.code = status.name
        self.message = message

    @classmethod
    def _from_rpc(cls, e: grpc.RpcError) -> KefuError:
        code = e.code() if hasattr(e, "code") else None
        details = e.details() if hasattr(e, "details") else None
        return cls(code or grpc.StatusCode.UNKNOWN, details or str(e))
