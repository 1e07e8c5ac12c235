"""The REST API of the synthesized template, served on 127.0.0.1 the way API Gateway serves it.

Routes come from AWS::ApiGateway::Resource/Method; Cognito authorizers check the ID token against the
pool's JWKS (RS256, iss, aud = a client of the pool, token_use = id, exp); request validators check the
required headers and query strings; the Lambda proxy integration builds a REST (v1) proxy event and
invokes the function through moto's Lambda API, the same invoke path as everything else. The gateway's own
answers (401, unknown route, missing header, too large, integration failure) use the template's
AWS::ApiGateway::GatewayResponse bodies and headers, as API Gateway does. The stage's method throttling
(AWS::ApiGateway::Stage MethodSettings) is enforced with a token bucket per method, as API Gateway does: a request
beyond its method's rate and burst gets the THROTTLED gateway response (429, ``Retry-After``).
Local-only tooling lives under /_local/ and the ops page under /_ops (not part of the template's API).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests

from local.deployer import Deployment

log = logging.getLogger("local.gateway")


@dataclass
class Route:
    method: str  # GET, POST, ... or ANY
    resource: str  # "/orders/{order_id}"
    function_arn: str | None
    authorization: str = "NONE"
    pool_ids: list[str] = field(default_factory=list)
    required_headers: list[str] = field(default_factory=list)
    required_query: list[str] = field(default_factory=list)
    stage: str = "v1"
    api_id: str = ""
    _pattern: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            parts = []
            for seg in self.resource.strip("/").split("/"):
                if not seg:
                    continue
                m = re.fullmatch(r"\{(\w+)(\+?)\}", seg)
                if m and m.group(2):
                    parts.append(f"(?P<{m.group(1)}>.+)")
                elif m:
                    parts.append(f"(?P<{m.group(1)}>[^/]+)")
                else:
                    parts.append(re.escape(seg))
            self._pattern = re.compile("^/" + "/".join(parts) + "/?$")
        return self._pattern

    @property
    def specificity(self) -> tuple[int, int, int]:
        segs = [s for s in self.resource.split("/") if s]
        literal = sum(1 for s in segs if not s.startswith("{"))
        greedy = sum(1 for s in segs if s.endswith("+}"))
        return (-greedy, literal, len(segs))


def routes_from(deployment: Deployment, region: str = "us-east-1") -> list[Route]:
    res = deployment.resources
    apis = {r.ref: r for r in res("AWS::ApiGateway::RestApi")}
    paths: dict[str, str] = {}
    parents = {r.ref: (r.props.get("ParentId"), r.props.get("PathPart", "")) for r in
               res("AWS::ApiGateway::Resource")}
    for api in apis.values():
        paths[api.attrs["RootResourceId"]] = "/"

    def path_of(ref: str) -> str:
        if ref not in paths:
            parent, part = parents[ref]
            base = path_of(parent)
            paths[ref] = base.rstrip("/") + "/" + part
        return paths[ref]

    authorizers = {r.ref: r.props for r in res("AWS::ApiGateway::Authorizer")}
    validators = {r.ref: r.props for r in res("AWS::ApiGateway::RequestValidator")}
    stages = {r.props.get("RestApiId"): r.props.get("StageName", "v1") for r in res("AWS::ApiGateway::Stage")}
    routes = []
    for m in res("AWS::ApiGateway::Method"):
        p = m.props
        if p.get("HttpMethod") == "OPTIONS" and (p.get("Integration") or {}).get("Type") == "MOCK":
            continue
        uri = str((p.get("Integration") or {}).get("Uri", ""))
        found = re.search(r"/functions/(arn:[^/]+)/invocations", uri)
        auth = p.get("AuthorizationType", "NONE")
        pool_ids = []
        if auth == "COGNITO_USER_POOLS":
            authorizer = authorizers.get(p.get("AuthorizerId"), {})
            pool_ids = [arn.rsplit("/", 1)[-1] for arn in authorizer.get("ProviderARNs", [])]
        required_headers, required_query = [], []
        validator = validators.get(p.get("RequestValidatorId"), {})
        if validator.get("ValidateRequestParameters"):
            for key, required in (p.get("RequestParameters") or {}).items():
                if required in (True, "true"):
                    if key.startswith("method.request.header."):
                        required_headers.append(key.removeprefix("method.request.header."))
                    elif key.startswith("method.request.querystring."):
                        required_query.append(key.removeprefix("method.request.querystring."))
        routes.append(Route(
            method=p.get("HttpMethod", "ANY"), resource=path_of(p["ResourceId"]),
            function_arn=found.group(1) if found else None, authorization=auth, pool_ids=pool_ids,
            required_headers=required_headers, required_query=required_query,
            stage=stages.get(p.get("RestApiId"), "v1"), api_id=p.get("RestApiId", ""),
        ))
    routes.sort(key=lambda r: r.specificity, reverse=True)
    return routes


#: API Gateway's defaults when the template defines no gateway response: (status, message).
GATEWAY_DEFAULTS = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "BAD_REQUEST_PARAMETERS": (400, "Missing required request parameters"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
    "THROTTLED": (429, "Too Many Requests"),
    "DEFAULT_5XX": (500, "Internal server error"),
}
#: API Gateway REST's payload limit.
MAX_PAYLOAD = 10 * 1024 * 1024
#: Local-only paths (tooling, the ops page), served from ``Gateway.local_routes``, never part of the API.
LOCAL_PREFIXES = ("/_local/", "/_ops/")


class GatewayResponses:
    """The template's gateway responses: a response type's status and body, falling back to DEFAULT_4XX/5XX."""

    def __init__(self, deployment: Deployment) -> None:
        self.by_type = {r.props.get("ResponseType"): r.props for r in
                        deployment.resources("AWS::ApiGateway::GatewayResponse")}

    def render(self, response_type: str, request_id: str, message: str | None = None,
               status: int | None = None) -> tuple[int, dict[str, str], bytes]:
        default_status, default_message = GATEWAY_DEFAULTS.get(response_type, (status or 500, "Internal server error"))
        status = status or default_status
        message = message or default_message
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        props = self.by_type.get(response_type) or self.by_type.get(family)
        if props is None:
            return _json(status, {"message": message}, request_id)
        if props.get("StatusCode") and response_type in self.by_type:
            status = int(props["StatusCode"])
        template = (props.get("ResponseTemplates") or {}).get("application/json")
        if template is None:
            return _json(status, {"message": message}, request_id)
        body = (template.replace("$context.error.messageString", json.dumps(message))
                .replace("$context.error.message", message).replace("$context.requestId", request_id))
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        # Static response headers ("gatewayresponse.header.Retry-After": "'1'"); mapped values are not rendered.
        for key, value in (props.get("ResponseParameters") or {}).items():
            text = str(value)
            if key.startswith("gatewayresponse.header.") and len(text) >= 2 and text[0] == text[-1] == "'":
                headers[key.removeprefix("gatewayresponse.header.")] = text[1:-1]
        return status, headers, body.encode()


class TokenBucket:
    """API Gateway's throttle: ``burst`` tokens at most, refilled at ``rate`` a second; a request takes one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)  # a burst of 0 still lets the steady rate through, one at a time
        self.tokens = self.burst
        self.updated = now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one refills."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else float("inf")


class Throttles:
    """The stages' method throttling read from the template: a method's own setting (ResourcePath ``/~1orders``,
    HttpMethod ``POST``), else its resource's ``*``, else the stage's default (``/*`` ``*``); each method has its
    own bucket, as on API Gateway (a flood of one route does not take another's tokens)."""

    def __init__(self, deployment: Deployment, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.settings: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
        for stage in deployment.resources("AWS::ApiGateway::Stage"):
            by_method = self.settings.setdefault(str(stage.props.get("RestApiId", "")), {})
            for setting in stage.props.get("MethodSettings") or []:
                if "ThrottlingRateLimit" not in setting and "ThrottlingBurstLimit" not in setting:
                    continue
                # "/" + the resource path with "/" escaped as "~1": "/~1orders" is /orders; "/*" every resource.
                path = str(setting.get("ResourcePath", "/*"))
                if path != "/*":
                    path = path.removeprefix("/").replace("~1", "/").replace("~0", "~")
                by_method[(path, str(setting.get("HttpMethod", "*")).upper())] = (
                    float(setting.get("ThrottlingRateLimit", -1)), float(setting.get("ThrottlingBurstLimit", -1)))
        self.buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def limits(self, api_id: str, resource: str, method: str) -> tuple[float, float] | None:
        """(rate, burst) of a method, or None: not throttled (a negative value means no limit, as on AWS)."""
        by_method = self.settings.get(api_id, {})
        found = by_method.get((resource, method)) or by_method.get((resource, "*")) or by_method.get(("/*", "*"))
        if found is None or found[0] < 0 or found[1] < 0:
            return None
        return found

    def check(self, api_id: str, resource: str, method: str) -> float:
        """0 when the request may pass, else the seconds until its method has a token again."""
        limits = self.limits(api_id, resource, method)
        if limits is None:
            return 0.0
        key = (api_id, resource, method)
        with self._lock:
            now = self.clock()
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(limits[0], limits[1], now)
            return bucket.take(now)

    def describe(self) -> dict[str, Any]:
        """The limits by API and method (``GET /_local/throttling``)."""
        return {api_id: {f"{method} {path}": {"rate": rate, "burst": burst}
                         for (path, method), (rate, burst) in sorted(by_method.items())}
                for api_id, by_method in self.settings.items()}


class CognitoAuthorizer:
    """What API Gateway's COGNITO_USER_POOLS authorizer checks, against moto's Cognito."""

    def __init__(self, endpoint_url: str, cognito: Any, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.cognito = cognito
        self.region = region
        self._jwks: dict[str, jwt.PyJWKSet] = {}
        self._clients: dict[str, tuple[float, set[str]]] = {}
        self._lock = threading.Lock()

    def _keys(self, pool_id: str) -> jwt.PyJWKSet:
        with self._lock:
            if pool_id not in self._jwks:
                resp = requests.get(f"{self.endpoint_url}/{pool_id}/.well-known/jwks.json", timeout=10)
                resp.raise_for_status()
                self._jwks[pool_id] = jwt.PyJWKSet.from_dict(resp.json())
            return self._jwks[pool_id]

    def _client_ids(self, pool_id: str) -> set[str]:
        cached = self._clients.get(pool_id)
        if cached and time.monotonic() - cached[0] < 30:
            return cached[1]
        ids = {c["ClientId"] for c in self.cognito.list_user_pool_clients(
            UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]}
        self._clients[pool_id] = (time.monotonic(), ids)
        return ids

    def claims(self, header: str | None, pool_ids: list[str]) -> dict[str, Any] | None:
        """The verified claims of an ``Authorization`` header, or None (-> 401)."""
        if not header:
            return None
        token = header.split(" ", 1)[1].strip() if header.lower().startswith("bearer ") else header.strip()
        try:
            unverified = jwt.get_unverified_header(token)
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss", "")
        except jwt.PyJWTError:
            return None
        pool_id = iss.rsplit("/", 1)[-1]
        if pool_id not in pool_ids or iss != f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}":
            return None
        try:
            key = self._keys(pool_id)[unverified.get("kid", "")]
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=iss,
                                options={"verify_aud": False, "require": ["exp", "iss", "token_use"]})
        except (jwt.PyJWTError, KeyError) as exc:
            log.debug("token rejected: %s", exc)
            return None
        if claims.get("token_use") != "id" or claims.get("aud") not in self._client_ids(pool_id):
            return None
        return claims


def claims_as_strings(claims: dict[str, Any]) -> dict[str, str]:
    """API Gateway hands the Lambda every claim as a string (lists comma-joined)."""
    out = {}
    for k, v in claims.items():
        if isinstance(v, list):
            out[k] = ",".join(str(x) for x in v)
        elif isinstance(v, bool):
            out[k] = str(v).lower()
        else:
            out[k] = str(v)
    return out


class Gateway:
    def __init__(self, deployment: Deployment, endpoint_url: str, session: Any, region: str = "us-east-1",
                 host: str = "127.0.0.1", port: int = 8080) -> None:
        self.routes = routes_from(deployment, region)
        self.responses = GatewayResponses(deployment)
        self.throttles = Throttles(deployment)
        self.region = region
        self.lambda_client = session.client("lambda", endpoint_url=endpoint_url, region_name=region)
        self.authorizer = CognitoAuthorizer(
            endpoint_url, session.client("cognito-idp", endpoint_url=endpoint_url, region_name=region), region)
        self.local_routes: dict[tuple[str, str], Any] = {
            ("GET", "/_local/throttling"): lambda query: self.throttles.describe()}
        # Called after each API request with (api name, stage, resource or None, method, status, latency ms):
        # the stack records API Gateway's metrics from it (local/emf.py).
        self.on_request: Any = None
        self.api_names = {r.ref: str(r.props.get("Name") or r.logical_id)
                          for r in deployment.resources("AWS::ApiGateway::RestApi")}
        gateway = self

        class Handler(_Handler):
            pass

        Handler.gateway = gateway
        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, path known for another method?)"""
        path_known = False
        for route in self.routes:
            m = route.pattern.match(path)
            if not m:
                continue
            path_known = True
            if route.method in (method, "ANY"):
                return route, m.groupdict(), True
        return None, {}, path_known

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str) -> tuple[int, dict[str, str], bytes]:
        started = time.monotonic()
        answer = self._handle(method, raw_path, headers, body, source_ip)
        path = urlsplit(raw_path).path or "/"
        if self.on_request is not None and not path.startswith(LOCAL_PREFIXES) and path != "/_ops":
            route, _, _ = self.match(method, path)
            api_id = route.api_id if route else next(iter(self.api_names), "")
            self.on_request(self.api_names.get(api_id, api_id), route.stage if route else "v1",
                            route.resource if route else None, method, answer[0],
                            (time.monotonic() - started) * 1000)
        return answer

    def _handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
                source_ip: str) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(raw_path)
        path = url.path or "/"
        if path.startswith(LOCAL_PREFIXES) or path == "/_ops":
            local = self.local_routes.get((method, path))
            if local is None:
                return _json(404, {"message": "Not Found"})
            answer = local(parse_qs(url.query))
            return answer if isinstance(answer, tuple) else _json(200, answer)
        request_id = str(uuid.uuid4())
        route, path_params, _ = self.match(method, path)
        if route is None:
            return self.responses.render("MISSING_AUTHENTICATION_TOKEN", request_id)
        if self.throttles.check(route.api_id, route.resource, route.method):
            return self.responses.render("THROTTLED", request_id)
        if len(body) > MAX_PAYLOAD:
            return self.responses.render("REQUEST_TOO_LARGE", request_id)
        header_map = {k.lower(): v for k, v in headers}
        claims = None
        if route.authorization == "COGNITO_USER_POOLS":
            claims = self.authorizer.claims(header_map.get("authorization"), route.pool_ids)
            if claims is None:
                return self.responses.render("UNAUTHORIZED", request_id)
        query = parse_qs(url.query, keep_blank_values=True)
        missing = [h for h in route.required_headers if h.lower() not in header_map]
        missing += [q for q in route.required_query if q not in query]
        if missing:
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            return self.responses.render("BAD_REQUEST_PARAMETERS", request_id, message)
        if route.function_arn is None:
            return self.responses.render("DEFAULT_5XX", request_id)
        event = self.proxy_event(route, method, path, path_params, headers, query, body, claims,
                                 request_id, source_ip)
        resp = self.lambda_client.invoke(FunctionName=route.function_arn, Payload=json.dumps(event).encode())
        payload = resp["Payload"].read()
        if resp.get("FunctionError"):
            log.warning("%s %s: function error %s", method, path, payload[:500])
            return self.responses.render("INTEGRATION_FAILURE", request_id, status=502)
        try:
            result = json.loads(payload)
            status = int(result["statusCode"])
        except (ValueError, KeyError, TypeError):
            log.warning("%s %s: malformed Lambda proxy response %s", method, path, payload[:500])
            return self.responses.render("INTEGRATION_FAILURE", request_id, status=502)
        out_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[k] = ", ".join(str(v) for v in values)
        out_headers["x-amzn-RequestId"] = request_id
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        out_headers.setdefault("Content-Type", "application/json")
        return status, out_headers, data

    def proxy_event(self, route: Route, method: str, path: str, path_params: dict[str, str],
                    headers: list[tuple[str, str]], query: dict[str, list[str]], body: bytes,
                    claims: dict[str, Any] | None, request_id: str, source_ip: str) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for k, v in headers:
            multi_headers.setdefault(k, []).append(v)
        try:
            text, b64 = (body.decode() if body else None), False
        except UnicodeDecodeError:
            text, b64 = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        context: dict[str, Any] = {
            "resourceId": route.resource,
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{route.stage}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": route.stage,
            "domainName": "127.0.0.1",
            "apiId": route.api_id,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("User-Agent", ""),
                         "accountId": None, "caller": None, "user": None, "userArn": None,
                         "cognitoIdentityId": None, "cognitoIdentityPoolId": None},
        }
        if claims is not None:
            context["authorizer"] = {"claims": claims_as_strings(claims)}
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": text,
            "isBase64Encoded": b64,
        }


def _json(status: int, body: Any, request_id: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["x-amzn-RequestId"] = request_id
    return status, headers, json.dumps(body, default=str).encode()


class _Server(ThreadingHTTPServer):
    # The listen backlog: the default (5) resets connections when a few dozen clients connect at once; the kernel
    # caps it at net.core.somaxconn (4096 on current kernels).
    request_queue_size = 1024
    daemon_threads = True  # a thread per connection; keep-alive connections do not hold up shutdown


class _Handler(BaseHTTPRequestHandler):
    gateway: Gateway
    protocol_version = "HTTP/1.1"  # keep-alive: a client's pool reuses its connections
    server_version = "oms-local-apigw"
    # The headers and the body are two writes: without TCP_NODELAY a keep-alive client's delayed ACK stalls the
    # body ~40 ms. An idle keep-alive connection is closed after ``timeout`` seconds (its thread ends).
    disable_nagle_algorithm = True
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else b""
        try:
            status, headers, data = self.gateway.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            status, headers, data = _json(500, {"message": "Internal server error"})
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): nothing to answer
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
