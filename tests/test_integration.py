"""The Integration Guide: every snippet is run or validated. SDK, middleware, REST and upload
snippets run with their own toolchains against the console served over HTTP and their events
are read back through GraphQL; the MCP commands run with the official client; the nginx snippet
runs in real nginx; gateway configurations are parsed (AWS's against botocore's service models)
and what they would send is posted to the endpoint they name, then read back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
import yaml
from botocore.validate import ParamValidator
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aforo.config import Settings
from aforo.errors import DomainError
from aforo.runtime.postgres import free_port
from aforo.services import integration
from tests.conftest import with_settings
from tests.gateway import make_key_world, serving, upstream_app
from tests.sdk.conformance import toolchains
from tests.sdk.conftest import Console, console  # noqa: F401 - the console fixture
from tests.sdk.test_mcp_proxy import AGENT, SERVER, drive, wait_for_events
from tests.services import AppServer, wait_port
from tests.support import Api

GUIDE = """query($p: ID!) { integrationGuide(productId: $p) {
  productId productSlug consoleUrl metric gatewayTokens plans { id slug }
  endpoints { events mcp upload verify graphql kong aws azure apigee mulesoft }
  placeholders { name description secret }
  sections { tier title description snippets {
    key tier target title language filename description code } } } }"""
EXPECTED = {
    "SDK": ["sdk/node", "sdk/python", "sdk/go", "sdk/java"],
    "MIDDLEWARE": ["middleware/node", "middleware/python", "middleware/go", "middleware/java"],
    "REST": ["rest/curl"],
    "UPLOAD": ["upload/csv", "upload/json"],
    "GATEWAY": [
        "gateway/kong-admin",
        "gateway/kong-declarative",
        "gateway/aws-access-log",
        "gateway/aws-firehose",
        "gateway/azure-policy",
        "gateway/azure-forwarder",
        "gateway/apigee",
        "gateway/mulesoft",
    ],
    "MCP": ["mcp/stdio", "mcp/http"],
    "VERIFY": ["verify/nginx"],
}


async def fetch_guide(console: Console, token: str | None = None) -> dict[str, Any]:  # noqa: F811
    """Through the console served over HTTP: the URLs in the snippets are the ones it is at."""
    async with httpx.AsyncClient(base_url=console.url, timeout=30) as c:
        r = await c.post(
            "/graphql",
            json={"query": GUIDE, "variables": {"p": console.world.product_id}},
            headers={"Authorization": f"Bearer {token or console.world.admin}"},
        )
    body: dict[str, Any] = r.json()
    return body


def snippets(guide: dict[str, Any]) -> dict[str, str]:
    return {
        s["key"]: s["code"]
        for sec in guide["data"]["integrationGuide"]["sections"]
        for s in sec["snippets"]
    }


@pytest.fixture
async def guide(console: Console) -> dict[str, str]:  # noqa: F811
    body = await fetch_guide(console)
    assert "errors" not in body, body
    return snippets(body)


def env(console: Console, **extra: str) -> dict[str, str]:  # noqa: F811
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {
        **keep,
        "AFORO_TOKEN": console.token,
        "AFORO_SUBSCRIPTION_ID": console.subscription_id,
        "PYTHONPATH": str(toolchains.ROOT),
        **extra,
    }


async def run(cmd: list[str], cwd: Path, environ: dict[str, str], within: float = 240) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), within)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"{' '.join(cmd)}: exit {proc.returncode}\n{text[-3000:]}"
    return text


async def events_where(console: Console, n: int, **filters: Any) -> list[dict[str, Any]]:  # noqa: F811
    return await wait_for_events(console, n, **filters)


# -- the guide itself ---------------------------------------------------------------------------
async def test_guide_has_every_tier_and_target_filled_in_and_never_a_secret(
    console: Console,  # noqa: F811
) -> None:
    body = await fetch_guide(console)
    g = body["data"]["integrationGuide"]
    assert [s["tier"] for s in g["sections"]] == list(EXPECTED)
    for sec in g["sections"]:
        assert [s["key"] for s in sec["snippets"]] == EXPECTED[sec["tier"]]
    assert g["consoleUrl"] == console.url
    assert g["endpoints"]["kong"] == f"{console.url}/v1/usage/gateways/kong"
    assert g["productId"] == console.world.product_id and g["metric"] == "api_calls"
    assert [p["id"] for p in g["plans"]] == [console.world.plan_id]
    (token_line,) = g["gatewayTokens"]
    assert token_line.startswith("edge (gwt_") and console.token not in token_line
    assert {p["name"]: p["secret"] for p in g["placeholders"]} == {
        "AFORO_TOKEN": True,
        "AFORO_SUBSCRIPTION_ID": False,
    }
    raw = json.dumps(body)
    assert console.token not in raw and console.world.key not in raw  # no secret, anywhere
    for key, code in snippets(body).items():
        no_url = ("gateway/aws-access-log", "gateway/azure-policy")  # the gateway side only
        assert key in no_url or console.url in code, code
        ours = [u for u in re.findall(r"https?://[^\s\"'<>]+", code) if "/v1/" in u]
        assert all(u.startswith(console.url) for u in ours), code

    developer = await fetch_guide(console, console.world.dev)
    assert developer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with httpx.AsyncClient(base_url=console.url) as c:
        r = await c.post(
            "/graphql",
            json={"query": GUIDE, "variables": {"p": "00000000-0000-0000-0000-000000000000"}},
            headers={"Authorization": f"Bearer {console.world.admin}"},
        )
        nope = r.json()["errors"][0]
        assert (nope["extensions"]["code"], nope["extensions"]["field"]) == (
            "NOT_FOUND",
            "productId",
        )


async def test_public_url_setting_and_urls_that_never_reach_a_snippet(
    api: Api, settings: Settings
) -> None:
    world = await make_key_world(api)
    public = "https://console.acme.example/metering"
    async with serving(with_settings(settings, public_url=public)) as other:
        d = await other.data(GUIDE, {"p": world.product_id}, token=world.admin)
    g = d["integrationGuide"]
    assert g["consoleUrl"] == public and g["endpoints"]["events"] == f"{public}/v1/usage/events"
    for bad in (
        "javascript:alert(1)",
        "https://x.example/';rm -rf ~;'",
        "https://user:pw@x.example",
        "https://x.example/?next=1",
        "https://x.example/a b",
        "ftp://x.example",
    ):
        with pytest.raises(DomainError):
            integration.console_url(bad)


# -- SDKs, middleware, REST, uploads: run against the console ----------------------------------
@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    return {
        "node": toolchains.build_node(),
        "go": toolchains.build_go(),
        "java": toolchains.build_java(),
    }


def _workdir(tmp: Path, name: str) -> Path:
    d = tmp / name
    d.mkdir()
    (d / "node_modules").symlink_to(toolchains.NODE / "node_modules")
    return d


def _go_module(d: Path, code: str) -> None:
    (d / "main.go").write_text(code)
    (d / "go.mod").write_text(
        "module snippet\n\ngo 1.19\n\nrequire github.com/aforo/metering-go v0.0.0\n\n"
        f"replace github.com/aforo/metering-go => {toolchains.GO}\n"
    )


async def _run_program(key: str, code: str, d: Path, environ: dict[str, str]) -> None:
    """A snippet that does its work and exits."""
    lang = key.split("/")[1]
    if lang == "node":
        (d / "s.mjs").write_text(code)
        await run(["node", "s.mjs"], d, environ)
    elif lang == "python":
        (d / "s.py").write_text(code)
        await run([sys.executable, "s.py"], d, environ)
    elif lang == "go":
        _go_module(d, code)
        await run(["go", "run", "."], d, environ)
    elif lang == "java":
        (d / "Main.java").write_text(code)
        await run(["java", "-cp", toolchains.java_classpath(), "Main.java"], d, environ)
    else:
        (d / "s.sh").write_text(code)
        await run(["bash", "-eu", "-o", "pipefail", "s.sh"], d, environ)


async def _start_server(key: str, code: str, d: Path, environ: dict[str, str], port: int) -> Any:
    """A middleware snippet: a server listening on 8080, moved to a free port."""
    code = code.replace("8080", str(port))
    lang = key.split("/")[1]
    if lang == "node":
        (d / "s.mjs").write_text(code)
        cmd = ["node", "s.mjs"]
    elif lang == "python":
        (d / "s.py").write_text(code)
        cmd = [sys.executable, "s.py"]
    elif lang == "go":
        _go_module(d, code)
        await run(["go", "build", "-o", "server", "."], d, environ)
        cmd = [str(d / "server")]
    else:
        (d / "AforoMetering.java").write_text(code)
        cp = toolchains.java_classpath()
        await run(
            ["javac", "-d", ".", "-cp", f"{cp}:{toolchains.SERVLET_API}", "AforoMetering.java"],
            d,
            environ,
        )
        cmd = [
            "java",
            "-cp",
            f"{cp}:.",
            "com.aforo.metering.SnippetHost",
            "AforoMetering",
            str(port),
        ]
    log = (d / "server.log").open("wb")
    return await asyncio.create_subprocess_exec(
        *cmd, cwd=d, env=environ, stdout=log, stderr=subprocess.STDOUT
    )


async def test_sdk_middleware_rest_and_upload_snippets_run_against_the_console(
    console: Console,  # noqa: F811
    guide: dict[str, str],
    built: dict[str, Path],
) -> None:
    environ = env(console)
    with tempfile.TemporaryDirectory(prefix="guide-") as tmp_name:
        tmp = Path(tmp_name)
        programs = [k for k in guide if k.split("/")[0] in ("sdk", "rest", "upload")]
        await asyncio.gather(
            *(
                _run_program(k, guide[k], _workdir(tmp, k.replace("/", "-")), environ)
                for k in programs
            )
        )
        servers = [k for k in guide if k.startswith("middleware/")]
        ports = {k: free_port() for k in servers}
        procs = await asyncio.gather(
            *(
                _start_server(k, guide[k], _workdir(tmp, k.replace("/", "-")), environ, ports[k])
                for k in servers
            )
        )
        try:
            for k in servers:
                try:
                    await asyncio.to_thread(wait_port, ports[k], 60)
                except TimeoutError:
                    log = tmp / k.replace("/", "-") / "server.log"
                    raise AssertionError(f"{k} did not start:\n{log.read_text()[-3000:]}") from None
                async with httpx.AsyncClient(timeout=30) as c:
                    r = await c.get(
                        f"http://127.0.0.1:{ports[k]}/items/42",
                        headers={"X-Api-Key-Id": console.key_id},
                    )
                assert r.status_code == 200 and "42" in r.text, (k, r.text)
            # the servers send within their flush interval: no shutdown needed
            metered = await events_where(console, len(servers), path="/items/42")
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
                await p.wait()
    sdk = await console.events(metric="api_calls", quantity=1.0, route=None, path=None)
    sdk = [e for e in sdk if e["source"] == "rest" and len(e["event_id"]) == 32]
    assert len(sdk) == 4 and {e["subscription_id"] for e in sdk} == {console.subscription_id}
    assert sorted(e["route"] for e in metered) == sorted(
        ["/items/{id}", "/items/{item_id}", "/items/{id}", "/items/*"]
    )
    assert all(e["key_id"] == console.key_id and e["status"] == 200 for e in metered)
    assert all(e["metric"] == "api_calls" for e in metered)
    (rest,) = await console.events(event_id="order-1001")
    assert rest["subscription_id"] == console.subscription_id
    assert rest["properties"] == {"region": "eu"}
    uploaded = {e["event_id"]: e for e in await console.events() if e["event_id"][:4] == "job-"}
    assert {k: v["quantity"] for k, v in uploaded.items()} == {"job-1": 3, "job-2": 1, "job-3": 5}
    assert uploaded["job-1"]["properties"] == {"source": "batch"}
    assert {e["source"] for e in uploaded.values()} == {"csv", "jsonl"}


# -- MCP --------------------------------------------------------------------------------------
async def test_mcp_snippets_meter_tool_calls(
    console: Console,  # noqa: F811
    guide: dict[str, str],
    built: dict[str, Path],
) -> None:
    config = json.loads(guide["mcp/stdio"])
    (entry,) = config["mcpServers"].values()
    args = entry["args"]
    assert entry["command"] == "npx" and "@aforo/mcp-proxy" in args
    server_at = args.index("--") + 1
    args = [*args[:server_at], sys.executable, SERVER]  # your server's command
    environ = {**env(console), **{k: v.replace("${AFORO_TOKEN}", console.token)
                                  for k, v in entry["env"].items()}}  # fmt: skip
    params = StdioServerParameters(command="npx", args=args, env=environ, cwd=str(toolchains.NODE))
    async with Client(params, client_info=AGENT, mode="legacy") as client:
        await drive(client)
    assert len(await wait_for_events(console, 3, metric="mcp_tool_calls")) == 3

    upstream, listen = free_port(), free_port()
    line = guide["mcp/http"].replace("127.0.0.1:9000", f"127.0.0.1:{upstream}")
    line = line.replace("127.0.0.1:8931", f"127.0.0.1:{listen}")
    server = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, SERVER, "http", str(upstream)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # the command line as a shell runs it: leading NAME=value words go to the environment
    words = shlex.split(line.splitlines()[-1])
    assigned = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
    argv = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
    # In a process group of its own, stopped whole: npx runs the proxy as a child that a
    # signal to npx alone leaves running.
    proxy = await asyncio.create_subprocess_exec(
        *argv, cwd=toolchains.NODE, env={**env(console), **assigned}, start_new_session=True
    )
    try:
        await asyncio.to_thread(wait_port, upstream, 60)
        await asyncio.to_thread(wait_port, listen, 60)
        async with Client(
            f"http://127.0.0.1:{listen}/mcp", client_info=AGENT, mode="legacy"
        ) as client:
            await drive(client)
        events = await wait_for_events(console, 6, metric="mcp_tool_calls")
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        await proxy.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proxy.pid, signal.SIGKILL)  # whatever of the group is left
        server.terminate()
        await asyncio.to_thread(server.wait, 20)
    assert sorted({str(e["properties"]) for e in events}) == [
        str({"transport": "stdio"}),
        str({"transport": "streamable_http"}),
    ]


# -- nginx ------------------------------------------------------------------------------------
NGINX_WRAP = """worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
{snippet}
    }}
}}
"""


async def test_nginx_snippet_verifies_keys_in_real_nginx(
    console: Console,  # noqa: F811
    guide: dict[str, str],
) -> None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    upstream = AppServer(upstream_app()).start()
    d = Path(tempfile.mkdtemp(prefix="guide-nginx-"))
    port = free_port()
    snippet = guide["verify/nginx"].replace("127.0.0.1:8080", f"127.0.0.1:{upstream.port}")
    (d / "nginx.conf").write_text(NGINX_WRAP.format(dir=d, port=port, snippet=snippet))
    # the one line the snippet keeps out of its file: the gateway token
    (d / "aforo-token.conf").write_text(f'set $aforo_gateway_token "{console.token}";\n')
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [binary, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log"),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.to_thread(wait_port, port, 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            ok = await c.get("/orders/7", headers={"Authorization": f"Bearer {console.world.key}"})
            refused = await c.get("/orders/7", headers={"Authorization": "Bearer sk_live_nope"})
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.stop()
        shutil.rmtree(d, ignore_errors=True)
    assert ok.status_code == 200, ok.text
    seen = ok.json()["headers"]
    assert seen["x-api-key-id"] == console.key_id
    assert seen["x-subscription-id"] == console.subscription_id
    assert "authorization" not in seen  # the customer's key never reaches the API
    assert refused.status_code == 403


# -- gateway configurations ---------------------------------------------------------------------
@pytest.fixture
async def third_party() -> AsyncIterator[tuple[AppServer, list[dict[str, Any]]]]:
    """Stands in for hosts that are not ours (the Kong Admin API, Anypoint's report URL)."""
    seen: list[dict[str, Any]] = []

    async def any_request(request: Request) -> JSONResponse:
        body = await request.body()
        seen.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        if request.url.path.startswith("/report"):
            return JSONResponse(MULE_EXPORT)
        return JSONResponse({"id": "plugin-1"}, status_code=201)

    server = AppServer(Starlette(routes=[Route("/{p:path}", any_request, methods=["GET", "POST"])]))
    yield server.start(), seen
    server.stop()


MULE_EXPORT = [
    {"API Name": "orders-api", "API Version": "v1", "Application": "mule-client-7",
     "Client IP": "192.0.2.2", "Message ID": "b7f0-guide", "Resource Path": "/api/orders/7",
     "Verb": "DELETE", "Status Code": 204, "Response Time": 19, "Request Size": 0,
     "Response Size": 0, "Timestamp": "2026-11-27T07:32:37.123Z", "Org ID": "org-99"},
]  # fmt: skip


async def _post(url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as c:
        return await c.post(url, content=json.dumps(body).encode(), headers=headers)


async def test_kong_snippets_configure_what_the_kong_endpoint_takes(
    console: Console,  # noqa: F811
    guide: dict[str, str],
    third_party: tuple[AppServer, list[dict[str, Any]]],
) -> None:
    declarative = yaml.safe_load(guide["gateway/kong-declarative"])
    assert declarative["_format_version"] == "3.0"
    (plugin,) = declarative["plugins"]
    assert plugin["name"] == "http-log"
    cfg = plugin["config"]
    header = cfg["headers"]["X-Gateway-Token"]
    assert header == '${{ env "DECK_AFORO_TOKEN" }}'  # decK's substitution, not a secret

    # the Admin API call configures the same plugin, with the token from the environment
    admin, seen = third_party
    script = guide["gateway/kong-admin"].replace("http://localhost:8001", admin.url)
    with tempfile.TemporaryDirectory() as d:
        await run(["bash", "-eu", "-c", script], Path(d), env(console))
    (call,) = seen
    assert call["path"] == "/plugins"
    posted = json.loads(call["body"])
    assert posted["config"]["headers"] == {"X-Gateway-Token": console.token}
    assert {k: v for k, v in posted["config"].items() if k != "headers"} == {
        k: v for k, v in cfg.items() if k != "headers"
    }

    # what Kong then sends (a batch, as queue.max_batch_size > 1 makes it) is ingested
    log = {"request": {"id": "kong-guide-1", "method": "GET", "uri": "/orders/42?x=1",
                       "size": "86", "headers": {}},
           "response": {"status": 200, "size": "934"}, "route": {"name": "orders"},
           "consumer": {"id": console.key_id}, "latencies": {"request": 15},
           "client_ip": "203.0.113.7", "started_at": 1795764757123}  # fmt: skip
    r = await _post(cfg["http_endpoint"], [log], {"X-Gateway-Token": console.token,
                                                  "Content-Type": cfg["content_type"]})  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    (event,) = await console.events(event_id="kong:kong-guide-1")
    assert (event["route"], event["key_id"], event["status"]) == ("orders", console.key_id, 200)


async def test_aws_snippets_validate_against_the_aws_models_and_deliver(
    console: Console,  # noqa: F811
    guide: dict[str, str],
) -> None:
    session = botocore.session.get_session()
    firehose = session.get_service_model("firehose").operation_model("CreateDeliveryStream")
    stream = json.loads(
        guide["gateway/aws-firehose"]
        .replace("${AFORO_TOKEN}", console.token)
        .replace("${AWS_ACCOUNT_ID}", "123456789012")
        .replace("${FAILED_DELIVERY_BUCKET}", "failed-usage")
    )
    report = ParamValidator().validate(stream, firehose.input_shape)
    assert not report.has_errors(), report.generate_report()
    fmt = guide["gateway/aws-access-log"].strip()
    update = session.get_service_model("apigateway").operation_model("UpdateStage")
    patch = {"restApiId": "a1b2c3", "stageName": "prod", "patchOperations": [
        {"op": "replace", "path": "/accessLogSettings/format", "value": fmt}]}  # fmt: skip
    assert not ParamValidator().validate(patch, update.input_shape).has_errors()

    # API Gateway fills in $context variables; Firehose posts base64 records with the access key
    sample = {"requestId": "aws-guide-1", "identity.sourceIp": "198.51.100.4",
              "requestTimeEpoch": "1795764757123", "httpMethod": "POST",
              "resourcePath": "/orders/{id}", "path": "/prod/orders/9", "routeKey": "-",
              "status": "201", "responseLength": "12", "responseLatency": "33",
              "identity.apiKeyId": "-", "accountId": "123456789012"}  # fmt: skip
    line = re.sub(r"\$context\.([A-Za-z.]+)", lambda m: sample[m.group(1)], fmt)
    json.loads(line)  # still one JSON object per line
    endpoint = stream["HttpEndpointDestinationConfiguration"]["EndpointConfiguration"]
    delivery = {"requestId": "d-1", "timestamp": 1795764758000,
                "records": [{"data": base64.b64encode(line.encode()).decode()}]}  # fmt: skip
    r = await _post(endpoint["Url"], delivery, {"X-Amz-Firehose-Access-Key": endpoint["AccessKey"]})
    assert r.status_code == 200 and r.json()["requestId"] == "d-1", r.text
    (event,) = await console.events(event_id="aws:aws-guide-1")
    assert (event["route"], event["status"], event["latency_ms"]) == ("/orders/{id}", 201, 33)


async def test_azure_policy_and_forwarder_deliver_what_the_azure_endpoint_takes(
    console: Console,  # noqa: F811
    guide: dict[str, str],
    built: dict[str, Path],
) -> None:
    policies = ET.fromstring(guide["gateway/azure-policy"])  # noqa: S314 - our own output
    assert policies.tag == "policies"
    assert [s.tag for s in policies] == ["inbound", "backend", "outbound", "on-error"]
    assert all(s.find("base") is not None for s in policies)
    log = policies.find("outbound/log-to-eventhub")
    assert log is not None and log.get("logger-id") == "aforo-usage"
    names = re.findall(r'new JProperty\("(\w+)"', log.text or "")
    # one message as the policy expression builds it, for each property it writes
    values = {
        "EventTime": "2026-11-27T07:32:37.1234567Z",
        "ServiceName": "contoso-apim",
        "RequestId": "azure-guide-1",
        "IpAddress": "203.0.113.9",
        "Method": "PUT",
        "Url": "https://contoso.azure-api.net/echo/items/5?x=1",
        "ApiId": "echo-api",
        "OperationId": "update-item",
        "SubscriptionId": console.subscription_id,
        "ResponseCode": 200,
        "RequestSize": "17",
        "ResponseSize": "40",
        "ElapsedMs": 88,
    }
    assert sorted(names) == sorted(values)
    message = json.dumps({n: values[n] for n in names})

    # the forwarding function, run with Node against a stand-in for the Azure Functions host
    with tempfile.TemporaryDirectory(prefix="guide-azure-") as tmp:
        d = _workdir(Path(tmp), "fn")
        (d / "node_modules").unlink()
        stub = d / "node_modules" / "@azure" / "functions"
        stub.mkdir(parents=True)
        (stub / "package.json").write_text('{"name": "@azure/functions", "main": "index.js"}')
        (stub / "index.js").write_text(
            "exports.registered = {};\n"
            "exports.app = { eventHub(name, options) { exports.registered[name] = options; } };\n"
        )
        (d / "function.mjs").write_text(guide["gateway/azure-forwarder"])
        (d / "run.mjs").write_text(
            "import './function.mjs';\n"
            "import { registered } from '@azure/functions';\n"
            "const fn = registered.aforoUsage;\n"
            "if (fn.cardinality !== 'many') throw new Error('cardinality');\n"
            "const logged = [];\n"
            f"await fn.handler([{json.dumps(message)}], {{ log: (m) => logged.push(m) }});\n"
            "console.log(logged.join('\\n'));\n"
        )
        out = await run(["node", "run.mjs"], d, env(console))
    assert "forwarded 1 records" in out
    (event,) = await console.events(event_id="azure:azure-guide-1")
    assert event["route"] == "update-item" and event["subscription_id"] == console.subscription_id
    assert (event["method"], event["path"], event["status"]) == ("PUT", "/echo/items/5", 200)


async def test_apigee_and_mulesoft_snippets_deliver_what_their_endpoints_take(
    console: Console,  # noqa: F811
    guide: dict[str, str],
    third_party: tuple[AppServer, list[dict[str, Any]]],
) -> None:
    callout = ET.fromstring(guide["gateway/apigee"].split("-->", 1)[1])  # noqa: S314
    assert callout.tag == "ServiceCallout"
    url = callout.findtext("HTTPTargetConnection/URL")
    assert url == f"{console.url}/v1/usage/gateways/apigee"
    header = callout.find("Request/Set/Headers/Header")
    assert header is not None and header.get("name") == "X-Gateway-Token"
    assert header.text == "{private.aforo_token}"  # an encrypted KVM value, never the token
    payload = callout.find("Request/Set/Payload")
    assert payload is not None and payload.get("variablePrefix") == "@"
    flow = {"messageid": "apigee-guide-1", "organization.name": "acme-org",
            "environment.name": "prod", "apiproxy.name": "orders-v1",
            "client.received.start.timestamp": "1795764757123", "request.uri": "/v1/orders?p=2",
            "request.verb": "GET", "response.status.code": "200", "client_id": console.key_id,
            "developer.app.name": "acme-mobile", "client.ip": "192.0.2.1"}  # fmt: skip
    body = re.sub(r"@([a-z_.]+)#", lambda m: flow[m.group(1)], payload.text or "")
    r = await _post(url, json.loads(body), {"X-Gateway-Token": console.token})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    (event,) = await console.events(event_id="apigee:apigee-guide-1")
    assert (event["route"], event["key_id"]) == ("orders-v1", console.key_id)

    anypoint, seen = third_party
    with tempfile.TemporaryDirectory() as d:
        out = await run(
            ["bash", "-eu", "-o", "pipefail", "-c", guide["gateway/mulesoft"]],
            Path(d),
            env(console, ANYPOINT_TOKEN="anypoint-t", REPORT_URL=f"{anypoint.url}/report/1"),
        )
    assert json.loads(out)["accepted"] == 1
    assert seen[-1]["headers"]["authorization"] == "Bearer anypoint-t"
    (event,) = await console.events(event_id="mulesoft:b7f0-guide")
    assert (event["route"], event["method"], event["status"]) == ("orders-api", "DELETE", 204)
