"""Send one command over NATS request/reply and print its typed reply."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import nats
from pydantic import BaseModel

from kehrwasser_shared.contracts.registry import CommandContract
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.messaging.client import CommandClient


async def send(nats_url: str, contract: CommandContract[Any, Any], request: BaseModel, timeout: float) -> BaseModel:
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        return await CommandClient(nc, timeout=timeout).send(contract, request)
    finally:
        await nc.close()


def run_command(nats_url: str, contract: CommandContract[Any, Any], request: BaseModel, timeout: float = 10.0) -> int:
    """Print the result as JSON (exit 0), or the structured error on stderr (exit 1)."""
    try:
        result = asyncio.run(send(nats_url, contract, request, timeout))
    except CommandFailed as failure:
        print(json.dumps(failure.error.model_dump(), indent=2, ensure_ascii=False), file=sys.stderr)
        return 1
    except (nats.errors.NoServersError, OSError) as exc:
        print(f"cannot reach NATS at {nats_url}: {exc} (is `kehrwasser up` running?)", file=sys.stderr)
        return 1
    except nats.errors.NoRespondersError:
        print(f"no {contract.service} service answers {contract.subject}", file=sys.stderr)
        return 1
    except nats.errors.TimeoutError:
        print(f"{contract.subject}: no reply within {timeout}s", file=sys.stderr)
        return 1
    print(result.model_dump_json(indent=2))
    return 0
