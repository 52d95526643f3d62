"""Generated contract documents: an AsyncAPI 3 document of the whole network and a JSON Schema per event.

`render_documents()` returns every file under ``docs/`` it owns; `kehrwasser docs` writes them and a test
fails when the checked-in copies are stale.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, RootModel

from .envelope import CloudEvent
from .errors import ERROR_CODES
from .registry import CommandContract, EventContract, all_commands, all_events
from .replies import ErrorReply, OkReply
from .subjects import DEADLETTER_STREAM, DEADLETTER_SUBJECTS, PARTITIONS, stream_name

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_PATH = "asyncapi.json"


def render_documents(version: str = "0.1.0") -> dict[str, str]:
    files = {ASYNCAPI_PATH: _dump(asyncapi(version))}
    for contract in all_events():
        files[f"schemas/events/{contract.type}.json"] = _dump(event_schema(contract))
    for command in all_commands():
        files[f"schemas/commands/{command.service}.{command.name}.request.json"] = _dump(
            _standalone(command.request, f"{command.subject} request")
        )
        files[f"schemas/commands/{command.service}.{command.name}.reply.json"] = _dump(
            _standalone(_reply_model(command), f"{command.subject} reply")
        )
    return files


def event_schema(contract: EventContract[Any]) -> dict[str, Any]:
    """The whole CloudEvent as it travels, with ``type`` fixed and ``data`` the contract's model."""
    envelope = CloudEvent.model_json_schema()
    data = contract.data.model_json_schema(ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    envelope["properties"]["type"] = {"const": contract.type, "title": "Type"}
    envelope["properties"]["data"] = data
    envelope.pop("additionalProperties", None)
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"https://kehrwasser.example/schemas/events/{contract.type}.json",
        "title": contract.type,
        "description": f"{contract.description} Published on `{_address(contract)}` "
        f"(stream {stream_name(contract.service)}).",
        **{k: v for k, v in envelope.items() if k not in ("title", "description")},
    }
    if defs:
        schema["$defs"] = defs
    return schema


def _address(contract: EventContract[Any]) -> str:
    return contract.subject if contract.partition_key is None else f"{contract.subject}.{{partition}}"


def asyncapi(version: str) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}

    def add_schema(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    envelope = add_schema(CloudEvent)
    for contract in all_events():
        key = _camel(f"{contract.service} {contract.name} v{contract.version}")
        messages[key] = {
            "name": contract.type,
            "title": contract.type,
            "summary": contract.description,
            "contentType": "application/json",
            "payload": {
                "allOf": [
                    envelope,
                    {
                        "type": "object",
                        "properties": {"type": {"const": contract.type}, "data": add_schema(contract.data)},
                    },
                ]
            },
        }
        channels[key] = {
            "address": _address(contract),
            "description": f"Stream {stream_name(contract.service)}; Nats-Msg-Id header = CloudEvent id.",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        if contract.partition_key is not None:
            channels[key]["parameters"] = {
                "partition": {
                    "enum": [str(partition) for partition in range(PARTITIONS)],
                    "description": f"CRC-32 (zlib) of data.{contract.partition_key} (UTF-8) mod {PARTITIONS}.",
                }
            }
        if contract.external:
            operations[f"producersPublish{key[0].upper()}{key[1:]}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"Producers outside the network (another team's service, the CLI) publish "
                f"{contract.type}; the {contract.service} service owns its stream and contract.",
                "security": _may_publish(contract.subjects[0]),
            }
        else:
            operations[f"{contract.service}Publishes{key[0].upper()}{key[1:]}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"The {contract.service} service publishes {contract.type}.",
                "security": _may_publish(contract.subjects[0]),
            }
        for consumer in contract.consumed_by:
            operations[f"{consumer}Consumes{key[0].upper()}{key[1:]}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{key}"},
                "summary": f"The {consumer} service consumes {contract.type} (a durable pull consumer with "
                f"explicit acks; what it cannot take goes to {DEADLETTER_SUBJECTS.replace('>', '<consumer>')}).",
            }
    for command in all_commands():
        key = _camel(f"{command.service} {command.name} command")
        request_key, reply_key = f"{key}Request", f"{key}Reply"
        messages[request_key] = {"name": request_key, "payload": add_schema(command.request)}
        messages[reply_key] = {"name": reply_key, "payload": add_schema(_reply_model(command))}
        channels[key] = {
            "address": command.subject,
            "description": command.description,
            "messages": {request_key: {"$ref": f"#/components/messages/{request_key}"}},
        }
        channels[f"{key}Reply"] = {
            "address": None,
            "description": "The requester's NATS inbox.",
            "messages": {reply_key: {"$ref": f"#/components/messages/{reply_key}"}},
        }
        operations[_camel(f"handle {command.service} {command.name}")] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"The {command.service} service answers {command.subject} (queue group {command.service}).",
            "description": _error_table(command),
            "reply": {"channel": {"$ref": f"#/channels/{key}Reply"}},
            "x-error-codes": list(command.error_codes),
            # Who may send the request: the identities whose permissions let them publish on its subject.
            "security": _may_publish(command.subject),
        }
    channels["deadLetters"] = {
        "address": DEADLETTER_SUBJECTS.replace(">", "{consumer}"),
        "description": f"Stream {DEADLETTER_STREAM}: the original payload, with the reason in the "
        "Kehrwasser-Deadletter-Reason header.",
        "parameters": {"consumer": {"description": "Durable name of the consumer that gave up"}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Kehrwasser network",
            "version": version,
            "description": "Events (CloudEvents 1.0, structured JSON) and request/reply commands of the "
            "members, alliances, ledger and notify services.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:4223",
                "protocol": "nats",
                "description": "Every client signs in with an identity of its own (docs/security.md).",
                "security": [{"$ref": f"#/components/securitySchemes/{identity}"} for identity in security_schemes()],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas, "securitySchemes": security_schemes()},
    }


def security_schemes() -> dict[str, Any]:
    """An nkey identity per service and client role (`kehrwasser security init`), with what it may do."""
    from ..security.permissions import IDENTITIES

    return {
        identity: {
            "type": "asymmetricEncryption",
            "description": f"The nkey of `{identity}`: {IDENTITY_ROLES.get(identity, f'the {identity} service')}. "
            "It signs the server's challenge; its permissions are in docs/security.md.",
        }
        for identity in IDENTITIES
    }


def _may_publish(subject: str) -> list[dict[str, str]]:
    # Here, not at the top: the permissions are derived from the contracts this package defines.
    from ..security.permissions import IDENTITIES, permissions_of

    allowed = [
        identity for identity in IDENTITIES if any(matches(p, subject) for p in permissions_of(identity).publish)
    ]
    return [{"$ref": f"#/components/securitySchemes/{identity}"} for identity in allowed]


def matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (``*`` one token, ``>`` the rest) covers ``subject``."""
    tokens, wanted = pattern.split("."), subject.split(".")
    for position, token in enumerate(tokens):
        if token == ">":
            return len(wanted) > position
        if position >= len(wanted) or token not in ("*", wanted[position]):
            return False
    return len(tokens) == len(wanted)


IDENTITY_ROLES = {
    "operator": "the operator's CLI, every command, query and stream administration",
    "gateway": "the service that fronts members; it gives commands on their behalf (requested_by)",
    "producer": "another team's service: publishes contribution-submitted, reads its outcomes",
    "reader": "queries without personal data (balances, lights, health)",
}


def _error_table(command: CommandContract[Any, Any]) -> str:
    rows = "\n".join(f"| `{code}` | {ERROR_CODES[code]} |" for code in command.error_codes)
    return f"Error codes of the reply (`ok: false`, `error.code`):\n\n| Code | Meaning |\n| --- | --- |\n{rows}"


def _reply_model(command: CommandContract[Any, Any]) -> type[BaseModel]:
    ok = OkReply[command.result]  # type: ignore[name-defined]
    return type(f"{command.result.__name__}Reply", (RootModel[ok | ErrorReply],), {})


def _standalone(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, **schema, "title": title}


def _camel(text: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", text)
    return words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def stale_documents(directory: Any) -> list[str]:
    """Paths under ``directory`` whose content differs from what the contracts generate now."""
    from pathlib import Path

    root = Path(directory)
    return [
        path
        for path, text in render_documents().items()
        if not (root / path).exists() or (root / path).read_text() != text
    ]


def write_documents(directory: Any) -> list[str]:
    from pathlib import Path

    root = Path(directory)
    written = []
    for path, text in render_documents().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            written.append(path)
    return written
