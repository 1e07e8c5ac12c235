"""Small, local-only adjustments of moto's behaviour (configuration, never a different definition)."""

from __future__ import annotations

import copy
import os
import threading
import time
import types
from typing import Any

DEFAULT_RETRY_SCALE = 0.05
_bodies = threading.local()
_installed: set[str] = set()
_dynamodb_lock = threading.RLock()


def retry_scale() -> float:
    return float(os.environ.get("OMS_LOCAL_RETRY_SCALE", DEFAULT_RETRY_SCALE))


def scale_retry_waits(scale: float | None = None) -> None:
    """Scale the sleeps of Step Functions Retry (IntervalSeconds x BackoffRate) by ``scale``.

    moto's interpreter really sleeps the interval; the ASL stays as synthesized, only the clock the
    retrier waits on is shortened.
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    factor = retry_scale() if scale is None else scale
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        real_sleep(max(0.0, seconds * factor))

    shim = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    shim.sleep = sleep
    retrier_decl.time = shim  # type: ignore[attr-defined]
    _installed.add("retry")


def timer_scale() -> float:
    return float(os.environ.get("OMS_LOCAL_TIMER_SCALE", "1"))


def scale_wait_timers(scale: float | None = None) -> None:
    """Scale the timers of the workflow's waits (a task's TimeoutSecondsPath, or a TimeoutSeconds of an hour or
    more: review, fulfillment, technical and payment holds) by ``OMS_LOCAL_TIMER_SCALE`` (default 1: real time).

    A test can then watch a week-long wait end, or a payment hold come due, in seconds; the ASL stays as
    synthesized. Synchronous tasks' timeouts (minutes) are left alone."""
    from moto.stepfunctions.parser.asl.component.common.timeouts import timeout as timeouts

    factor = timer_scale() if scale is None else scale
    if factor == 1 or "timers" in _installed:
        return

    def eval_body(self: Any, env: Any) -> None:
        seconds = self._eval_seconds(env=env)
        if isinstance(self, timeouts.TimeoutSecondsPath) or (
                isinstance(self, timeouts.TimeoutSeconds) and not self.is_default_value() and seconds >= 3600):
            seconds = max(1, round(seconds * factor))
        env.stack.append(seconds)

    timeouts.Timeout._eval_body = eval_body  # type: ignore[method-assign]
    _installed.add("timers")


def keep_email_bodies() -> None:
    """moto's SES keeps only one body (HTML if both are sent); remember text and HTML for the outbox."""
    if "ses" in _installed:
        return
    from moto.ses import responses as ses_responses
    from moto.ses.models import SESBackend
    from moto.sesv2 import responses as sesv2_responses

    v1_send = ses_responses.EmailResponse.send_email
    v2_send = sesv2_responses.SESV2Response.send_email
    backend_send = SESBackend.send_email

    def v1(self: Any) -> Any:
        _bodies.value = (self._get_param("Message.Body.Text.Data"), self._get_param("Message.Body.Html.Data"))
        _bodies.sending = {"configuration_set": self._get_param("ConfigurationSetName"),
                           "tags": {t.get("Name"): t.get("Value") for t in self._get_param("Tags", []) or []}}
        try:
            return v1_send(self)
        finally:
            _bodies.value = None
            _bodies.sending = None

    def v2(self: Any) -> Any:
        import json

        try:
            body = json.loads(self.body).get("Content", {}).get("Simple", {}).get("Body", {})
        except ValueError:
            body = {}
        _bodies.value = ((body.get("Text") or {}).get("Data"), (body.get("Html") or {}).get("Data"))
        try:
            return v2_send(self)
        finally:
            _bodies.value = None

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = backend_send(self, *args, **kwargs)
        text_html = getattr(_bodies, "value", None)
        message.text_body, message.html_body = text_html or (message.body, None)
        message.sent_at = time.time()
        sending = getattr(_bodies, "sending", None) or {}
        message.configuration_set = sending.get("configuration_set")
        message.tags = sending.get("tags") or {}
        _publish_simulator_events(self, message)
        return message

    ses_responses.EmailResponse.send_email = v1  # type: ignore[method-assign]
    sesv2_responses.SESV2Response.send_email = v2  # type: ignore[method-assign]
    SESBackend.send_email = send  # type: ignore[method-assign]
    _installed.add("ses")


#: SES mailbox simulator (docs: "Using the mailbox simulator"): these recipients answer as real mailboxes would.
SIMULATOR_DOMAIN = "simulator.amazonses.com"
_SIMULATED = {"bounce": "Bounce", "complaint": "Complaint", "suppressionlist": "Bounce"}


def _publish_simulator_events(backend: Any, message: Any) -> None:
    """A message sent with a configuration set to a simulator address publishes SES's bounce or complaint event
    (event publishing's JSON) to the set's SNS destination, as on AWS."""
    import json
    import uuid
    from datetime import UTC, datetime

    from moto.sns.models import sns_backends

    name = getattr(message, "configuration_set", None)
    destination = backend.config_set_event_destination.get(name) if name else None
    if not destination or not destination.get("Enabled", True):
        return
    topic = (destination.get("SNSDestination") or {}).get("TopicARN")
    matching = {t.lower() for t in destination.get("MatchingEventTypes", [])}
    recipients = [a for a in (message.destinations.get("ToAddresses", []) if isinstance(message.destinations, dict)
                              else message.destinations)]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    tags = {"ses:configuration-set": [name], "ses:from-domain": [message.source.split("@")[-1]],
            **{k: [v] for k, v in (getattr(message, "tags", None) or {}).items()}}
    mail = {"timestamp": now, "source": message.source, "sendingAccountId": backend.account_id,
            "messageId": message.id, "destination": recipients, "tags": tags}
    for address in recipients:
        local, _, domain = address.lower().partition("@")
        kind = _SIMULATED.get(local.split("+")[0]) if domain == SIMULATOR_DOMAIN else None
        if kind is None or kind.lower() not in matching or not topic:
            continue
        event: dict[str, Any] = {"eventType": kind, "mail": mail}
        if kind == "Bounce":
            event["bounce"] = {"bounceType": "Permanent", "bounceSubType": "General" if local != "suppressionlist"
                               else "OnAccountSuppressionList", "timestamp": now, "feedbackId": str(uuid.uuid4()),
                               "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1",
                                                      "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}
        else:
            event["complaint"] = {"complainedRecipients": [{"emailAddress": address}], "timestamp": now,
                                  "feedbackId": str(uuid.uuid4()), "complaintFeedbackType": "abuse"}
        region = topic.split(":")[3]
        sns_backends[backend.account_id][region].publish(json.dumps(event), arn=topic)


def honour_sms_opt_outs() -> None:
    """SNS's opt-out list decides, as on AWS (moto answers "opted out" for any number ending in 99 instead);
    ``oms sms-stop`` adds a number to it, as a customer replying STOP does."""
    if "sms_opt_out" in _installed:
        return
    from moto.sns.models import SNSBackend

    def opted_out(self: Any, number: str) -> bool:
        return number in self.opt_out_numbers

    SNSBackend.check_if_phone_number_is_opted_out = opted_out  # type: ignore[method-assign]
    _installed.add("sms_opt_out")


def stamp_sms() -> None:
    """Record when each SMS was 'sent' (moto keeps phone number and text only)."""
    if "sms" in _installed:
        return
    from moto.sns.models import SMS

    original_init = SMS.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.sent_at = time.time()

    SMS.__init__ = init  # type: ignore[method-assign]
    _installed.add("sms")


def serialize_dynamodb() -> None:
    """Run each DynamoDB request alone: one process-wide re-entrant lock around ``DynamoHandler.call_action``.

    Real DynamoDB makes every request atomic and serializable; moto 5.2.5 under its threaded server does not.
    ``DynamoDBBackend.transact_write_items`` deep-copies the tables it touches, applies its operations one by
    one and, if any is cancelled, puts the stale copies back: writes other threads committed meanwhile are
    erased, others may read its uncommitted writes, and the deep copy itself fails (HTTP 500, "dictionary
    changed size during iteration") when another request changes the table under it. Repairing the rollback
    alone would leave the check-then-write races, so requests are serialized instead. The lock wraps the
    response handler rather than a list of backend methods: one wrap covers every action (reads, writes,
    batches, transactions, table changes) and the serialization of results that still reference live items;
    the body is parsed before the lock is taken. Re-entrant, so a nested call on the same thread (in-process
    ``mock_aws``) cannot deadlock. moto is GIL-bound, so little concurrency is lost. Caveat: work moto does
    synchronously inside a request (a DynamoDB-stream event-source mapping invoking Lambda) runs under the
    lock; the local stack creates no such mapping in moto (see ``Deployer._Lambda_EventSourceMapping``).
    """
    if "dynamodb" in _installed:
        return
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action

    def locked(self: Any) -> Any:
        with _dynamodb_lock:
            return call_action(self)

    DynamoHandler.call_action = locked  # type: ignore[method-assign]
    # Stream reads too: a record a transaction wrote and then rolled back must never be read.
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    stream_call = DynamoDBStreamsHandler.call_action

    def stream_locked(self: Any) -> Any:
        with _dynamodb_lock:
            return stream_call(self)

    DynamoDBStreamsHandler.call_action = stream_locked  # type: ignore[method-assign]
    _installed.add("dynamodb")


def copy_streams_cheaply() -> None:
    """A rolled-back transaction restores a deep copy of each table it touched, its stream with it. Stream records
    never change once written, so the copy shares them (a new list of the same records): a copy that costs a
    pointer per record instead of copying every old and new image the stream holds."""
    if "streams" in _installed:
        return
    from moto.dynamodb.models.table import StreamShard

    def shallow(self: Any, memo: dict[int, Any]) -> Any:
        clone = copy.copy(self)
        clone.items = list(self.items)
        return clone

    StreamShard.__deepcopy__ = shallow  # type: ignore[attr-defined]
    _installed.add("streams")


def trim_stream(stream_arn: str, through: str) -> None:
    """Forget a table's stream records up to sequence number ``through`` (read and applied by its poller).

    DynamoDB keeps stream records 24 hours; moto keeps them forever, in the table object a failed transaction
    deep-copies, so an untrimmed stream makes every later transaction on the table slower."""
    from moto.dynamodb.models import dynamodb_backends

    _, _, _, region, account, resource = stream_arn.split(":", 5)
    with _dynamodb_lock:
        table = dynamodb_backends[account][region].get_table(resource.split("/")[1])
        shard = table.stream_shard
        if shard is None:
            return
        drop = min(len(shard.items), int(through) - shard.starting_sequence_number + 1)
        if drop > 0:
            del shard.items[:drop]
            shard.starting_sequence_number += drop


def refuse_used_task_tokens() -> None:
    """A task token answers once. moto 5.2.5 accepts a second ``SendTaskSuccess``/``SendTaskFailure`` for a task
    that already has its outcome; Step Functions refuses it with ``TaskTimedOut``, and so does the local stack."""
    if "task_tokens" in _installed:
        return
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
        CallbackPoolManager,
    )

    original_notify = CallbackPoolManager.notify
    lock = threading.Lock()

    def notify(self: Any, callback_id: Any, outcome: Any) -> bool:
        with lock:
            endpoint = self.get(callback_id)
            if endpoint is not None and getattr(endpoint, "_outcome", None) is not None:
                raise CallbackNotifyConsumerError(callback_consumer_error=CallbackConsumerTimeout())
            return bool(original_notify(self, callback_id, outcome))

    CallbackPoolManager.notify = notify  # type: ignore[method-assign]

    # moto's TaskTimedOut and TaskDoesNotExist cannot be built without a message: a 500 instead of Step Functions'
    # 400 (and moto raises TaskDoesNotExist where it means TaskTimedOut; the API treats both alike).
    from moto.stepfunctions.exceptions import AWSError
    from moto.stepfunctions.parser.api import TaskDoesNotExist, TaskTimedOut

    for error in (TaskTimedOut, TaskDoesNotExist):
        def init(self: Any, name: str = error.__name__) -> None:
            AWSError.__init__(self, "Task Timed Out: 'Provided task does not exist anymore'", name, 400)

        error.__init__ = init  # type: ignore[method-assign]
    _installed.add("task_tokens")


def pass_task_failure_cause() -> None:
    """moto 5.2.5 drops the ``cause`` of ``SendTaskFailure``; Step Functions hands it to the Catch as ``Cause``."""
    if "task_failure_cause" in _installed:
        return
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause"))
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    _installed.add("task_failure_cause")


def run_nested_workflows() -> None:
    """moto 5.2.5's ``states:startExecution.sync:2`` task passes its parameters to boto3 as ASL spells them
    (``StateMachineArn``, ``Input``), which boto3 refuses, and reads boto3's answers as if AWS's integration had
    spelt them (``ExecutionArn``). Step Functions' integration takes and returns PascalCase, dates as epoch
    milliseconds: translate both ways, so a Standard workflow runs its Express stretches as on AWS."""
    if "nested_workflows" in _installed:
        return
    import datetime

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )

    def pascal(response: dict[str, Any]) -> dict[str, Any]:
        return {key[:1].upper() + key[1:]: int(value.timestamp() * 1000) if isinstance(value, datetime.datetime)
                else value for key, value in response.items()}

    cls = sfn_task.StateTaskServiceSfn
    normalise_parameters = cls._normalise_parameters
    eval_service_task = cls._eval_service_task

    def parameters(self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
                   service_action_name: str | None = None) -> None:
        normalise_parameters(self, parameters, boto_service_name, service_action_name)
        for key in list(parameters):
            parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

    def response(self: Any, response: Any, boto_service_name: str | None = None,
                 service_action_name: str | None = None) -> None:
        if isinstance(response, dict):
            translated = pascal(response)
            response.clear()
            response.update(translated)

    def evaluate(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        eval_service_task(self, env, *args, **kwargs)
        env.stack.append(pascal(env.stack.pop()))

    cls._normalise_parameters = parameters  # type: ignore[method-assign]
    cls._normalise_response = response  # type: ignore[method-assign]
    cls._eval_service_task = evaluate  # type: ignore[method-assign]

    # An execution started without a name gets a UUID, as on AWS (moto names every such execution "None", so the
    # second one is refused as already existing).
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start_execution = StepFunctionsParserBackend.start_execution

    def start(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start  # type: ignore[method-assign]
    _installed.add("nested_workflows")


def install_all(scale: float | None = None) -> None:
    scale_retry_waits(scale)
    scale_wait_timers()
    keep_email_bodies()
    stamp_sms()
    honour_sms_opt_outs()
    serialize_dynamodb()
    copy_streams_cheaply()
    refuse_used_task_tokens()
    pass_task_failure_cause()
    run_nested_workflows()
