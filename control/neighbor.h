// The control thread's neighbour manager, for both families: ARP (RFC 826)
// for IPv4 next hops and Neighbor Discovery (RFC 4861) for IPv6 ones, with
// the same hold queue, retries, ageing and refresh. Pure: frames in, frames
// out, time injected. An IPv6 neighbour is asked with a Neighbor
// Solicitation to its solicited-node group, and re-probed before its entry
// lapses with a unicast NS to the known MAC (RFC 4861's NUD probe); an
// advertisement answers both, as an ARP reply does.
//
// It runs on the control thread; workers only read the NeighborTable
// snapshot it produces (dataplane/view.h). When a worker misses it punts
// the packet (PuntReason::Resolve); resolve() queues it and returns the ARP
// request to send. When the answer comes back (PuntReason::Arp) learn()
// records it, the control thread publishes a new NeighborTable from entries(), and
// take_ready() hands back the held packets rewritten for transmission.
// The rules follow the kernels: at most 3 packets held per unresolved next
// hop (Linux's historical unres_qlen), one request per second per next hop,
// give up after 3 s (3 probes), entries live 20 minutes (OpenBSD arpt_keep)
// and are re-probed shortly before that.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "dataplane/net/net.h"
#include "dataplane/net/time.h"
#include "dataplane/view.h"

namespace hafw::control {

using Frame = std::vector<uint8_t>;

struct NeighborConfig {
  Time reachable = std::chrono::minutes(20);  // lifetime of a confirmed entry
  Time refresh = std::chrono::seconds(30);    // re-probe this long before expiry
  Time retry = std::chrono::seconds(1);       // at most one request per next hop per retry
  Time give_up = std::chrono::seconds(3);     // an unanswered next hop is forgotten, its packets dropped
  size_t max_queued = 3;                      // packets held per unresolved next hop
  size_t max_entries = 4096;                  // bounds memory under an ARP flood
};

class NeighborManager {
 public:
  struct Stats {
    uint64_t learned = 0;        // new entries
    uint64_t changed = 0;        // existing entry got a different MAC
    uint64_t refreshed = 0;      // same MAC confirmed again
    uint64_t ignored = 0;        // learn() refused: unknown iface, sender outside the subnet, bogus MAC, table full
    uint64_t requests_sent = 0;  // ARP requests built (resolve, due_requests)
    uint64_t queued = 0;         // packets held for resolution
    uint64_t queue_drops = 0;    // held packets pushed out by newer ones (oldest dropped, as Linux does)
    uint64_t unresolved_drops = 0;  // held packets dropped when the next hop never answered
    uint64_t bad_resolve = 0;    // resolve() for a next hop on no connected subnet, or a runt packet
    uint64_t expired = 0;        // confirmed entries that aged out
  };

  explicit NeighborManager(std::vector<dp::IfaceView> ifaces, NeighborConfig cfg = {});

  // Interfaces changed (config reload): entries on an interface whose MAC,
  // address or prefix changed are forgotten.
  void set_ifaces(const std::vector<dp::IfaceView>& ifaces);

  // Record that `ip` on `iface` is at `mac`. Only senders inside the
  // interface's subnet are learned (a neighbour is on-link by definition).
  // Returns true when the resolved table changed (publish a new NeighborTable).
  // Packets held for `ip` become ready (take_ready()).
  // An IPv6 neighbour is on-link inside the interface's address6 prefix or
  // link-local (fe80::/64).
  bool learn(uint8_t iface, const net::IpAddr& ip, net::Mac mac, Time now);
  bool learn(uint8_t iface, uint32_t ip, net::Mac mac, Time now) { return learn(iface, net::IpAddr::v4(ip), mac, now); }

  // Like learn(), but only updates an entry we already have or are resolving:
  // RFC 826's merge rule, and Linux's default for unsolicited ARP
  // (arp_accept=0), so a host's broadcast request does not grow the table.
  // For IPv6, what an NS's source link-layer option and an unsolicited NA
  // tell us.
  bool update(uint8_t iface, const net::IpAddr& ip, net::Mac mac, Time now);
  bool update(uint8_t iface, uint32_t ip, net::Mac mac, Time now) { return update(iface, net::IpAddr::v4(ip), mac, now); }

  // Hold `packet` (a frame from a Resolve punt: TTL already decremented) until
  // `nexthop` resolves, and return the ARP request or Neighbor Solicitation
  // to send on `iface`. If `nexthop` is not on `iface`'s subnet, the
  // interface whose subnet holds it is used instead (a caller may pass the
  // receiving interface).
  std::vector<Frame> resolve(uint8_t iface, const net::IpAddr& nexthop, std::vector<uint8_t> packet, Time now);
  std::vector<Frame> resolve(uint8_t iface, uint32_t nexthop, std::vector<uint8_t> packet, Time now) {
    return resolve(iface, net::IpAddr::v4(nexthop), std::move(packet), now);
  }

  // Resolve `ip` on `iface` with no packet waiting (a unicast CARP peer):
  // the ARP request to send now, if one is due. A reply then creates the
  // entry as for resolve().
  std::vector<Frame> want(uint8_t iface, const net::IpAddr& ip, Time now);
  std::vector<Frame> want(uint8_t iface, uint32_t ip, Time now) { return want(iface, net::IpAddr::v4(ip), now); }
  // The MAC of a resolved neighbour, or null.
  const net::Mac* find(uint8_t iface, const net::IpAddr& ip) const;
  const net::Mac* find(uint8_t iface, uint32_t ip) const { return find(iface, net::IpAddr::v4(ip)); }

  // Held packets whose neighbour is now known, with eth src/dst rewritten,
  // paired with the interface to send them on.
  std::vector<std::pair<uint8_t, Frame>> take_ready();

  // Requests due now: retries for unresolved next hops and refresh probes
  // for entries about to expire (still rate limited per next hop).
  std::vector<std::pair<uint8_t, Frame>> due_requests(Time now);

  // Drop unresolved next hops older than give_up (and their packets) and
  // confirmed entries not refreshed within `reachable`.
  void expire(Time now);

  // Confirmed entries, sorted by (iface, ip): the input of NeighborTable::build.
  std::vector<std::tuple<uint8_t, uint32_t, net::Mac>> entries() const;
  std::vector<dp::NeighborTable::Entry6> entries6() const;

  // Bumped whenever entries() changes (learn, expiry, set_ifaces); the
  // control thread republishes when it moves.
  uint64_t version() const { return version_; }
  const Stats& stats() const { return stats_; }

  // The ARP request for `target` from interface `iface` (60 bytes, padded to
  // the Ethernet minimum). Empty if the interface has no address.
  Frame arp_request(uint8_t iface, uint32_t target) const;
  // The Neighbor Solicitation for `target` from interface `iface`: to the
  // target's solicited-node group, or unicast to `known` (a NUD probe).
  // From the interface's link-local address for a link-local target, its
  // address6 otherwise. Empty if the interface has no IPv6.
  Frame neighbor_solicit(uint8_t iface, const net::Addr6& target, const net::Mac* known = nullptr) const;

 private:
  struct Entry {
    bool resolved = false;
    net::Mac mac{};
    Time confirmed{};     // resolved: last time the neighbour was heard from
    Time first_asked{};   // unresolved: when resolution started
    Time last_asked{};    // last request sent
    bool asked = false;   // a request has been sent since the last confirmation
    std::vector<Frame> held;
  };
  using Key = std::pair<uint8_t, net::IpAddr>;

  bool on_link(uint8_t iface, const net::IpAddr& ip) const;
  // The ARP request or NS for ip: broadcast/multicast, or unicast to `known`.
  Frame request(uint8_t iface, const net::IpAddr& ip, const net::Mac* known) const;
  // The request for an unresolved entry, unless one went out within `retry`.
  std::vector<Frame> ask(uint8_t iface, const net::IpAddr& ip, Entry& e, Time now);
  bool set(uint8_t iface, const net::IpAddr& ip, net::Mac mac, Time now, bool create);
  void release(uint8_t iface, Entry& e);

  NeighborConfig cfg_;
  std::vector<dp::IfaceView> ifaces_;
  std::map<Key, Entry> table_;
  std::vector<std::pair<uint8_t, Frame>> ready_;
  uint64_t version_ = 0;
  Stats stats_;
};

}  // namespace hafw::control
