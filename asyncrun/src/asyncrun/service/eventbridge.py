"""EventBridge rules whose targets are Lambda functions: a matching event invokes
each target asynchronously, with the target's `Input`, `InputPath` or
`InputTransformer` applied.

moto raises out of `put_events` for a Lambda target, so none is created there. In
its place each such rule gets one target of the runner's: an internal SQS queue that
receives the matched event untransformed. The endpoint does the pattern matching;
the bridge applies each Lambda target's input settings itself. Events from any
sender reach the rules this way: `put_events` from a function or a test, and the
events an EventBridge destination sends (`source: lambda`)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from asyncrun.service.sources import SourceInvocation, internal_queue_name, is_stack_function, receive_all
from asyncrun.stack.endpoint import Endpoint
from asyncrun.stack.model import RuleSpec, RuleTarget, Stack

log = logging.getLogger(__name__)

BRIDGE_TARGET_ID = "asyncrun-lambda-targets"
# The order EventBridge writes an event's top-level fields in.
_EVENT_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
_ENABLED = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def is_lambda_arn(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":")[2:3] == ["lambda"]


@dataclass
class _BridgedRule:
    rule: RuleSpec
    targets: list[RuleTarget]
    queue_url: str


class EventBridgeBridge:
    def __init__(self, stack: Stack, endpoint: Endpoint) -> None:
        self._stack = stack
        self._endpoint = endpoint
        self._rules: list[_BridgedRule] = []

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def install(self) -> None:
        for rule in self._stack.rules.values():
            targets = lambda_targets(rule, self._stack)
            if rule.event_pattern is None or not targets:
                continue
            if rule.state not in _ENABLED:
                log.debug("rule %s is %s: its Lambda targets are not invoked", rule.name, rule.state)
                continue
            self._rules.append(self._bridge(rule, targets))

    def _bridge(self, rule: RuleSpec, targets: list[RuleTarget]) -> _BridgedRule:
        name = internal_queue_name(self._stack, "events", rule.logical_id)
        queue_url = self._endpoint.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        self._endpoint.client("events").put_targets(
            Rule=rule.name,
            EventBusName=rule.bus_name,
            Targets=[
                {
                    "Id": BRIDGE_TARGET_ID,
                    "Arn": f"arn:aws:sqs:{self._stack.region}:{self._stack.account_id}:{name}",
                }
            ],
        )
        log.debug("rule %s: %d Lambda target(s), through %s", rule.name, len(targets), name)
        return _BridgedRule(rule, targets, queue_url)

    def drain(self) -> list[SourceInvocation]:
        invocations: list[SourceInvocation] = []
        for bridged in self._rules:
            for body in receive_all(self._endpoint, bridged.queue_url):
                event = self._event(json.loads(body))
                for target in bridged.targets:
                    payload = apply_target_input(event, target, bridged.rule)
                    invocations.append(SourceInvocation(target.arn, payload, "eventbridge"))
        return invocations

    def _event(self, delivered: dict[str, Any]) -> dict[str, Any]:
        """The event as EventBridge hands it to a target: moto leaves out `account`."""
        delivered.setdefault("account", self._stack.account_id)
        ordered = {key: delivered[key] for key in _EVENT_KEYS if key in delivered}
        ordered.update({key: value for key, value in delivered.items() if key not in ordered})
        return ordered


def lambda_targets(rule: RuleSpec, stack: Stack) -> list[RuleTarget]:
    """The rule's targets that are functions of the stack; the others that name Lambda
    are warned about, and settings that never apply locally are named."""
    found: list[RuleTarget] = []
    for target in rule.targets:
        if not is_lambda_arn(target.arn):
            continue
        if not is_stack_function(stack, target.arn):
            log.warning(
                "rule %s (%s): target %s is not a function of this stack; it is not invoked",
                rule.name,
                rule.logical_id,
                target.arn,
            )
            continue
        for setting in target.ignored:
            log.warning(
                "rule %s (%s), target %s: %s is not applied locally (delivering an event to a Lambda "
                "target never fails here)",
                rule.name,
                rule.logical_id,
                target.id,
                setting,
            )
        found.append(target)
    return found


def apply_target_input(event: dict[str, Any], target: RuleTarget, rule: RuleSpec) -> bytes:
    """What the target receives: the event, or what its `Input`, `InputPath` or
    `InputTransformer` makes of it."""
    if target.input is not None:
        return target.input.encode()
    if target.input_path is not None:
        return json.dumps(json_path(event, target.input_path), ensure_ascii=False).encode()
    if target.input_transformer is not None:
        return _transform(event, target.input_transformer, rule).encode()
    return json.dumps(event, ensure_ascii=False).encode()


def json_path(document: Any, path: str) -> Any:
    """EventBridge's JSON paths: `$`, `$.a.b`, `$.a[0]`; a missing step gives None."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r} is not a JSON path")
    value = document
    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path[1:]):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            position = int(index)
            value = value[position] if isinstance(value, list) and position < len(value) else None
    return value


def _transform(event: dict[str, Any], transformer: dict[str, Any], rule: RuleSpec) -> str:
    """`InputTransformer`: each `<name>` in the template replaced by its path's value.
    Inside a JSON string the value goes in as text; elsewhere as JSON (a string with
    its quotes). A template whose result is not JSON reaches Lambda as a JSON string
    (**unverified**), and a path that matches nothing gives null, or nothing inside a
    string (**unverified**)."""
    paths = transformer.get("InputPathsMap") or {}
    values: dict[str, Any] = {name: json_path(event, str(path)) for name, path in paths.items()}
    values.update(
        {
            "aws.events.rule-arn": rule.arn,
            "aws.events.rule-name": rule.name,
            "aws.events.event": event,
            "aws.events.event.json": event,
        }
    )
    template = str(transformer.get("InputTemplate", ""))
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        match = _PLACEHOLDER.match(template, position) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
                out.append(json.dumps(text, ensure_ascii=False)[1:-1])
            else:
                out.append(json.dumps(value, ensure_ascii=False))
            position = match.end()
            continue
        if char == "\\" and in_string:
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    result = "".join(out)
    try:
        json.loads(result)
    except ValueError:
        return json.dumps(result, ensure_ascii=False)
    return result
