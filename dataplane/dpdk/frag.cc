// The ip_frag library's copy fragmentation and expiry walk are experimental in
// DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1

#include "dataplane/dpdk/frag.h"

#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace hafw::dp {

namespace {

// Bucket entries of the table: a key has two candidate buckets, so eight
// slots; with four slots a packet in the table the buckets rarely fill.
constexpr uint32_t kBucketEntries = 4;

// One call to the library puts at most a stale entry's fragments and the
// new one on death row, or an erroneous entry's and the new one.
constexpr uint32_t kDeathRowRoom = 2 * (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1);

// An IPv6 fragment whose fragment header follows other extension headers
// (hop-by-hop, destination options, routing: `ext` bytes of them, the
// unfragmentable part with the IPv6 header). The library assumes the
// fragment header right after the IPv6 header: it takes the fragment's
// bytes to be the payload length less 8, and on completion removes the
// fragment header by moving everything before it, then sets the IPv6
// header's next header from the 8 bytes after it. So before the call the
// payload length is lowered by `ext` (the library then counts the right
// bytes), and the two next headers it cannot know — the IPv6 header's and
// the fragment header's — ride in the first fragment's mbuf hash word
// (nothing reads it after RX) for mend6() to put back with the length.
constexpr uint32_t kMend6 = 1u << 16;

void prepare6(rte_mbuf* m, uint8_t* ip, const rte_ipv6_fragment_ext* fh, uint16_t ext) {
  m->hash.usr = 0;
  if (ext == 0) return;
  m->hash.usr = kMend6 | uint32_t(ip[6]) << 8 | fh->next_header;
  auto* h = reinterpret_cast<rte_ipv6_hdr*>(ip);
  h->payload_len = rte_cpu_to_be_16(uint16_t(rte_be_to_cpu_16(h->payload_len) - ext));
}

// The reassembled packet `m` (its headers in its first segment) as the
// first fragment's headers said, without the fragment header.
void mend6(rte_mbuf* m) {
  if (!(m->hash.usr & kMend6)) return;
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
  const size_t ext = m->l3_len - sizeof(rte_ipv6_hdr) - sizeof(rte_ipv6_fragment_ext);
  ip[6] = uint8_t(m->hash.usr >> 8);
  auto* h = reinterpret_cast<rte_ipv6_hdr*>(ip);
  h->payload_len = rte_cpu_to_be_16(uint16_t(rte_be_to_cpu_16(h->payload_len) + ext));
  // The last unfragmentable header named the fragment header: now what
  // the fragment header named. Hop-by-hop, destination options and
  // routing headers all give their length in 8-byte units after the first 8.
  size_t last = sizeof(rte_ipv6_hdr);
  for (size_t at = last; at < sizeof(rte_ipv6_hdr) + ext; at += (size_t(ip[at + 1]) + 1) * 8) last = at;
  ip[last] = uint8_t(m->hash.usr);
  m->hash.usr = 0;
}

}  // namespace

unsigned max_fragments() { return RTE_LIBRTE_IP_FRAG_MAX_FRAG; }

std::unique_ptr<Reassembly> Reassembly::create(const FragSettings& s, rte_mempool* whole, int socket,
                                               std::string& error) {
  std::unique_ptr<Reassembly> r(new Reassembly());
  r->whole_ = whole;
  r->dr_ = std::make_unique<rte_ip_frag_death_row>();
  r->dr_->cnt = 0;
  // The timestamps are milliseconds, so the library's "cycles" are too.
  r->tbl_ = rte_ip_frag_table_create(s.max_packets, kBucketEntries, s.max_packets, s.timeout_ms, socket);
  if (!r->tbl_) {
    error = "dataplane.fragments: cannot create a reassembly table for " + std::to_string(s.max_packets) +
            " packets: " + rte_strerror(rte_errno);
    return nullptr;
  }
  return r;
}

Reassembly::~Reassembly() {
  if (tbl_) rte_ip_frag_table_destroy(tbl_);  // frees the fragments it holds
  if (dr_) flush();
}

void Reassembly::flush() {
  if (dr_->cnt) rte_ip_frag_free_death_row(dr_.get(), 4);
}

void Reassembly::count_from(uint32_t from, DropReason why, WorkerCounters& c) const {
  if (dr_->cnt > from) c.add(why, dr_->cnt - from);
}

// The largest fragment of a packet the library has just chained, in IP
// bytes: `hdr` header bytes (IPv4's header; IPv6's header and the
// extension headers before its fragment header) and `frag_hdr` (IPv6's 8)
// in each, the first segment holding the Ethernet and IP headers and the
// first piece, the others a piece each.
static uint16_t largest_piece(const rte_mbuf* chain, uint16_t hdr, uint16_t frag_hdr) {
  uint32_t rest = 0, largest = 0;
  for (const rte_mbuf* s = chain->next; s; s = s->next) {
    rest += s->data_len;
    largest = std::max<uint32_t>(largest, s->data_len);
  }
  const uint32_t payload = chain->pkt_len - chain->l2_len - hdr;
  largest = std::max(largest, payload - rest);
  return uint16_t(std::min<uint32_t>(hdr + frag_hdr + largest, UINT16_MAX));
}

rte_mbuf* Reassembly::add(rte_mbuf* m, uint64_t now_ms, WorkerCounters& c) {
  if (RTE_IP_FRAG_DEATH_ROW_MBUF_LEN - dr_->cnt < kDeathRowRoom) flush();
  c.add(IoCounter::FragmentsIn);
  // One table serves both families (the library keys IPv4 and IPv6 apart).
  // `between`: a fragment with others before and after it.
  auto* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
  const uint32_t before = dr_->cnt;
  bool between;
  rte_mbuf* whole;
  const bool v6 = (l3[0] >> 4) == 6;
  const uint16_t hdr = uint16_t(v6 ? m->l3_len - sizeof(rte_ipv6_fragment_ext) : m->l3_len);
  if (v6) {
    // The fragment header ends l3_len (ipv6_input), `ext` bytes of other
    // extension headers before it.
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(l3);
    auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(l3 + m->l3_len - sizeof(rte_ipv6_fragment_ext));
    const uint16_t fd = rte_be_to_cpu_16(fh->frag_data);
    between = RTE_IPV6_GET_MF(fd) && RTE_IPV6_GET_FO(fd);
    prepare6(m, l3, fh, uint16_t(m->l3_len - sizeof(rte_ipv6_hdr) - sizeof(rte_ipv6_fragment_ext)));
    whole = rte_ipv6_frag_reassemble_packet(tbl_, dr_.get(), m, now_ms, ip, fh);
    if (whole) {
      largest_ = largest_piece(whole, hdr, sizeof(rte_ipv6_fragment_ext));
      mend6(whole);
    }
  } else {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    const uint16_t fo = rte_be_to_cpu_16(ip->fragment_offset);
    between = (fo & RTE_IPV4_HDR_MF_FLAG) && (fo & RTE_IPV4_HDR_OFFSET_MASK);
    whole = rte_ipv4_frag_reassemble_packet(tbl_, dr_.get(), m, now_ms, ip);
    if (whole) largest_ = largest_piece(whole, hdr, 0);
  }
  const uint32_t after = dr_->cnt;
  // The library says only "complete" or "not yet"; what it put on death row
  // says why it let fragments go. A stale entry it found on the way (or
  // reused: the same packet, timed out) goes first, and is a timeout. Then:
  // m alone means no entry could be had for it (the table or both of its
  // buckets full); m with others means its entry was erroneous —
  // overlapping or repeated fragments, or more than the library holds.
  uint32_t mine = after;
  for (uint32_t i = before; i < after; ++i)
    if (dr_->row[i] == m) mine = i;
  // m counts as held until its packet completes; what death row took, no more.
  const uint32_t held = held_.load(std::memory_order_relaxed) + 1 - (after - before) - (whole ? whole->nb_segs : 0);
  held_.store(held, std::memory_order_relaxed);
  if (mine == after) {
    count_from(before, DropReason::FragTimeout, c);
  } else {
    // A fresh entry is never erroneous, so what went is one entry's. The
    // library keeps the first, the last and MAX_FRAG - 2 fragments between:
    // one more between drops those held and m, at least MAX_FRAG - 1 in
    // all. (An overlap found among that many fragments counts as too many.)
    const uint32_t dropped = after - before;
    if (dropped == 1) c.add(DropReason::FragTableFull);
    else if (between && dropped >= RTE_LIBRTE_IP_FRAG_MAX_FRAG - 1) c.add(DropReason::FragTooMany, dropped);
    else c.add(DropReason::FragOverlap, dropped);
  }
  if (!whole) return nullptr;
  c.add(IoCounter::Reassembled);
  return linearize(whole, c);
}

rte_mbuf* Reassembly::linearize(rte_mbuf* chain, WorkerCounters& c) {
  rte_mbuf* m = chain;
  if (chain->nb_segs > 1) {
    // In place if the first fragment's buffer holds it (a reassembled packet
    // that fits the MTU), else copied into a buffer of the whole pool.
    if (rte_pktmbuf_linearize(chain) != 0) {
      m = rte_pktmbuf_alloc(whole_);
      char* to = m ? rte_pktmbuf_append(m, uint16_t(chain->pkt_len)) : nullptr;
      if (!to) {
        if (m) rte_pktmbuf_free(m);
        rte_pktmbuf_free(chain);
        c.add(DropReason::FragNoBuffer);
        return nullptr;
      }
      for (const rte_mbuf* s = chain; s; s = s->next) {
        std::memcpy(to, rte_pktmbuf_mtod(s, const char*), s->data_len);
        to += s->data_len;
      }
      m->l2_len = chain->l2_len;
      m->l3_len = chain->l3_len;
      m->port = chain->port;
      rte_pktmbuf_free(chain);
    }
  }
  // The library leaves an IPv4 header's checksum zero (IPv6 has none; it
  // has removed the fragment header and set the payload length).
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, m->l2_len);
  if ((ip->version_ihl >> 4) == 4) {
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
  m->ol_flags = 0;
  return m;
}

void Reassembly::expire(uint64_t now_ms, WorkerCounters& c) {
  if (RTE_IP_FRAG_DEATH_ROW_MBUF_LEN - dr_->cnt < kDeathRowRoom) flush();
  const uint32_t before = dr_->cnt;
  rte_ip_frag_table_del_expired_entries(tbl_, dr_.get(), now_ms);
  count_from(before, DropReason::FragTimeout, c);
  held_.store(held_.load(std::memory_order_relaxed) - (dr_->cnt - before), std::memory_order_relaxed);
}

unsigned fragment(rte_mbuf* m, uint16_t l3, uint16_t mtu, rte_mempool* pool, rte_mbuf** out, unsigned max_out) {
  uint8_t eth[RTE_PKTMBUF_HEADROOM];
  if (l3 > sizeof eth) return 0;
  std::memcpy(eth, rte_pktmbuf_mtod(m, const uint8_t*), l3);
  rte_pktmbuf_adj(m, l3);  // the library wants the IPv4 header first
  const int32_t n = rte_ipv4_fragment_copy_nonseg_packet(m, out, uint16_t(max_out), mtu, pool);
  if (n <= 0) {
    rte_pktmbuf_prepend(m, l3);  // the bytes are still there
    return 0;
  }
  for (int32_t i = 0; i < n; ++i) {
    rte_mbuf* f = out[i];
    auto* ip = rte_pktmbuf_mtod(f, rte_ipv4_hdr*);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    char* hdr = rte_pktmbuf_prepend(f, l3);  // a direct mbuf has the pool's headroom
    std::memcpy(hdr, eth, l3);
    f->ol_flags = 0;
    f->l2_len = l3;
  }
  rte_pktmbuf_free(m);
  return unsigned(n);
}

unsigned fragment6(rte_mbuf* m, uint16_t l3, uint16_t size, uint32_t id, rte_mempool* pool, rte_mbuf** out,
                   unsigned max_out) {
  const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
  const size_t total = m->data_len;
  if (total < size_t(l3) + sizeof(rte_ipv6_hdr)) return 0;
  const uint8_t* ip = f + l3;
  // The unfragmentable part, and where the next header that becomes the
  // fragment header's is: byte 6 of the IPv6 header, or the first byte of
  // the last hop-by-hop or routing header.
  size_t unfrag = sizeof(rte_ipv6_hdr), nh_at = 6;
  uint8_t nh = ip[6];
  while (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING) {
    if (l3 + unfrag + 2 > total) return 0;
    const size_t len = (size_t(ip[unfrag + 1]) + 1) * 8;
    if (l3 + unfrag + len > total) return 0;
    nh_at = unfrag;
    nh = ip[unfrag];
    unfrag += len;
  }
  if (size < unfrag + sizeof(rte_ipv6_fragment_ext) + 8) return 0;
  const size_t payload = total - l3 - unfrag;
  const size_t chunk = (size - unfrag - sizeof(rte_ipv6_fragment_ext)) & ~size_t(7);
  const size_t n = (payload + chunk - 1) / chunk;
  if (n == 0 || n > max_out) return 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t off = k * chunk, len = std::min(chunk, payload - off);
    rte_mbuf* c = rte_pktmbuf_alloc(pool);
    auto* d = c ? reinterpret_cast<uint8_t*>(
                      rte_pktmbuf_append(c, uint16_t(l3 + unfrag + sizeof(rte_ipv6_fragment_ext) + len)))
                : nullptr;
    if (!d) {
      if (c) rte_pktmbuf_free(c);
      for (size_t j = 0; j < k; ++j) rte_pktmbuf_free(out[j]);
      return 0;
    }
    std::memcpy(d, f, l3 + unfrag);  // Ethernet, IPv6 and the unfragmentable headers
    uint8_t* cip = d + l3;
    cip[nh_at] = IPPROTO_FRAGMENT;
    auto* h = reinterpret_cast<rte_ipv6_hdr*>(cip);
    h->payload_len = rte_cpu_to_be_16(uint16_t(unfrag - sizeof(rte_ipv6_hdr) + sizeof(rte_ipv6_fragment_ext) + len));
    auto* fh = reinterpret_cast<rte_ipv6_fragment_ext*>(cip + unfrag);
    fh->next_header = nh;
    fh->reserved = 0;
    // The offset in 8-byte units sits above the three low bits, M in bit 0:
    // a multiple of 8 is its own encoding.
    fh->frag_data = rte_cpu_to_be_16(uint16_t(off | (k + 1 < n ? 1 : 0)));
    fh->id = rte_cpu_to_be_32(id);
    std::memcpy(cip + unfrag + sizeof(rte_ipv6_fragment_ext), ip + unfrag + off, len);
    c->l2_len = l3;
    c->ol_flags = 0;
    out[k] = c;
  }
  rte_pktmbuf_free(m);
  return unsigned(n);
}

}  // namespace hafw::dp
