"""Hostile platform traffic: a burst of bad messages on a gateway's inbound topics, as fast as the broker takes them.

    python -m gateway.tools.flood --broker mqtt://127.0.0.1:1883 --gateway gw-0001 --count 50000

Every payload is refused by the gateway (random bytes, deep nesting, oversized strings, control characters,
expired commands, documents with a bad version, acks for unknown alarms): nothing it sends can change a
gateway's state. Use it on a test box to check that memory, CPU and the journal stay bounded
(``gateway.heartbeat`` -> ``inbound_dropped`` shows what was shed). Tests and ``bench`` use it too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.topics import Topics

#: The topics a gateway subscribes to, relative to its prefix.
INBOUND = ("cmd", "config/desired", "alarms/ack")


def hostile_payloads(seed: int = 21, n: int = 64) -> list[bytes]:
    """``n`` distinct payloads none of which a gateway may accept (a few hundred bytes on average: a flood is
    about the number of messages; large payloads are a separate check)."""
    rng = random.Random(seed)
    makers = [
        lambda: rng.randbytes(rng.randint(0, 600)),
        lambda: b"[" * rng.randint(100, 1500),
        lambda: b'{"a":' * rng.randint(40, 200) + b"1" + b"}" * 10,
        lambda: json.dumps({"id": "x" * rng.randint(1, 300), "cmd": "restart", "expires_at": 1}).encode(),
        lambda: json.dumps({"version": "v" * rng.randint(1, 500), "log_level": "\x1b[31m" * 20}).encode(),
        lambda: json.dumps({"alarm": f"no-such-alarm-{rng.random()}", "by": "\x00\n" * 30}).encode(),
        lambda: json.dumps({"alarm": ["x"] * 200, "note": "n" * 600}).encode(),
        lambda: ("\u202e\r\n" + "注" * rng.randint(10, 200)).encode(),
        lambda: b'{"id":"a","id":"b","cmd":"x","expires_at":1}',
    ]
    return [makers[i % len(makers)]() for i in range(n)]


def flood(
    host: str,
    port: int,
    gateway: str,
    per_topic: int,
    *,
    topics: Sequence[str] = INBOUND,
    qos: int = 1,
    seed: int = 21,
    timeout: float = 300.0,
) -> dict[str, float]:
    """Publish ``per_topic`` hostile messages on each inbound topic (interleaved) and wait until the broker has
    all of them. Blocking: call it in a thread from async code. Returns counts and the publishing rate.

    QoS 0 floods fastest (the broker passes them on at QoS 0); QoS 1 also exercises the gateway's PUBACKs, but
    the publishing client itself slows down with many messages in flight, so keep QoS 1 floods to thousands."""
    base = Topics(gateway).base
    payloads = hostile_payloads(seed)
    done = threading.Event()
    acked = 0
    total = per_topic * len(topics)

    def on_publish(client: mqtt.Client, userdata: object, mid: int, rc: object, props: object) -> None:
        nonlocal acked
        acked += 1
        if acked >= total:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{random.getrandbits(32):08x}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    started = time.monotonic()
    sent_bytes = 0
    try:
        info = None
        for i in range(per_topic):
            for topic in topics:
                payload = payloads[(i * 7 + len(topic)) % len(payloads)]
                sent_bytes += len(payload)
                info = client.publish(f"{base}/{topic}", payload, qos=qos)
        if qos == 0 and info is not None:  # written to the socket, in order: the broker has them all
            info.wait_for_publish(timeout)
            done.set()
        if not done.wait(timeout):
            raise TimeoutError(f"broker acknowledged {acked} of {total} in {timeout} s")
        elapsed = time.monotonic() - started
    finally:
        client.disconnect()
        client.loop_stop()
    return {"messages": total, "bytes": sent_bytes, "seconds": elapsed, "per_s": total / elapsed if elapsed else 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--count", type=int, default=50_000, help="messages per topic")
    parser.add_argument("--topic", action="append", choices=INBOUND, help="only these topics (repeatable)")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=0)
    args = parser.parse_args(argv)
    url = urlsplit(args.broker)
    stats = flood(
        url.hostname or "127.0.0.1",
        url.port or 1883,
        args.gateway,
        args.count,
        topics=args.topic or INBOUND,
        qos=args.qos,
    )
    print(
        f"published {stats['messages']:,.0f} hostile messages ({stats['bytes'] / 2**20:.1f} MB) "
        f"in {stats['seconds']:.1f} s ({stats['per_s']:,.0f}/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
