// The burst stage contract: what every stage of the worker pipeline reads and
// writes.
//
// A worker receives up to kBurstMax frames, wraps each in a PacketMeta and
// runs every stage over the whole burst (dataplane/pipeline.h). A stage looks
// only at the packets whose `next` names it, and sets `next` to a later stage
// or to one of the three exits (Tx, Control, Drop). Doing one stage for the
// whole burst before the next keeps each stage's code and tables hot in the
// cache and lets a stage batch its memory accesses: the state lookup computes
// every flow hash of the burst and prefetches the buckets before it looks
// any of them up.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/counters.h"
#include "dataplane/net/flow.h"
#include "dataplane/net/time.h"
#include "dataplane/state_table.h"
#include "dataplane/sync_events.h"
#include "dataplane/view.h"

namespace hafw::dp {

// DPDK's usual RX burst: amortises the PMD call and fills the stages' vectors.
constexpr unsigned kBurstMax = 32;

// The stages in the order the pipeline runs them; every edge goes from a
// stage to a later one, so one pass in this order finishes every packet:
//   input -> state lookup -> destination NAT -> local or transit -> route
//   -> filter -> state create (source NAT) -> output
enum class Next : uint8_t {
  EthInput,
  ArpInput,
  Ipv4Input,
  Ipv6Input,
  StateLookup,   // bulk lookup, both families; a hit is tracked, counted and translated here
  Dnat,          // an IPv4 miss: port forwards
  Ipv4Classify,  // local or transit
  Ipv6Classify,
  Ipv4Local,
  Ipv6Local,     // ICMPv6 to the node: Neighbor Discovery and echo
  IcmpLocal,
  Ipv4Route,
  Ipv6Route,
  Filter,        // a miss in transit, both families: the rules
  StateCreate,   // a pass that keeps state: outbound NAT, then the insert
  Ipv4Output,
  Ipv6Output,
  IcmpError,  // an ICMP error in place of a packet route could not forward
  // Exits: the worker's I/O acts on these.
  Tx,       // transmit on `out` (a reply goes back out of `in`)
  Control,  // to the control thread; `punt` says why
  Drop,     // free; `drop` says why (counted by the pipeline)
  // A fragment that passed ipv4_input's or ipv6_input's checks, for the worker's I/O
  // to reassemble (dataplane/io.h): the whole packet, if it completes, runs
  // through the pipeline again from the start, flagged Reassembled.
  Reassemble,
};
constexpr unsigned kStageCount = unsigned(Next::Tx);

enum class PacketFlag : uint8_t {
  L2Unicast = 1,   // eth dst was our MAC or an owned virtual MAC, not broadcast/multicast
  IcmpError = 2,   // an ICMP error: `key` is the flow it quotes, reversed (the state it belongs to)
  Translated = 4,  // NAT rewrote an address or port: `key` still holds the packet as it arrived
  TxIpCsum = 8,    // the port computes the IPv4 header checksum on transmit (checksum field 0)
  KeepState = 16,  // Filter: the rule that passed it keeps state
  Reassembled = 32,  // set by the I/O: made whole from fragments; IPv4 is cut again on Tx if longer than the MTU
  V6 = 64,         // an IPv6 packet (ipv6_input): the stages both families share read its layout
};

// Per-packet metadata, filled in as the packet moves through the stages.
// Two cache lines (104 bytes of fields, aligned to 64): finding packet i of
// a burst is then a shift, where 104 bytes took a chain of leas that the
// stages, short of registers, kept recomputing (24 instructions a packet).
struct alignas(64) PacketMeta {
  uint8_t* data;       // the frame, rewritten in place
  uint16_t len;        // bytes in the frame
  uint16_t room;       // bytes the buffer holds from `data` on: a stage may grow the frame up to it
  uint8_t in;          // receiving interface
  uint8_t out;         // Tx: where it leaves; Control/Resolve: the route's interface
  Next next;
  uint8_t flags;       // PacketFlag bits
  uint8_t l3;          // offset of the network header (14; 18 once 802.1Q arrives)
  uint8_t l4;          // offset of the transport header, 0 when there is none
  DropReason drop;     // Drop only
  PuntReason punt;     // Control only
  // IPv4, host order: the route's next hop (Resolve: the address to ARP
  // for). IPv6: the index of the route in Topology::routes6() plus 1 (the
  // control thread routes a Resolve punt's destination again).
  uint32_t nexthop;
  uint8_t icmp_type;   // IcmpError: what to send back (the drop reason stands if nothing is sent)
  uint8_t icmp_code;
  uint8_t proto;       // the transport protocol: IPv4's protocol field, IPv6's last next header
  uint64_t offload;    // NIC offload flags from RX (checksum verified, RSS hash valid)
  uint32_t rss_hash;   // the NIC's RSS hash, when offload says it is valid
  uint32_t state;      // StateIndex of the packet's state (kNoState: none yet)
  uint8_t dir;         // which of the state's keys it matched
  uint16_t rule;       // Filter: the rule that passed it (kNoRule: none)
  NatDelta nat;        // Dnat: the port forward's target, for the state StateCreate makes
  net::FlowKey key;    // the flow the packet belongs to: written whole by ipv4_input, unset before
  uint64_t key_hash;   // StateTable::hash(key), written with it (ipv4_input), for the state lookup
  // Reassembled: the largest of the fragments it came in, in IP bytes (0:
  // not known). IPv6 leaves cut again at that size, as pf does, so it is
  // what must fit the egress MTU (ipv6_route).
  uint16_t frag_size;

  bool has(PacketFlag f) const { return flags & uint8_t(f); }
  void set(PacketFlag f) { flags |= uint8_t(f); }
  void to_drop(DropReason r) {
    next = Next::Drop;
    drop = r;
  }
  void to_control(PuntReason r) {
    next = Next::Control;
    punt = r;
  }
  // Answer with an ICMP error (stage icmp_error); dropped for `why` if none may go back.
  void to_icmp_error(DropReason why, uint8_t type, uint8_t code) {
    next = Next::IcmpError;
    drop = why;
    icmp_type = type;
    icmp_code = code;
  }
  void to_tx(uint8_t iface) {
    next = Next::Tx;
    out = iface;
  }
};

struct Burst {
  uint16_t n = 0;
  // Bit Next::X set while a packet may wait at stage X: a stage no packet
  // waits for is skipped without a pass over the burst (an established flow
  // visits five of the eighteen stages). Each stage's pass recomputes it.
  uint32_t waiting = 0;
  std::array<PacketMeta, kBurstMax> pkt;

  // Starts packet i of the burst at the first stage. Field by field: the
  // flow key and `proto` are written by the input stages (ipv4_input,
  // ipv6_input), and only read after them.
  // `room` is what the buffer holds from `data` on (at least `len`); 0 means
  // just the frame.
  void set(uint16_t i, uint8_t* data, uint16_t len, uint8_t in, uint16_t room = 0, uint64_t offload = 0,
           uint32_t rss_hash = 0) {
    PacketMeta& p = pkt[i];
    p.data = data;
    p.len = len;
    p.room = room > len ? room : len;
    p.in = in;
    p.out = in;
    p.next = Next::EthInput;
    p.flags = 0;
    p.l3 = 0;
    p.l4 = 0;
    p.drop = DropReason::Count;
    p.punt = PuntReason::Count;
    p.nexthop = 0;
    p.icmp_type = 0;
    p.icmp_code = 0;
    p.offload = offload;
    p.rss_hash = rss_hash;
    p.frag_size = 0;
    p.state = kNoState;
    p.dir = 0;
    p.rule = kNoRule;
    p.nat = NatDelta{};
    waiting |= 1u << unsigned(Next::EthInput);
  }
};

// How one worker picks outbound NAT ports (dataplane/nat.h): a keyed hash of
// the flow gives the first candidate, and each worker only hands out ports
// p with p % workers == worker, so two workers never race for one.
struct NatPorts {
  uint64_t seed = 0;     // keys the hash: ports are not predictable from outside
  unsigned worker = 0;
  unsigned workers = 1;
};

// A token bucket for the ICMP errors one worker sends (BSD's icmplim is 200
// per second): a flood of expiring packets must not become a flood of
// errors from the firewall.
struct IcmpLimiter {
  static constexpr uint64_t kPerSecond = 200;
  static constexpr uint64_t kBurst = 50;
  uint64_t tokens = kBurst;
  Time refilled{};

  bool take(Time now) {
    if (now > refilled) {
      const uint64_t add = uint64_t((now - refilled).count()) * kPerSecond / 1'000'000'000;
      if (add > 0) {
        tokens = tokens + add > kBurst ? kBurst : tokens + add;
        refilled = now;
      }
    }
    if (tokens == 0) return false;
    --tokens;
    return true;
  }
};

// What one worker brings to every stage: the snapshots of this pass, the
// time, its counters, and the shared tables it works on.
struct WorkerCtx {
  View view;
  Time now{};
  uint32_t now_s = 0;  // `now` in whole seconds: the state table's clock
  unsigned worker = 0;
  WorkerCounters* counters = nullptr;
  IcmpLimiter icmp_limit{};
  StateTable* states = nullptr;  // required: run_burst looks every packet up
  // State sync: where this worker reports its state inserts, updates and
  // deletes (dataplane/sync_events.h); null on a node without sync.
  EventRing* events = nullptr;
  NatPorts nat_ports{};
  // The pfsync id of the next state this worker creates; ids go up by
  // `state_id_step` (the worker count), so workers never hand out the same.
  uint64_t state_id = 1;
  uint32_t state_id_step = 1;

  void set_time(Time t) {
    now = t;
    now_s = uint32_t(std::chrono::duration_cast<std::chrono::seconds>(t).count());
  }
};

}  // namespace hafw::dp
