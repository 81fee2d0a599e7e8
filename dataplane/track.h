// Connection tracking as pf does it: TCP sequence windows and progress
// (pf's pf_tcp_track_full), and the SINGLE/MULTIPLE progress of UDP and
// other protocols, on the per-side fields of a State. Pure functions of the
// state and the packet: the state_lookup stage calls them for every packet
// that matches a state, state_create for the packet that creates one.
//
// Concurrency: the two directions of a connection may be handled by two
// workers at once (NAT gives them different 5-tuples, so RSS spreads them).
// Each per-side field has one writer in the normal case — a packet of side w
// writes seqlo[w], max_win[w] and the other side's seqhi — and progress only
// rises (a compare-and-swap keeps the larger value), so concurrent updates
// never move a state backwards; a stale read costs at most what a reordered
// packet costs. docs/tracking.md, "TCP tracking", has the rules and numbers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/net/net.h"
#include "dataplane/net/timeouts.h"
#include "dataplane/state_table.h"

namespace hafw::dp {

namespace tcpf {
constexpr uint8_t Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20, Ece = 0x40, Cwr = 0x80;
}

// What tracking needs of a TCP segment, host order.
struct TcpSegment {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t win = 0;       // as on the wire (unscaled)
  uint8_t flags = 0;
  uint8_t wscale = kNoWscale;  // the window scale option (SYN only); kNoWscale when absent
  uint32_t payload = 0;   // data bytes: IP total length - IP header - TCP header
};

// Parse the TCP header at `l4`; `l4_len` is what the IP total length leaves
// for TCP. False when it is truncated or the data offset is impossible
// (under 5 words or past l4_len). Options are walked for window scale only,
// with a bound, and a malformed option list just ends the walk.
bool parse_tcp(const uint8_t* l4, size_t l4_len, TcpSegment& out);

// Flag combinations no TCP sends, which scanners and evasion tricks use:
// SYN with RST, SYN with FIN, and no flag at all (ECE and CWR alone count
// as none: they signal congestion, not a segment). pf's scrub drops them;
// so does every packet path here, state or not.
bool tcp_flags_valid(uint8_t flags);

// pf's "flags S/SA": a segment that may open a connection (SYN set, ACK clear).
constexpr bool tcp_opens(uint8_t flags) { return (flags & (tcpf::Syn | tcpf::Ack)) == tcpf::Syn; }

// Side 0's initial window values from the SYN that creates the state, and
// side 1 unseen (pf: the initiator SYN_SENT, the responder CLOSED).
void tcp_init(StateInit& init, const TcpSegment& syn);
// UDP and other protocols: the initiator SINGLE, the responder NO_TRAFFIC.
// ICMP queries: nothing to track; TCP: tcp_init does it.
void first_packet_init(StateInit& init, uint8_t proto);

// The timeout class a new state starts with (tcp.first, udp.first, ...).
net::Timeout initial_timeout(uint8_t proto);

enum class Verdict : uint8_t {
  Pass,         // in the window: the state moved on
  OutOfWindow,  // pf's bad state: drop the segment, keep the state as it was
  Reopen,       // a SYN (no ACK) on a state both sides have closed: the caller
                // kills it and handles the SYN as a new connection
};

struct Tracked {
  Verdict verdict = Verdict::Pass;
  net::Timeout timeout{};  // Pass: the class the state is in now
  // Pass: whether to push the expiry out by the class's time. False when
  // the segment passed only pf's loose check (a peer that has not answered
  // yet, stray segments around a close): as in pf, such segments must not
  // keep a state alive on their own.
  bool refresh = true;
  // Pass: the packet moved a side's progress (TCP: a SYN, FIN or RST, or an
  // ACK answering one; UDP: a side's first packet or answer). State sync
  // reports such a packet's state at once, other updates at most once a
  // second (docs/dataplane.md, "State sync events").
  bool progressed = false;

  bool operator==(const Tracked&) const = default;
};

// A TCP segment of direction `dir` on state s. A side counts as unseen
// while its progress is below SYN_SENT (pf tests seqlo == 0, which a real
// initial sequence number of 0 would confuse); its first segment sets its
// sequence numbers. A side whose window came from the peer
// (sflag::SyncedWin) has its next segment that is not a RST passed and its
// window re-anchored on it. OutOfWindow changes nothing in the state.
Tracked tcp_track(State& s, uint8_t dir, const TcpSegment& seg);

// A UDP or other-protocol packet of direction `dir`: progress rises (pf:
// the sender at least SINGLE, the other side MULTIPLE once it had sent);
// returns Pass with the class (udp/other single or multiple).
inline Tracked udp_track(State& s, uint8_t dir);

namespace detail {
// udp_track when a side's progress has to move.
Tracked udp_track_update(State& s, uint8_t dir);
}

// Inline for the packets that change nothing, nearly all of an established
// flow's: the sender already at least SINGLE and the other side not SINGLE
// (so not waiting to become MULTIPLE). udp_track_update would then write
// nothing either, and its class comes from the same two progress values.
inline Tracked udp_track(State& s, uint8_t dir) {
  const uint8_t p0 = progress_of(s.peer[0].load(std::memory_order_acquire));
  const uint8_t p1 = progress_of(s.peer[1].load(std::memory_order_acquire));
  const uint8_t sender = dir & 1 ? p1 : p0, other = dir & 1 ? p0 : p1;
  if (sender < udps::Single || other == udps::Single) return detail::udp_track_update(s, dir);
  const bool both = p0 == udps::Multiple && p1 == udps::Multiple;
  if (s.proto == net::kProtoUdp) return {Verdict::Pass, both ? net::Timeout::UdpMultiple : net::Timeout::UdpSingle};
  return {Verdict::Pass, both ? net::Timeout::OtherMultiple : net::Timeout::OtherSingle};
}

}  // namespace hafw::dp
