// IPv4 and IPv6 reassembly and fragmentation for the DPDK glue, on
// DPDK's ip_frag library (docs/dataplane.md, "Fragments").
//
// The pipeline sends a fragment that passed ipv4_input's or ipv6_input's
// checks to the Reassemble exit; the worker hands its mbuf to its own Reassembly (one
// ip_frag table per worker: no lock), and a packet that completes comes
// back as one segment, for the pipeline to run again from the start. A
// reassembled packet the rules pass that is longer than the egress port's
// MTU is cut again on transmit: IPv4 at the MTU (fragment()), IPv6 at the
// size of the largest fragment it came in (fragment6(), as pf does;
// ipv6_route answers packet too big if that does not fit).
//
// Every fragment the table lets go of is counted by reason: a timeout, an
// overlap (or a repeat), too many fragments, or no room in the table.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/counters.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ip_frag_tbl;
struct rte_ip_frag_death_row;

namespace hafw::dp {

struct FragSettings {
  // Packets one worker reassembles at once (each holds up to
  // kMaxFragments mbufs): the memory bound under a flood.
  uint32_t max_packets = 1024;
  // A packet whose fragments have not all arrived this long after its
  // first one is dropped, with every fragment held for it.
  uint32_t timeout_ms = 30000;
};

// The ip_frag library's limit on fragments per packet, fixed when DPDK is
// built (RTE_LIBRTE_IP_FRAG_MAX_FRAG; 8 in Debian's and DPDK's default).
unsigned max_fragments();

class Reassembly {
 public:
  // The table on `socket`; `whole` is the pool of buffers that hold a
  // reassembled packet too long for one of the RX pool's. Null and `error`
  // on failure.
  static std::unique_ptr<Reassembly> create(const FragSettings& s, rte_mempool* whole, int socket,
                                            std::string& error);
  ~Reassembly();
  Reassembly(const Reassembly&) = delete;
  Reassembly& operator=(const Reassembly&) = delete;

  // Takes fragment m (one segment; l2_len and l3_len set: for IPv6 up to
  // the end of the fragment header, other extension headers before it), of either
  // family. Returns the packet it completes, in one segment (IPv4: with a
  // valid header checksum; IPv6: without its fragment header), or null:
  // held until its packet completes, or dropped (counted in c).
  rte_mbuf* add(rte_mbuf* m, uint64_t now_ms, WorkerCounters& c);
  // The largest fragment, in IP bytes, of the packet the last add()
  // completed: the size an IPv6 packet is cut to again (fragment6).
  uint16_t largest_fragment() const { return largest_; }
  // Drops the packets that timed out by now_ms (counted).
  void expire(uint64_t now_ms, WorkerCounters& c);
  // Frees the mbufs the table has let go of.
  void flush();
  // Fragments the table holds now (any thread may read it).
  uint32_t held() const { return held_.load(std::memory_order_relaxed); }

 private:
  Reassembly() = default;
  // Counts the mbufs from death row index `from` on as `why`.
  void count_from(uint32_t from, DropReason why, WorkerCounters& c) const;
  rte_mbuf* linearize(rte_mbuf* chain, WorkerCounters& c);

  rte_ip_frag_tbl* tbl_ = nullptr;
  std::unique_ptr<rte_ip_frag_death_row> dr_;
  rte_mempool* whole_ = nullptr;
  std::atomic<uint32_t> held_{0};  // written by the worker only
  uint16_t largest_ = 0;
};

// Cuts packet m (one segment, its IPv4 header at l3 after an Ethernet
// header) into fragments of at most `mtu` IP bytes, each with m's Ethernet
// header and a valid IPv4 checksum, from `pool`. Returns how many went to
// `out` (m is then freed), or 0 if they could not be made (m untouched).
unsigned fragment(rte_mbuf* m, uint16_t l3, uint16_t mtu, rte_mempool* pool, rte_mbuf** out, unsigned max_out);

// Cuts reassembled IPv6 packet m (one segment, its IPv6 header at l3, no
// fragment header) into fragments of at most `size` IP bytes, as pf's
// refragmentation does: the IPv6 header and any hop-by-hop and routing
// headers (the unfragmentable part, RFC 8200 §4.5) in each, then a fragment
// header with identification `id`, then the next piece of the rest, in
// 8-byte units. Each has m's Ethernet header. Returns how many went to
// `out` (m is then freed), or 0 (m untouched): no buffer, more than
// max_out pieces, or `size` too small for the unfragmentable part.
unsigned fragment6(rte_mbuf* m, uint16_t l3, uint16_t size, uint32_t id, rte_mempool* pool, rte_mbuf** out,
                   unsigned max_out);

}  // namespace hafw::dp
