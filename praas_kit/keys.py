"""CurveZMQ keys of the data plane.

Who holds which key (made by the control plane):

* every **process incarnation** has a key pair: its data-plane socket is a CURVE server with it, it uses
  the same pair as a client towards its peers, and its public key is published (REST ``public_key``, world
  updates);
* every **application** has a client key pair that its SDK clients use (fetched over the authenticated
  REST API, ``GET /apps/{app}/credentials``);
* a process authenticates connections with a ZAP handler: the application's client key is the user
  ``client``, a peer process's key is ``peer:<name>``; any other key is refused. A channel message is
  taken only from the peer whose name it carries, so a source cannot be forged, and a process of another
  application cannot call in.

Keys travel as Z85 text (40 characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq
from zmq.utils import z85

from praas_kit.errors import InvalidArgument

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
CLIENT_USER = "client"
PEER_PREFIX = "peer:"


@dataclass(frozen=True)
class KeyPair:
    """A CurveZMQ key pair (Z85 text)."""

    public: str
    secret: str

    @classmethod
    def new(cls) -> KeyPair:
        if not zmq.has("curve"):
            raise InvalidArgument("this libzmq has no CURVE support: set dataplane_auth='none'")
        pub, sec = zmq.curve_keypair()
        return cls(pub.decode(), sec.decode())

    def to_json(self) -> dict[str, str]:
        return {"public": self.public, "secret": self.secret}

    @classmethod
    def from_json(cls, data: Any) -> KeyPair:
        if not isinstance(data, dict) or not _z85(data.get("public")) or not _z85(data.get("secret")):
            raise InvalidArgument("a key pair is {'public': <40 Z85 characters>, 'secret': <40 Z85 characters>}")
        return cls(str(data["public"]), str(data["secret"]))


def _z85(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 40


def curve_client(sock: zmq.Socket[Any], server_key: str, client: KeyPair) -> None:
    """Make ``sock`` (before it connects) a CURVE client of the server with public key ``server_key``."""
    sock.curve_serverkey = server_key.encode()
    sock.curve_publickey = client.public.encode()
    sock.curve_secretkey = client.secret.encode()


def curve_server(sock: zmq.Socket[Any], own: KeyPair, domain: str = "praas") -> None:
    """Make ``sock`` (before it binds) a CURVE server whose clients a ZAP handler of ``domain`` checks."""
    sock.curve_server = True
    sock.curve_secretkey = own.secret.encode()
    sock.curve_publickey = own.public.encode()
    sock.zap_domain = domain.encode()


def zap_reply(request: list[bytes], users: dict[str, str]) -> list[bytes]:
    """The ZAP (RFC 27) reply to ``request``: ``200`` with the user of a known CURVE key, else ``400``."""
    version, request_id = request[0], request[1]
    mechanism = request[5] if len(request) > 5 else b""
    user = None
    if mechanism == b"CURVE" and len(request) > 6 and len(request[6]) == 32:
        user = users.get(z85.encode(request[6]).decode())
    if user is None:
        return [version, request_id, b"400", b"unknown key", b"", b""]
    return [version, request_id, b"200", b"OK", user.encode(), b""]


__all__ = ["KeyPair", "ZAP_ENDPOINT", "CLIENT_USER", "PEER_PREFIX", "curve_client", "curve_server", "zap_reply"]
