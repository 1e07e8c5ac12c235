"""Deploy CDK-synthesized CloudFormation templates into moto, resource by resource.

moto's own CloudFormation registers state machines in a backend that cannot execute them, so the local
stack walks the template itself: it resolves intrinsics, creates the supported resources through the
ordinary AWS APIs (boto3 against the moto endpoint) and keeps a registry ``logical id -> physical id,
ARN and attributes`` for Ref / Fn::GetAtt. Types with no local meaning (IAM, logs, alarms, permissions,
CDK metadata) are skipped with a debug line; API Gateway resources are read, not deployed (the local
gateway serves them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import secrets
import string
import zipfile
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("local.deployer")

REGION = "us-east-1"
ACCOUNT = "123456789012"
NO_VALUE = object()


class DeployError(Exception):
    pass


@dataclass
class Resource:
    logical_id: str
    type: str
    ref: str
    attrs: dict[str, Any] = field(default_factory=dict)
    props: dict[str, Any] = field(default_factory=dict)  # resolved properties (kept for the types we read)


@dataclass
class FunctionSpec:
    name: str
    arn: str
    handler: str
    code_dir: str | None
    environment: dict[str, str]
    timeout: int
    memory: int
    stack: str
    logical_id: str


@dataclass
class EventSourceSpec:
    function_name: str
    queue_arn: str  # the source: an SQS queue's ARN, or a DynamoDB table's stream ARN (``kind`` "dynamodb")
    batch_size: int
    report_batch_item_failures: bool
    batching_window: int
    enabled: bool
    kind: str = "sqs"
    starting_position: str = "TRIM_HORIZON"
    bisect_on_error: bool = False
    max_retries: int = -1  # -1: until the record expires
    on_failure_arn: str | None = None


@dataclass
class Deployment:
    """Everything the rest of the local stack needs from the deployed templates."""

    stacks: dict[str, dict[str, Resource]] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by function name
    event_sources: list[EventSourceSpec] = field(default_factory=list)

    def resources(self, type_: str) -> list[Resource]:
        return [r for res in self.stacks.values() for r in res.values() if r.type == type_]


def physical_name(stack: str, logical_id: str, max_len: int = 64) -> str:
    name = f"{stack}-{logical_id}"
    if len(name) <= max_len:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: max_len - 9]}-{digest}"


def dummy_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "code is run from the asset folder by the local stack\n")
    return buf.getvalue()


def generate_secret_string(spec: dict[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-./:;<=>?@[]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    excluded = set(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded) or string.ascii_letters
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template and key:
        data = json.loads(template)
        data[key] = value
        return json.dumps(data)
    return value


def _refs(node: Any, out: set[str]) -> None:
    """Logical ids a template node depends on (Ref / GetAtt / ${X} in Sub)."""
    if isinstance(node, dict):
        if "Ref" in node and isinstance(node["Ref"], str):
            out.add(node["Ref"])
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            out.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                out.add(name.split(".")[0])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


class Resolver:
    """Resolves CloudFormation intrinsics against a stack's registry."""

    def __init__(self, stack_name: str, template: dict[str, Any], registry: dict[str, Resource],
                 exports: dict[str, Any], region: str = REGION, account: str = ACCOUNT,
                 parameters: dict[str, Any] | None = None) -> None:
        self.stack_name = stack_name
        self.template = template
        self.registry = registry
        self.exports = exports
        self.region = region
        self.account = account
        self.parameters = {
            name: spec.get("Default")
            for name, spec in (template.get("Parameters") or {}).items()
        }
        self.parameters.update(parameters or {})
        self._conditions: dict[str, bool] = {}

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/local",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }.get(name, KeyError)

    def ref(self, name: str) -> Any:
        value = self.pseudo(name)
        if value is not KeyError:
            return value
        if name in self.parameters:
            return self.parameters[name]
        if name in self.registry:
            return self.registry[name].ref
        raise DeployError(f"{self.stack_name}: unresolved Ref {name}")

    def get_att(self, logical_id: str, attr: str) -> Any:
        res = self.registry.get(logical_id)
        if res is None:
            raise DeployError(f"{self.stack_name}: GetAtt on unknown resource {logical_id}.{attr}")
        if attr in res.attrs:
            return res.attrs[attr]
        raise DeployError(f"{self.stack_name}: {res.type} {logical_id} has no attribute {attr}")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.template.get("Conditions") or {})[name]
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def repl(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                lid, attr = expr.split(".", 1)
                return str(self.get_att(lid, attr))
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(v) for v in node]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                lid, attr = (arg if isinstance(arg, list) else arg.split(".", 1))
                return self.get_att(lid, self.resolve(attr))
            if key == "Fn::Join":
                sep, values = arg
                return str(self.resolve(sep)).join(str(v) for v in self.resolve(values))
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::Select":
                index, values = arg
                return self.resolve(values)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::ImportValue":
                name = self.resolve(arg)
                if name not in self.exports:
                    raise DeployError(f"{self.stack_name}: no export named {name}")
                return self.exports[name]
            if key == "Fn::Base64":
                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key == "Fn::GetAZs":
                return [f"{self.region}{z}" for z in "abc"]
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = arg
                return self.resolve(a) == self.resolve(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not NO_VALUE:
                out[k] = value
        return out


def topo_order(resources: dict[str, Any]) -> list[str]:
    deps: dict[str, set[str]] = {}
    for lid, spec in resources.items():
        found: set[str] = set()
        _refs(spec.get("Properties", {}), found)
        depends = spec.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)
        deps[lid] = {d for d in found if d in resources and d != lid}
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(lid: str) -> None:
        if lid in done:
            return
        if lid in visiting:
            raise DeployError(f"dependency cycle at {lid}")
        visiting.add(lid)
        for d in sorted(deps[lid]):
            visit(d)
        visiting.discard(lid)
        done.add(lid)
        order.append(lid)

    for lid in resources:
        visit(lid)
    return order


SKIPPED_PREFIXES = ("AWS::IAM::", "AWS::Logs::", "AWS::CloudWatch::", "AWS::CDK::", "AWS::KMS::")
READ_ONLY_PREFIXES = ("AWS::ApiGateway::",)


class Deployer:
    """Creates the resources of synthesized templates in moto through boto3 clients."""

    def __init__(self, session: Any, endpoint_url: str | None = None, region: str = REGION,
                 account: str = ACCOUNT) -> None:
        self.region = region
        self.account = account
        self._session = session
        self._endpoint = endpoint_url
        self._clients: dict[str, Any] = {}
        self.deployment = Deployment()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs = {"region_name": self.region}
            if self._endpoint:
                kwargs["endpoint_url"] = self._endpoint
            self._clients[service] = self._session.client(service, **kwargs)
        return self._clients[service]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # -- stacks -----------------------------------------------------------------------------------

    def deploy_stack(self, stack_name: str, template: dict[str, Any]) -> dict[str, Resource]:
        registry: dict[str, Resource] = {}
        self.deployment.stacks[stack_name] = registry
        resolver = Resolver(stack_name, template, registry, self.deployment.exports, self.region, self.account)
        resources = template.get("Resources", {})
        for lid in topo_order(resources):
            spec = resources[lid]
            if "Condition" in spec and not resolver.condition(spec["Condition"]):
                log.debug("%s: %s skipped (condition false)", stack_name, lid)
                continue
            type_ = spec["Type"]
            handler = getattr(self, "_" + type_.replace("AWS::", "").replace("::", "_"), None)
            if handler is None:
                if type_.startswith(READ_ONLY_PREFIXES):
                    handler = self._api_gateway_any
                else:
                    quiet = type_.startswith(SKIPPED_PREFIXES) or "Polic" in type_ or "Permission" in type_
                    level = logging.DEBUG if quiet else logging.INFO
                    log.log(level, "%s: skipping %s (%s)", stack_name, lid, type_)
                    registry[lid] = self._placeholder(stack_name, lid, type_)
                    continue
            props = resolver.resolve(spec.get("Properties", {}))
            try:
                registry[lid] = handler(stack_name, lid, props, spec)
            except DeployError:
                raise
            except Exception as exc:
                raise DeployError(f"{stack_name}: creating {lid} ({type_}) failed: {exc}") from exc
            registry[lid].type = type_
            log.debug("%s: created %s (%s) -> %s", stack_name, lid, type_, registry[lid].ref)
        outputs: dict[str, Any] = {}
        for name, out in (template.get("Outputs") or {}).items():
            if "Condition" in out and not resolver.condition(out["Condition"]):
                continue
            value = resolver.resolve(out["Value"])
            outputs[name] = value
            if "Export" in out:
                self.deployment.exports[resolver.resolve(out["Export"]["Name"])] = value
        self.deployment.outputs[stack_name] = outputs
        return registry

    def _placeholder(self, stack: str, lid: str, type_: str) -> Resource:
        name = physical_name(stack, lid)
        service = type_.split("::")[1].lower()
        arn = self.arn(service, name) if service != "iam" else f"arn:aws:iam::{self.account}:role/{name}"
        return Resource(lid, type_, name, {"Arn": arn, "RoleId": name, "Name": name})

    # -- resource types -------------------------------------------------------------------------

    def _IAM_Role(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        # moto's Lambda checks that the role exists; policies are not enforced locally, so only the
        # role itself is created.
        name = p.get("RoleName") or physical_name(stack, lid, 64)
        doc = p.get("AssumeRolePolicyDocument") or {}
        role = self.client("iam").create_role(
            RoleName=name, Path=p.get("Path", "/"),
            AssumeRolePolicyDocument=doc if isinstance(doc, str) else json.dumps(doc),
        )["Role"]
        return Resource(lid, "", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _DynamoDB_Table(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("TableName") or physical_name(stack, lid, 255)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": p["AttributeDefinitions"],
            "KeySchema": p["KeySchema"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        throughput = p.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = throughput
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(key):
                indexes = []
                for index in p[key]:
                    index = dict(index)
                    index.pop("ContributorInsightsSpecification", None)
                    if kwargs["BillingMode"] == "PROVISIONED" and key == "GlobalSecondaryIndexes":
                        index.setdefault("ProvisionedThroughput", throughput)
                    indexes.append(index)
                kwargs[key] = indexes
        stream = p.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        desc = self.client("dynamodb").create_table(**kwargs)["TableDescription"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.client("dynamodb").update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        attrs = {"Arn": desc["TableArn"]}
        if "LatestStreamArn" in desc:
            attrs["StreamArn"] = desc["LatestStreamArn"]
        return Resource(lid, "", name, attrs)

    def _SQS_Queue(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("QueueName") or physical_name(stack, lid, 80 - (5 if p.get("FifoQueue") else 0))
        if p.get("FifoQueue") and not name.endswith(".fifo"):
            name += ".fifo"
        attributes: dict[str, str] = {}
        for key in ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                    "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "FifoQueue",
                    "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"):
            if key in p:
                value = p[key]
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in p:
                attributes[key] = json.dumps(p[key]) if not isinstance(p[key], str) else p[key]
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.arn("sqs", name)
        return Resource(lid, "", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _SNS_Topic(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("TopicName") or physical_name(stack, lid, 256)
        attributes = {}
        if p.get("FifoTopic"):
            attributes["FifoTopic"] = "true"
            if not name.endswith(".fifo"):
                name += ".fifo"
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        for sub in p.get("Subscription", []):
            self.client("sns").subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
        return Resource(lid, "", arn, {"TopicArn": arn, "TopicName": name})

    def _SNS_Subscription(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        attributes = {}
        if p.get("RawMessageDelivery"):
            attributes["RawMessageDelivery"] = "true"
        if p.get("FilterPolicy"):
            attributes["FilterPolicy"] = json.dumps(p["FilterPolicy"])
        arn = self.client("sns").subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"],
                                           Endpoint=p["Endpoint"], Attributes=attributes,
                                           ReturnSubscriptionArn=True)["SubscriptionArn"]
        return Resource(lid, "", arn, {"Arn": arn})

    def _Lambda_Function(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("FunctionName") or physical_name(stack, lid, 64)
        env = {k: str(v) for k, v in ((p.get("Environment") or {}).get("Variables") or {}).items()}
        metadata = spec.get("Metadata") or {}
        code_dir = metadata.get("aws:asset:path")
        if code_dir is None:
            log.warning("%s: function %s has no aws:asset:path metadata (synthesize with asset metadata "
                        "enabled and asset staging disabled)", stack, lid)
        timeout = int(p.get("Timeout", 3))
        memory = int(p.get("MemorySize", 128))
        resp = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=p.get("Runtime", "python3.12"),
            Role=p.get("Role") or f"arn:aws:iam::{self.account}:role/local",
            Handler=p.get("Handler", "index.handler"),
            Code={"ZipFile": dummy_zip()},
            Environment={"Variables": env},
            Timeout=timeout,
            MemorySize=memory,
        )
        arn = resp["FunctionArn"]
        self.deployment.functions[name] = FunctionSpec(
            name=name, arn=arn, handler=p.get("Handler", "index.handler"), code_dir=code_dir,
            environment=env, timeout=timeout, memory=memory, stack=stack, logical_id=lid,
        )
        return Resource(lid, "", name, {"Arn": arn})

    def _Lambda_EventSourceMapping(self, stack: str, lid: str, p: dict[str, Any],
                                   spec: dict[str, Any]) -> Resource:
        # Not created in moto: moto's own SQS mapping would invoke the function itself. The local
        # stack runs a poller that behaves like Lambda's (see local/pollers.py).
        source = p.get("EventSourceArn", "")
        function = str(p["FunctionName"]).split(":function:")[-1].split(":")[0]
        if ":sqs:" in source:
            self.deployment.event_sources.append(EventSourceSpec(
                function_name=function, queue_arn=source, batch_size=int(p.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                batching_window=int(p.get("MaximumBatchingWindowInSeconds", 0)),
                enabled=bool(p.get("Enabled", True)),
            ))
        elif ":dynamodb:" in source and "/stream/" in source:
            self.deployment.event_sources.append(EventSourceSpec(
                function_name=function, queue_arn=source, batch_size=int(p.get("BatchSize", 100)),
                report_batch_item_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
                batching_window=int(p.get("MaximumBatchingWindowInSeconds", 0)),
                enabled=bool(p.get("Enabled", True)), kind="dynamodb",
                starting_position=str(p.get("StartingPosition", "TRIM_HORIZON")),
                bisect_on_error=bool(p.get("BisectBatchOnFunctionError", False)),
                max_retries=int(p.get("MaximumRetryAttempts", -1)),
                on_failure_arn=((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            ))
        else:
            log.info("%s: event source %s (%s) is not run locally", stack, lid, source)
        uuid = hashlib.sha1(f"{stack}/{lid}".encode()).hexdigest()[:32]
        return Resource(lid, "", uuid, {"Id": uuid})

    def _StepFunctions_StateMachine(self, stack: str, lid: str, p: dict[str, Any],
                                    spec: dict[str, Any]) -> Resource:
        name = p.get("StateMachineName") or physical_name(stack, lid, 80)
        definition = p.get("DefinitionString")
        if definition is None and "Definition" in p:
            definition = json.dumps(p["Definition"])
        if definition is None:
            raise DeployError(f"{stack}: state machine {lid} has no inline definition")
        for key, value in (p.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        json.loads(definition)  # fail early on a broken definition
        kwargs: dict[str, Any] = {
            "name": name,
            "definition": definition,
            "roleArn": p.get("RoleArn") or f"arn:aws:iam::{self.account}:role/local",
            "type": p.get("StateMachineType", "STANDARD"),
        }
        arn = self.client("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
        return Resource(lid, "", arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": "1"},
                        {"definition": definition})

    def _Cognito_UserPool(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("UserPoolName") or physical_name(stack, lid, 128)
        kwargs: dict[str, Any] = {"PoolName": name}
        for key in ("UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes", "Policies",
                    "Schema", "AdminCreateUserConfig", "AccountRecoverySetting", "MfaConfiguration",
                    "UsernameConfiguration", "UserAttributeUpdateSettings", "DeletionProtection",
                    "LambdaConfig", "EmailConfiguration", "VerificationMessageTemplate"):
            if key in p:
                kwargs[key] = p[key]
        if "UserPoolTags" in p:
            kwargs["UserPoolTags"] = p["UserPoolTags"]
        pool = self.client("cognito-idp").create_user_pool(**kwargs)["UserPool"]
        pool_id = pool["Id"]
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        return Resource(lid, "", pool_id, {
            "Arn": pool["Arn"], "UserPoolId": pool_id, "ProviderName": provider,
            "ProviderURL": f"https://{provider}",
        })

    def _Cognito_UserPoolClient(self, stack: str, lid: str, p: dict[str, Any],
                                spec: dict[str, Any]) -> Resource:
        kwargs: dict[str, Any] = {
            "UserPoolId": p["UserPoolId"],
            "ClientName": p.get("ClientName") or physical_name(stack, lid, 128),
        }
        for key in ("GenerateSecret", "ExplicitAuthFlows", "AllowedOAuthFlows", "AllowedOAuthScopes",
                    "AllowedOAuthFlowsUserPoolClient", "CallbackURLs", "LogoutURLs",
                    "SupportedIdentityProviders", "PreventUserExistenceErrors", "ReadAttributes",
                    "WriteAttributes", "AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity",
                    "TokenValidityUnits", "EnableTokenRevocation"):
            if key in p:
                kwargs[key] = p[key]
        client = self.client("cognito-idp").create_user_pool_client(**kwargs)["UserPoolClient"]
        attrs = {"ClientId": client["ClientId"], "Name": client["ClientName"]}
        if "ClientSecret" in client:
            attrs["ClientSecret"] = client["ClientSecret"]
        return Resource(lid, "", client["ClientId"], attrs)

    def _Cognito_UserPoolGroup(self, stack: str, lid: str, p: dict[str, Any],
                               spec: dict[str, Any]) -> Resource:
        name = p.get("GroupName") or physical_name(stack, lid, 128)
        kwargs = {"GroupName": name, "UserPoolId": p["UserPoolId"]}
        for key in ("Description", "Precedence", "RoleArn"):
            if key in p:
                kwargs[key] = p[key]
        self.client("cognito-idp").create_group(**kwargs)
        return Resource(lid, "", name, {})

    def _SecretsManager_Secret(self, stack: str, lid: str, p: dict[str, Any],
                               spec: dict[str, Any]) -> Resource:
        name = p.get("Name") or physical_name(stack, lid, 256)
        if "SecretString" in p:
            value = p["SecretString"]
        elif "GenerateSecretString" in p:
            value = generate_secret_string(p["GenerateSecretString"])
        else:
            value = generate_secret_string({})
        kwargs = {"Name": name, "SecretString": value}
        if p.get("Description"):
            kwargs["Description"] = p["Description"]
        arn = self.client("secretsmanager").create_secret(**kwargs)["ARN"]
        return Resource(lid, "", arn, {"Id": arn}, {"Name": name})

    def _S3_Bucket(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("BucketName") or physical_name(stack, lid, 63).lower()
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if "LifecycleConfiguration" in p:
            rules = [{"ID": r.get("Id", f"rule{i}"), "Status": r.get("Status", "Enabled"), "Filter": {"Prefix": ""},
                      **({"Expiration": {"Days": int(r["ExpirationInDays"])}} if "ExpirationInDays" in r else {})}
                     for i, r in enumerate(p["LifecycleConfiguration"].get("Rules", []))]
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        if "BucketEncryption" in p:
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]]})
        return Resource(lid, "", name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                                        "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com"})

    def _SES_EmailIdentity(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        identity = p["EmailIdentity"]
        if "@" in identity:
            self.client("ses").verify_email_identity(EmailAddress=identity)
        else:
            self.client("ses").verify_domain_identity(Domain=identity)
        return Resource(lid, "", identity, {}, {"EmailIdentity": identity})

    def _SES_ConfigurationSet(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("Name") or physical_name(stack, lid, 64)
        self.client("ses").create_configuration_set(ConfigurationSet={"Name": name})
        return Resource(lid, "", name, {}, {"Name": name})

    def _SES_ConfigurationSetEventDestination(self, stack: str, lid: str, p: dict[str, Any],
                                              spec: dict[str, Any]) -> Resource:
        """Kept as on AWS; ``moto_patches.publish_ses_events`` publishes the simulator's bounces and complaints
        to its SNS topic."""
        destination = dict(p["EventDestination"])
        name = destination.pop("Name", None) or physical_name(stack, lid, 64)
        event_destination: dict[str, Any] = {"Name": name, "Enabled": destination.get("Enabled", True),
                                             "MatchingEventTypes": destination.get("MatchingEventTypes", [])}
        if "SnsDestination" in destination:
            event_destination["SNSDestination"] = {"TopicARN": destination["SnsDestination"]["TopicARN"]}
        self.client("ses").create_configuration_set_event_destination(
            ConfigurationSetName=p["ConfigurationSetName"], EventDestination=event_destination)
        return Resource(lid, "", name, {}, event_destination)

    def _SSM_Parameter(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        name = p.get("Name") or f"/{physical_name(stack, lid)}"
        self.client("ssm").put_parameter(Name=name, Value=str(p["Value"]), Type=p.get("Type", "String"),
                                         Overwrite=True)
        return Resource(lid, "", name, {"Type": p.get("Type", "String"), "Value": str(p["Value"])}, p)

    def _Events_Rule(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        """A scheduled rule: kept with its resolved properties; ``local/scheduler.py`` runs its targets."""
        name = p.get("Name") or physical_name(stack, lid)
        return Resource(lid, "", name, {"Arn": self.arn("events", f"rule/{name}")}, p)

    def _CloudWatch_Dashboard(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        """The template's own dashboard body (Fn::Join and Refs resolved to local names), put into moto's
        CloudWatch: the ops page (``/_ops``) draws it."""
        name = p.get("DashboardName") or physical_name(stack, lid, 255)
        body = p.get("DashboardBody") or "{}"
        self.client("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=body if isinstance(body, str) else json.dumps(body))
        return Resource(lid, "", name, {}, {"DashboardName": name})

    def _api_gateway_any(self, stack: str, lid: str, p: dict[str, Any], spec: dict[str, Any]) -> Resource:
        """API Gateway is served by local/gateway.py: keep the resolved properties, create nothing."""
        type_ = spec["Type"]
        ref = f"{lid.lower()[:10]}{hashlib.sha1(f'{stack}/{lid}'.encode()).hexdigest()[:6]}"
        attrs: dict[str, Any] = {}
        if type_ == "AWS::ApiGateway::RestApi":
            attrs["RootResourceId"] = f"{ref}-root"
        elif type_ == "AWS::ApiGateway::Stage":
            ref = p.get("StageName", ref)
        elif type_ == "AWS::ApiGateway::Resource":
            attrs["ResourceId"] = ref
        return Resource(lid, type_, ref, attrs, p)


def deploy_all(deployer: Deployer, stacks: list[tuple[str, dict[str, Any]]]) -> Deployment:
    for name, template in stacks:
        deployer.deploy_stack(name, template)
    return deployer.deployment
