"""NATS over TLS: nats-server with a certificate from a CA the test creates (trustme), the members service and
the CLI's client signed in through it with the CA and a client certificate, and the clients the server or the
client's own verification refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from kehrwasser_cli.commands import CannotConnect, connect
from kehrwasser_cli.settings import CliSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.contracts import members
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.security import identities
from kehrwasser_shared.testing import running

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Certificates:
    """PEM files: the test's CA, the server's certificate (for 127.0.0.1) and key, and a client's."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    ca = trustme.CA(organization_name="Kehrwasser test CA")
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("members.kehrwasser.test")
    directory = tmp_path / "tls"
    directory.mkdir()
    names = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
    files = Certificates(*(directory / name for name in names))
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files


TlsServer = Callable[..., NatsServer]


@pytest.fixture
def tls_nats(tmp_path: Path, identities_dir: Path, certificates: Certificates) -> Iterator[TlsServer]:
    """Starts nats-server with the generated permissions and TLS; ``verify=True`` asks clients for a certificate,
    ``handshake_first=True`` expects TLS before it says anything."""
    with ExitStack() as servers:

        def start(*, verify: bool, handshake_first: bool = False) -> NatsServer:
            name = f"nats-verify-{str(verify).lower()}-first-{str(handshake_first).lower()}"
            # Beside authorization.conf: nats-server resolves an include relative to the including file.
            config = identities_dir / f"{name}.conf"
            config.write_text(
                f'include "{identities.AUTHORIZATION_FILE}"\n'
                "tls {\n"
                f'  cert_file: "{certificates.server_cert}"\n'
                f'  key_file: "{certificates.server_key}"\n'
                f'  ca_file: "{certificates.ca}"\n'
                f"  verify: {str(verify).lower()}\n"
                f"  handshake_first: {str(handshake_first).lower()}\n"
                "  timeout: 2\n"
                "}\n"
            )
            server = NatsServer(tmp_path / name, log_file=tmp_path / f"{name}.log", config=config)
            return servers.enter_context(server)

        yield start


def operator(server: NatsServer, identities_dir: Path, tmp_path: Path, **tls: Any) -> CliSettings:
    """The CLI's settings as an operator would set them: the operator's seed, and ``tls`` (nats_tls_ca, ...)."""
    seed = identities.seed_file(identities_dir, "operator")
    return CliSettings(nats_url=server.url, nats_nkey_seed_file=seed, data_dir=tmp_path / "cli", **tls)


async def test_a_service_serves_through_tls_and_the_cli_with_the_ca_and_its_certificate_is_answered(
    tls_nats: TlsServer, identities_dir: Path, certificates: Certificates, tmp_path: Path
) -> None:
    server = tls_nats(verify=True)
    client_tls: dict[str, Any] = {
        "nats_tls_ca": certificates.ca,
        "nats_tls_cert": certificates.client_cert,
        "nats_tls_key": certificates.client_key,
    }
    settings = MembersSettings(
        nats_url=server.url,
        nats_nkey_seed_file=identities.seed_file(identities_dir, "members"),
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'members.db'}",
        **client_tls,
    )
    async with running(members_service(settings)):
        cli = operator(server, identities_dir, tmp_path, **client_tls)
        nc = await connect(cli.command_nats_url(), cli.command_identity())
        try:
            client = CommandClient(nc)
            ada = await client.send(
                members.REGISTER, members.RegisterMember(name="Ada Lovelace", email="ada@example.org")
            )
            found = await client.send(members.GET, members.GetMember(member_id=ada.member_id))
        finally:
            await nc.close()
    assert found.email == "ada@example.org"


async def test_a_client_without_the_ca_refuses_the_server_it_cannot_verify(
    tls_nats: TlsServer, identities_dir: Path, tmp_path: Path
) -> None:
    server = tls_nats(verify=False)
    cli = operator(server, identities_dir, tmp_path)  # the system's CAs only: the test's CA is not among them
    with pytest.raises(CannotConnect, match="certificate verify failed"):
        await connect(cli.command_nats_url(), cli.command_identity())


async def test_a_server_that_verifies_clients_refuses_one_without_a_certificate(
    tls_nats: TlsServer, identities_dir: Path, certificates: Certificates, tmp_path: Path
) -> None:
    server = tls_nats(verify=True)
    cli = operator(server, identities_dir, tmp_path, nats_tls_ca=certificates.ca)
    with pytest.raises(CannotConnect):
        await connect(cli.command_nats_url(), cli.command_identity())
    assert server.log_file is not None
    assert "TLS handshake error" in server.log_file.read_text()


async def test_without_verify_the_server_accepts_a_client_with_the_ca_only(
    tls_nats: TlsServer, identities_dir: Path, certificates: Certificates, tmp_path: Path
) -> None:
    server = tls_nats(verify=False)
    cli = operator(server, identities_dir, tmp_path, nats_tls_ca=certificates.ca)
    nc = await connect(cli.command_nats_url(), cli.command_identity())
    try:
        await nc.flush()
    finally:
        await nc.close()


async def test_with_tls_first_the_client_talks_to_a_tls_first_server_and_never_to_a_plain_one(
    tls_nats: TlsServer, secured_nats: NatsServer, identities_dir: Path, certificates: Certificates, tmp_path: Path
) -> None:
    server = tls_nats(verify=False, handshake_first=True)
    cli = operator(server, identities_dir, tmp_path, nats_tls_ca=certificates.ca, nats_tls_handshake_first=True)
    nc = await connect(cli.command_nats_url(), cli.command_identity())
    await nc.close()

    # A plain server (as a man in the middle would pose before TLS): the client configured for TLS but waiting
    # for the server to ask talks to it; with TLS first it does not.
    plain = operator(secured_nats, identities_dir, tmp_path, nats_tls_ca=certificates.ca)
    nc = await connect(plain.command_nats_url(), plain.command_identity())
    await nc.close()
    tls_first = operator(
        secured_nats, identities_dir, tmp_path, nats_tls_ca=certificates.ca, nats_tls_handshake_first=True
    )
    with pytest.raises(CannotConnect):
        await connect(tls_first.command_nats_url(), tls_first.command_identity())


def test_a_client_key_without_its_certificate_is_refused_at_start(certificates: Certificates) -> None:
    with pytest.raises(ValidationError, match="a client key needs its certificate"):
        MembersSettings(nats_tls_ca=certificates.ca, nats_tls_key=certificates.client_key)
    with pytest.raises(ValidationError, match="a client key needs its certificate"):
        CliSettings(nats_tls_ca=certificates.ca, nats_tls_key=certificates.client_key)
