// Stage state_create: the first packet of a connection the rules passed.
//
// A pass with keep_state, or any flow NAT translates (the reply must be
// translated back, so translation always keeps state), gets a state. Only a
// packet that can open a connection creates one: a TCP SYN without ACK
// (pf's "flags S/SA"), any UDP or other-protocol packet, an ICMP echo
// request. Outbound NAT is decided here, where the egress interface is
// known: the first outbound entry of that interface whose source holds the
// packet's source picks the VIP, and a port is chosen so that the reply key
// (server -> VIP:port) belongs to no other state. The table's insert is the
// arbiter — insert-if-absent on both keys — so two workers never share a
// mapping, nor a worker and a state learned from the peer.
#include "dataplane/stages.h"

#include "dataplane/nat.h"
#include "dataplane/track.h"

namespace hafw::dp::stage {

namespace {

// Outbound NAT is IPv4 only (no NAT66): an IPv6 flow never looks.
const OutboundNatView* outbound_for(const Policy& pol, const PacketMeta& p) {
  if (p.has(PacketFlag::V6)) return nullptr;
  const auto src = addr16(p.data + p.l3 + 12);
  for (const OutboundNatView& o : pol.outbound)
    if (o.iface == p.out && o.translation.af == p.key.af && o.source.contains(src.data(), p.key.af)) return &o;
  return nullptr;
}

// The reply key outbound NAT would give the flow with `port`.
net::FlowKey translated_reply(const net::FlowKey& k, const net::IpAddr& vip, uint16_t port) {
  net::FlowKey r = net::reversed(k);
  r.dst = vip.b;
  r.dport = port;
  if (k.proto == net::kProtoIcmp) r.sport = port;
  return r;
}

// The packet belongs to a state another worker has just created: it is one
// of that state's packets.
void join(WorkerCtx& ctx, PacketMeta& p, Hit hit) {
  StateTable& t = *ctx.states;
  ctx.counters->add(StateCounter::Raced);
  t.count(hit.state, hit.dir, ip_bytes(p));
  nat::apply(p, t, t.at(hit.state), hit.dir);
  p.state = hit.state;
  p.dir = hit.dir;
  p.next = output_of(p);
}

void create(WorkerCtx& ctx, PacketMeta& p) {
  const Policy& pol = *ctx.view.policy;
  StateTable& t = *ctx.states;
  WorkerCounters& c = *ctx.counters;
  const OutboundNatView* snat = p.nat.side == NatSide::None ? outbound_for(pol, p) : nullptr;
  const bool translated = snat || p.nat.side != NatSide::None;
  if (!p.has(PacketFlag::KeepState) && !translated) {
    p.next = output_of(p);
    return;
  }

  const uint8_t proto = p.proto;
  StateInit init;
  init.key = p.key;
  init.rule = p.rule;
  init.nat = p.nat;
  switch (proto) {
    case net::kProtoTcp: {
      TcpSegment seg;
      parse_tcp(l4_of(p), l4_len(p), seg);
      if (!tcp_opens(seg.flags)) return p.to_drop(DropReason::TcpNotSyn);
      tcp_init(init, seg);
      break;
    }
    case net::kProtoIcmp:
    case net::kProtoIcmpv6:
      // Only a query opens a connection. Other ICMP (an error about no known
      // flow, a router advert) passes as is, unless it would need NAT, which
      // cannot be undone for a packet without a state.
      if (p.has(PacketFlag::IcmpError) ||
          l4_of(p)[0] != (proto == net::kProtoIcmp ? net::kIcmpEchoRequest : net::kIcmp6EchoRequest)) {
        if (translated) return p.to_drop(DropReason::NatUntranslatable);
        p.next = output_of(p);
        return;
      }
      break;
    default:
      first_packet_init(init, proto);
      break;
  }
  init.lifetime = pol.timeouts[size_t(initial_timeout(proto))];
  init.id = ctx.state_id;

  StateTable::InsertResult r{StateTable::Inserted::Full, {}};
  uint16_t port = 0;
  if (snat) {
    unsigned n = 0;
    for (; n < nat::kPortAttempts; ++n) {
      port = net::be16(nat::port_candidate(ctx.nat_ports, p.key, pol.nat_port_lo, pol.nat_port_hi, n));
      // A cheap look first: a port in use costs a lookup, not an insert.
      if (t.lookup(translated_reply(p.key, snat->translation, port)).found()) {
        c.add(NatCounter::PortRetries);
        continue;
      }
      init.nat = NatDelta{.side = NatSide::Src, .addr = snat->addr_ref, .port = port};
      r = t.insert(init, ctx.now_s);
      if (r.result != StateTable::Inserted::Conflict) break;
      c.add(NatCounter::PortRetries);  // another worker took it between the look and the insert
    }
    if (n == nat::kPortAttempts) return p.to_drop(DropReason::NatPortsExhausted);
  } else {
    r = t.insert(init, ctx.now_s);
  }

  switch (r.result) {
    case StateTable::Inserted::New:
      break;
    case StateTable::Inserted::Exists:
      return join(ctx, p, r.hit);
    case StateTable::Inserted::Conflict:
      return p.to_drop(DropReason::StateConflict);
    case StateTable::Inserted::Full:
      return p.to_drop(DropReason::StateTableFull);
  }
  ctx.state_id += ctx.state_id_step;
  c.add(StateCounter::Created);
  if (ctx.events) report(ctx, r.hit.state, init.id, 0, StateEventKind::Insert);
  if (snat) {
    nat::set_src(p, {snat->translation.b.data(), port});
    p.set(PacketFlag::Translated);
    c.add(NatCounter::Outbound);
  } else if (p.nat.side == NatSide::Dst) {
    c.add(NatCounter::Forwarded);
  }
  t.count(r.hit.state, 0, ip_bytes(p));
  p.state = r.hit.state;
  p.dir = 0;
  p.next = output_of(p);
}

}  // namespace

void state_create(WorkerCtx& ctx, Burst& b) {
  each(b, Next::StateCreate, [&](PacketMeta& p) { create(ctx, p); });
}

}  // namespace hafw::dp::stage
