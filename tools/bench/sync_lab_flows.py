#!/usr/bin/env python3
"""UDP flow generator for tools/bench/sync-lab.

docs/benchmarks.md, "Sync across the lab".

Run inside the lab's client namespace. Sends one UDP datagram per flow from
the client's address to the lab's server through the client's default route
(the LAN VIP): flow f goes from source port 1024 + f // DPORTS to destination
port BASE + f % DPORTS, so N flows are N distinct 5-tuples, and outbound NAT
needs only N / DPORTS translated ports per (server, port). A raw socket
(IP_HDRINCL) lets one socket pick every source port; the UDP checksum is 0
(none), which IPv4 allows.

Prints one JSON object: flows sent, seconds, packets per second.
"""
import argparse
import json
import socket
import struct
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default="192.168.1.10", help="source address (the client's)")
    ap.add_argument("--dst", default="198.51.100.10", help="destination (the lab's server)")
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--first", type=int, default=0, help="first flow number")
    ap.add_argument("--dports", type=int, default=256, help="destination ports to spread over")
    ap.add_argument("--base-port", type=int, default=10000, help="first destination port")
    ap.add_argument("--pps", type=float, default=0, help="pace to at most this rate (0: as fast as possible)")
    ap.add_argument("--seconds", type=float, default=120, help="stop after this long whatever was sent")
    a = ap.parse_args()
    last = a.first + a.flows - 1
    if a.dports < 1 or a.base_port + a.dports - 1 > 65535 or 1024 + last // a.dports > 65535:
        print("sync_lab_flows: flows do not fit the port ranges; raise --dports", file=sys.stderr)
        return 2

    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    payload = b"hafw"
    total = 20 + 8 + len(payload)
    # IPv4 header: the kernel fills in the checksum, the total length and
    # (being 0) the id for a raw socket with IP_HDRINCL.
    pkt = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0, src, dst))
    pkt += struct.pack("!HHHH", 0, 0, 8 + len(payload), 0) + payload
    addr = (a.dst, 0)
    send, pack_into = s.sendto, struct.pack_into
    dports, base = a.dports, a.base_port
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    sent = errors = 0
    batch = 512
    f = a.first
    end = a.first + a.flows
    while f < end:
        stop = min(f + batch, end)
        for g in range(f, stop):
            pack_into("!HH", pkt, 20, 1024 + g // dports, base + g % dports)
            try:
                send(pkt, addr)
                sent += 1
            except OSError:  # ENOBUFS: the qdisc or socket buffer is full; count it
                errors += 1
        f = stop
        now = time.monotonic()
        if now > deadline:
            break
        if a.pps > 0:
            ahead = (f - a.first) / a.pps - (now - t0)
            if ahead > 0:
                time.sleep(ahead)
    secs = time.monotonic() - t0
    print(json.dumps({"sent": sent, "send_errors": errors, "seconds": round(secs, 3),
                      "pps": round(sent / secs) if secs > 0 else 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
