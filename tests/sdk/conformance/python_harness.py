"""The Python SDK's conformance harness (protocol: sdks/conformance/README.md).

python -m tests.sdk.conformance.python_harness
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aforo.runtime.postgres import free_port
from aforo_metering import Client, MeteringMiddleware
from tests.services import wait_port

out_lock = threading.Lock()


def say(message: dict[str, Any]) -> None:
    with out_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def stats(client: Client) -> dict[str, Any]:
    s = client.stats
    return {
        "accepted": s.accepted,
        "duplicates": s.duplicates,
        "rejected": s.rejected,
        "dropped": s.dropped,
        "failed": s.failed,
        "retries": s.retries,
        "batches": s.batches,
        "pending": client.pending,
    }


def serve(client: Client, command: dict[str, Any]) -> int:
    def handler(status: int, body: str) -> Any:
        async def endpoint(request: Request) -> Response:
            await request.body()
            return Response(body, status_code=status)

        return endpoint

    routes = [
        Route(r["route"], handler(r["status"], r["body"]), methods=[r["method"]])
        for r in command["routes"]
    ]
    app = Starlette(routes=routes)
    app.add_middleware(MeteringMiddleware, client=client, metric=command["metric"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    wait_port(port)
    return port


def main() -> None:
    client: Client | None = None
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "client":
                o = command["options"]
                client = Client(
                    command["url"],
                    command["token"],
                    **{k: o[k] for k in o if k != "url"},
                )
                say({"ok": True})
                continue
            assert client is not None, "no client"
            if op == "record":
                c = client
                ids = [f"{command['id_prefix']}-{i}" for i in range(command["count"])]

                def record(c: Client = c, ids: list[str] = ids, cmd: Any = command) -> None:
                    for eid in ids:
                        sub = cmd.get("subscription_id")
                        c.record(cmd["metric"], 1, event_id=eid, subscription_id=sub)

                if "background" in command:
                    tag = command["background"]

                    def run(record: Any = record, tag: str = tag) -> None:
                        record()
                        say({"done": tag})

                    threading.Thread(target=run, daemon=True).start()
                else:
                    record()
                say({"ok": True})
            elif op == "flush":
                say({"ok": True, "flushed": client.flush(command["timeout"])})
            elif op == "close":
                client.close(command["timeout"])
                say({"ok": True})
            elif op == "stats":
                say({"ok": True, **stats(client)})
            elif op == "serve":
                say({"ok": True, "port": serve(client, command)})
            elif op == "exit":
                say({"ok": True})
                sys.exit(0)  # no close(): the interpreter's exit must send what is buffered
            else:
                say({"error": f"unknown op {op}"})
        except Exception as e:  # report, keep serving: the runner decides
            say({"error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
