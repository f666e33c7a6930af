"""GitHub's published contract, for mocks that cannot drift from the real API.

Three npm packages, at pinned versions, carry what GitHub publishes about its API:

* ``@octokit/openapi`` -- the REST description (``generated/api.github.com.json``);
* ``@octokit/graphql-schema`` -- the GraphQL schema (``schema.graphql``);
* ``@octokit/webhooks-examples`` -- real webhook payloads (``api.github.com/index.json``).

:func:`contract_files` fetches each with ``npm pack NAME@VERSION`` into
``.cache/github-contract/`` of the repository (gitignored) and extracts only the files above;
later runs reuse them. :class:`GitHubMock` registers ``responses`` mocks that are held to that
contract:

a) a REST mock's method and path must be an operation of the OpenAPI description (templated
   paths such as ``/repos/{owner}/{repo}/issues`` match), and every query parameter the
   client sends must be declared for it (enums and integer types checked);
b) every REST body is validated (``jsonschema``) against the operation's response schema for
   that status (statuses the description does not list for the operation, such as 403/429
   rate limits or 5xx, are held to ``basic-error``, GitHub's documented error shape);
   ``$ref`` s are resolved once per operation by copying only the reachable components;
c) every GraphQL document the client sends is validated against the schema
   (``graphql.validate``) with its variables coerced against the operation's variable
   definitions, and every mocked ``data`` is executed against the document so a mock can
   only contain what the query selects, with the schema's types and non-null rules;
d) mocks are fired exactly as often as declared (``assert_all_requests_are_fired`` and a
   per-mock call budget).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import graphql
import jsonschema
import responses
from responses import matchers

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("GITHUB_CONTRACT_CACHE", REPO_ROOT / ".cache" / "github-contract"))

#: npm package -> (pinned version, files to extract from its tarball).
PINNED: dict[str, tuple[str, tuple[str, ...]]] = {
    "@octokit/openapi": ("23.0.2", ("package/generated/api.github.com.json",)),
    "@octokit/graphql-schema": ("15.26.1", ("package/schema.graphql",)),
    "@octokit/webhooks-examples": ("7.6.1", ("package/api.github.com/index.json",)),
}

API = "https://api.github.com:443"  # PyGithub sends the port; bodies use the host without it
API_URL = "https://api.github.com"
GRAPHQL_URL = f"{API}/graphql"


class ContractError(AssertionError):
    """A mock or a request does not fit GitHub's published contract."""


# ----------------------------------------------------------------------------- fetching


def _package_dir(name: str, version: str) -> Path:
    return CACHE_DIR / f"{name.strip('@').replace('/', '-')}-{version}"


def contract_files() -> dict[str, Path]:
    """Local paths of the pinned contract files, fetched with ``npm pack`` when missing."""
    paths: dict[str, Path] = {}
    for name, (version, members) in PINNED.items():
        target = _package_dir(name, version)
        wanted = {member: target / member.removeprefix("package/") for member in members}
        if not all(path.exists() for path in wanted.values()):
            _fetch(name, version, wanted)
        for member, path in wanted.items():
            paths[f"{name}/{member.removeprefix('package/')}"] = path
    return paths


def _fetch(name: str, version: str, wanted: dict[str, Path]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ContractError(
            f"npm is needed to fetch {name}@{version} (GitHub's published contract) into "
            f"{CACHE_DIR}; install Node.js/npm (Debian: apt-get install npm)"
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=".download-") as tmp:
        result = subprocess.run(
            [npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            raise ContractError(
                f"`npm pack {name}@{version}` failed ({result.returncode}): "
                f"{result.stderr.strip()[-500:]}"
            )
        with tarfile.open(tarballs[0], "r:gz") as archive:
            for member, path in wanted.items():
                source = archive.extractfile(member)
                if source is None:
                    raise ContractError(f"{name}@{version} has no {member}")
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(path.name + ".partial")
                with source, partial.open("wb") as out:
                    shutil.copyfileobj(source, out)
                partial.replace(path)  # atomic: a half-written file is never reused


# ------------------------------------------------------------------------------ OpenAPI


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> JSON Schema (``type`` lists, ``anyOf`` with null)."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if (
            "$ref" in out
            or any(k in out for k in ("allOf", "anyOf", "oneOf"))
            or not out.get("type")
        ):
            if not any(k in out for k in ("$ref", "allOf", "anyOf", "oneOf", "type")):
                return out  # no constraint at all: null is already allowed
            return {"anyOf": [out, {"type": "null"}]}
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


_REF = re.compile(r"^#/components/(\w+)/(.+)$")


@dataclass
class Operation:
    template: str
    method: str
    spec: dict[str, Any]


class OpenAPIContract:
    """The REST description: operations by path template, schemas, examples."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components: dict[str, Any] = spec["components"]
        self._templates: list[tuple[re.Pattern[str], str, int]] = []
        for template in spec["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            literal = sum(1 for part in template.split("/") if part and "{" not in part)
            self._templates.append((re.compile(f"^{pattern}$"), template, literal))
        self._templates.sort(key=lambda t: -t[2])
        self._converted: dict[str, Any] = {}
        self._validators: dict[tuple[str, str, str], jsonschema.protocols.Validator] = {}

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            kind, name = _REF.match(node["$ref"]).groups()  # type: ignore[union-attr]
            node = self.components[kind][name]
        return node

    def operation(self, method: str, path: str) -> Operation:
        path = urlsplit(path).path
        for pattern, template, _ in self._templates:
            if pattern.match(path):
                ops = self.spec["paths"][template]
                if method.lower() in ops:
                    return Operation(template, method.lower(), ops[method.lower()])
        raise ContractError(
            f"{method.upper()} {path} is not an operation of GitHub's OpenAPI description "
            f"(@octokit/openapi {PINNED['@octokit/openapi'][0]})"
        )

    def parameters(self, op: Operation) -> dict[tuple[str, str], dict[str, Any]]:
        params = [
            *self.spec["paths"][op.template].get("parameters", []),
            *op.spec.get("parameters", []),
        ]
        out = {}
        for p in params:
            p = self.resolve(p)
            out[(p["in"], p["name"])] = p
        return out

    def _response(self, op: Operation, status: int) -> dict[str, Any] | None:
        responses_ = op.spec.get("responses", {})
        if str(status) in responses_:
            return dict(self.resolve(responses_[str(status)]))
        return None

    def documented(self, op: Operation, status: int) -> bool:
        return self._response(op, status) is not None

    def _schema_bundle(self, schema: Any) -> dict[str, Any]:
        """The schema plus only the components it reaches, converted once each."""
        needed: dict[str, Any] = {}
        todo = [schema]
        while todo:
            node = todo.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref not in needed:
                    kind, name = _REF.match(ref).groups()  # type: ignore[union-attr]
                    if ref not in self._converted:
                        self._converted[ref] = _openapi_to_jsonschema(self.components[kind][name])
                    needed[ref] = self._converted[ref]
                    todo.append(self.components[kind][name])
                todo.extend(v for k, v in node.items() if k != "$ref")
            elif isinstance(node, list):
                todo.extend(node)
        bundle: dict[str, Any] = {"components": {}}
        for ref, converted in needed.items():
            kind, name = _REF.match(ref).groups()  # type: ignore[union-attr]
            bundle["components"].setdefault(kind, {})[name] = converted
        bundle.update(_openapi_to_jsonschema(schema))
        return bundle

    def _validator(self, key: tuple[str, str, str], schema: Any) -> jsonschema.protocols.Validator:
        if key not in self._validators:
            bundle = self._schema_bundle(schema)
            self._validators[key] = jsonschema.Draft7Validator(bundle)
        return self._validators[key]

    def validate_response(self, op: Operation, status: int, body: Any) -> None:
        response = self._response(op, status)
        if response is None:
            if status < 400:
                raise ContractError(
                    f"{op.method.upper()} {op.template} does not document status {status}"
                )
            schema: Any = {"$ref": "#/components/schemas/basic-error"}
            key = ("basic-error", "", "")
        else:
            content = response.get("content", {}).get("application/json")
            if content is None:
                if body not in (None, ""):
                    raise ContractError(
                        f"{op.method.upper()} {op.template} -> {status} has no JSON body"
                    )
                return
            schema = content["schema"]
            key = (op.template, op.method, str(status))
        errors = sorted(self._validator(key, schema).iter_errors(body), key=lambda e: e.path)
        if errors:
            lines = [
                f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
                for e in errors[:5]
            ]
            raise ContractError(
                f"mocked body of {op.method.upper()} {op.template} -> {status} does not fit "
                "GitHub's response schema:\n" + "\n".join(lines)
            )

    def validate_request_body(self, op: Operation, body: Any) -> None:
        request = self.resolve(op.spec.get("requestBody"))
        if not request:
            if body is not None:
                raise ContractError(f"{op.method.upper()} {op.template} takes no request body")
            return
        schema = request["content"]["application/json"]["schema"]
        validator = self._validator((op.template, op.method, "request"), schema)
        errors = list(validator.iter_errors(body))
        if errors:
            raise ContractError(
                f"request body of {op.method.upper()} {op.template} does not fit the schema: "
                + "; ".join(e.message[:200] for e in errors[:3])
            )

    def validate_query(self, op: Operation, query: list[tuple[str, str]]) -> None:
        declared = self.parameters(op)
        for name, value in query:
            param = declared.get(("query", name))
            if param is None:
                raise ContractError(
                    f"{op.method.upper()} {op.template} has no query parameter {name!r}"
                )
            schema = self.resolve(param.get("schema", {}))
            if "enum" in schema and value not in schema["enum"]:
                raise ContractError(f"{name}={value!r} is not one of {schema['enum']}")
            if schema.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                raise ContractError(f"{name}={value!r} is not an integer")

    def example(self, template: str, method: str, status: int = 200) -> Any:
        """A deep copy of the first example of an operation's response."""
        response = self._response(
            Operation(template, method, self.spec["paths"][template][method]), status
        )
        if response is None:
            raise ContractError(f"{method.upper()} {template} documents no {status}")
        content = response["content"]["application/json"]
        examples = content.get("examples") or {}
        for example in examples.values():
            return copy.deepcopy(self.resolve(example)["value"])
        raise ContractError(f"{method.upper()} {template} -> {status} has no example")


# ------------------------------------------------------------------------------ GraphQL


def _alias_resolver(source: Any, info: graphql.GraphQLResolveInfo, **_: Any) -> Any:
    """Mock data is keyed by response name (the alias when there is one)."""
    if isinstance(source, dict):
        return source.get(info.path.key)
    return None


def _typename_resolver(value: Any, info: Any, abstract_type: Any) -> str | None:
    return value.get("__typename") if isinstance(value, dict) else None


class GraphQLContract:
    def __init__(self, sdl: str) -> None:
        # GitHub's schema.graphql defines some fields twice (e.g.
        # EnterpriseOwnerInfo.repositoryDeployKeySetting), which graphql-core's SDL
        # validation rejects; the built schema itself validates cleanly.
        self.schema = graphql.build_schema(sdl, assume_valid_sdl=True)
        problems = graphql.validate_schema(self.schema)
        if problems:
            raise ContractError(f"GitHub's GraphQL schema does not build: {problems[:3]}")

    def check_request(self, query: str, variables: dict[str, Any] | None) -> graphql.DocumentNode:
        try:
            document = graphql.parse(query)
        except graphql.GraphQLError as e:
            raise ContractError(f"GraphQL document does not parse: {e}") from None
        problems = graphql.validate(self.schema, document)
        if problems:
            raise ContractError(
                "GraphQL document is not valid against GitHub's schema:\n"
                + "\n".join(f"  {p.message}" for p in problems[:8])
            )
        operation = graphql.get_operation_ast(document)
        if operation is None:
            raise ContractError("GraphQL document has no single operation")
        coerced = graphql.execution.values.get_variable_values(
            self.schema, operation.variable_definitions or [], variables or {}
        )
        if isinstance(coerced, list):
            raise ContractError(
                "GraphQL variables do not fit the operation: "
                + "; ".join(p.message for p in coerced[:5])
            )
        declared = {d.variable.name.value for d in operation.variable_definitions or []}
        extra = set(variables or {}) - declared
        if extra:
            raise ContractError(f"GraphQL variables {sorted(extra)} are not declared")
        return document

    def check_response(
        self, document: graphql.DocumentNode, variables: dict[str, Any] | None, data: Any
    ) -> None:
        result = graphql.execute(
            self.schema,
            document,
            root_value=data,
            variable_values=variables or {},
            field_resolver=_alias_resolver,
            type_resolver=_typename_resolver,
        )
        assert isinstance(result, graphql.ExecutionResult)  # no async resolvers
        if result.errors:
            raise ContractError(
                "mocked GraphQL data does not fit the query and schema:\n"
                + "\n".join(f"  {e.path}: {e.message}" for e in result.errors[:8])
            )
        if json.loads(json.dumps(result.data)) != json.loads(json.dumps(data)):
            raise ContractError(
                "mocked GraphQL data has fields the query did not select:\n"
                f"  mocked:   {json.dumps(data)[:400]}\n  selected: {json.dumps(result.data)[:400]}"
            )


def operation_name(query: str) -> str | None:
    operation = graphql.get_operation_ast(graphql.parse(query))
    return operation.name.value if operation is not None and operation.name else None


# ------------------------------------------------------------------------------ contract


class Contract:
    """All three published artefacts, loaded lazily (the OpenAPI file is 13 MB)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    @cached_property
    def openapi(self) -> OpenAPIContract:
        path = self.files["@octokit/openapi/generated/api.github.com.json"]
        return OpenAPIContract(json.loads(path.read_text(encoding="utf-8")))

    @cached_property
    def graphql(self) -> GraphQLContract:
        path = self.files["@octokit/graphql-schema/schema.graphql"]
        return GraphQLContract(path.read_text(encoding="utf-8"))

    @cached_property
    def webhooks(self) -> dict[str, list[dict[str, Any]]]:
        path = self.files["@octokit/webhooks-examples/api.github.com/index.json"]
        return {e["name"]: e["examples"] for e in json.loads(path.read_text(encoding="utf-8"))}


# ------------------------------------------------------------------------------ the mock


GraphQLHandler = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class _Mock:
    label: str
    times: int
    calls: int = 0


@dataclass
class _GraphQLMock(_Mock):
    expect: str = ""
    data: dict[str, Any] | None = None
    handler: GraphQLHandler | None = None
    errors: list[dict[str, Any]] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None


@dataclass
class GitHubMock:
    """``responses`` mocks of api.github.com held to the published contract."""

    contract: Contract
    rsps: responses.RequestsMock
    failures: list[str] = field(default_factory=list)
    graphql_log: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    _mocks: list[_Mock] = field(default_factory=list)
    _graphql_mocks: list[_GraphQLMock] = field(default_factory=list)
    _graphql_registered: bool = False

    def _fail(self, message: str) -> ContractError:
        self.failures.append(message)
        return ContractError(message)

    def _count(self, mock: _Mock) -> None:
        mock.calls += 1
        if mock.calls > mock.times:
            raise self._fail(f"{mock.label} was called {mock.calls} times, expected {mock.times}")

    def rest(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Mock one REST answer; fails at once if the operation or body is off-contract."""
        openapi = self.contract.openapi
        op = openapi.operation(method, path)
        openapi.validate_response(op, status, json_body)
        mock = _Mock(f"{method} {path}" + (f"?{query}" if query else ""), times)
        self._mocks.append(mock)

        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            self._count(mock)
            try:
                openapi.validate_query(op, parse_qsl(urlsplit(request.url).query))
                body = json.loads(request.body) if request.body else None
                if method.upper() != "GET" or body is not None:
                    openapi.validate_request_body(op, body)
            except ContractError as e:
                raise self._fail(str(e)) from None
            return status, dict(headers or {}), json.dumps(json_body)

        match = [matchers.query_param_matcher(query)] if query is not None else []
        self.rsps.add_callback(
            method.upper(),
            API + path,
            callback=callback,
            content_type="application/json",
            match=match,
        )

    def graphql(
        self,
        expect: str,
        *,
        data: dict[str, Any] | None = None,
        handler: GraphQLHandler | None = None,
        errors: list[dict[str, Any]] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
        json_body: Any = None,
    ) -> None:
        """Mock a GraphQL answer to the operation named ``expect``.

        ``data`` is returned as is, ``handler(query, variables)`` computes it; both are
        executed against the query and schema. ``errors`` gives an answer with an
        ``errors`` key (HTTP 200 unless ``status``); ``json_body`` a raw non-GraphQL body
        (e.g. a 403 basic-error). Answers are picked by operation name, in the order they
        were declared for that name.
        """
        if data is None and handler is None and errors is None and json_body is None:
            raise ValueError("graphql mock needs data, a handler, errors or a json_body")
        if json_body is not None:  # /graphql is not in the OpenAPI description
            self.contract.openapi.validate_response(
                Operation("/graphql", "post", {"responses": {}}), status, json_body
            )
        mock = _GraphQLMock(
            label=f"GraphQL {expect}",
            times=times,
            expect=expect,
            data=data,
            handler=handler,
            errors=errors,
            status=status,
            headers=dict(headers or {}),
            json_body=json_body,
        )
        self._mocks.append(mock)
        self._graphql_mocks.append(mock)
        if not self._graphql_registered:
            self._graphql_registered = True
            self.rsps.add_callback(
                "POST",
                GRAPHQL_URL,
                callback=self._graphql_callback,
                content_type="application/json",
            )

    def _graphql_callback(self, request: Any) -> tuple[int, dict[str, str], str]:
        gql = self.contract.graphql
        payload = json.loads(request.body)
        query, variables = payload.get("query", ""), payload.get("variables") or {}
        try:
            document = gql.check_request(query, variables)
            name = operation_name(query)
            self.graphql_log.append((name, variables))
            mock = next(
                (m for m in self._graphql_mocks if m.expect == name and m.calls < m.times), None
            )
            if mock is None:
                raise ContractError(f"no (more) mocked answers for GraphQL operation {name}")
            self._count(mock)
            if mock.json_body is not None:
                return mock.status, mock.headers, json.dumps(mock.json_body)
            if mock.errors is not None:
                for error in mock.errors:
                    if not isinstance(error.get("message"), str):
                        raise ContractError("a GraphQL error needs a message")
                body: dict[str, Any] = {"errors": mock.errors}
                if mock.data is not None:
                    body["data"] = mock.data
                return mock.status, mock.headers, json.dumps(body)
            answer = mock.handler(query, variables) if mock.handler is not None else mock.data
            gql.check_response(document, variables, answer)
        except ContractError as e:
            raise self._fail(str(e)) from None
        return mock.status, mock.headers, json.dumps({"data": answer})

    def assert_complete(self) -> None:
        assert not self.failures, "contract failures:\n" + "\n".join(self.failures)
        unfired = [f"{m.label} ({m.calls}/{m.times})" for m in self._mocks if m.calls != m.times]
        assert not unfired, "mocks not fired as often as declared: " + ", ".join(unfired)

    @property
    def calls(self) -> int:
        return len(self.rsps.calls)
