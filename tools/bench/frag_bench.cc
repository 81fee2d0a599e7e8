// hafw-bench-frag: what IPv4 and IPv6 reassembly cost a worker per
// fragmented packet (dataplane/dpdk/frag.h), and cutting a reassembled IPv4
// packet again for the MTU. docs/benchmarks.md has the method and the results.
//
// Batches of packets, each in its fragments in RX-pool mbufs made before the
// clock starts; timed: Reassembly::add of every fragment (the table lookup,
// the chain, the packet made one buffer — IPv4: with its checksum; IPv6:
// without its fragment header) and the free of
// the whole packet the worker would transmit, or fragment() and the free of
// its pieces. Cycles are the TSC's.
//
//   hafw-bench-frag [--packets N]   (default 2,000,000 per case)
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dataplane/dpdk/frag.h"

namespace {

using Bytes = std::vector<uint8_t>;
constexpr unsigned kBatch = 256;

uint16_t sum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i += 2) s += uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

// Fragment [offset, offset + len) of a UDP datagram of `payload` IP payload
// bytes with IP id `id`, as an Ethernet frame.
Bytes fragment_frame(uint16_t id, size_t payload, size_t offset, size_t len) {
  Bytes f(14 + 20 + len, 0x61);
  f[12] = 0x08;
  f[13] = 0;
  uint8_t* ip = f.data() + 14;
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  ip[2] = uint8_t((20 + len) >> 8), ip[3] = uint8_t(20 + len);
  ip[4] = uint8_t(id >> 8), ip[5] = uint8_t(id);
  const uint16_t fo = uint16_t((offset + len < payload ? 0x2000 : 0) | offset / 8);
  ip[6] = uint8_t(fo >> 8), ip[7] = uint8_t(fo);
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t addrs[8] = {192, 168, 1, 50, 198, 51, 100, 10};
  std::memcpy(ip + 12, addrs, 8);
  const uint16_t c = sum(ip, 20);
  ip[10] = uint8_t(c >> 8), ip[11] = uint8_t(c);
  return f;
}

// The same for IPv6: the IPv6 header, a fragment header with
// identification `id`, then the fragment's bytes.
Bytes fragment_frame6(uint32_t id, size_t payload, size_t offset, size_t len) {
  Bytes f(14 + 48 + len, 0x61);
  f[12] = 0x86;
  f[13] = 0xdd;
  uint8_t* ip = f.data() + 14;
  std::memset(ip, 0, 48);
  ip[0] = 0x60;
  ip[4] = uint8_t((8 + len) >> 8), ip[5] = uint8_t(8 + len);
  ip[6] = 44;
  ip[7] = 64;
  const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50};
  const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  uint8_t* fh = ip + 40;
  fh[0] = 17;
  const uint16_t fd = uint16_t(offset | (offset + len < payload ? 1 : 0));
  fh[2] = uint8_t(fd >> 8), fh[3] = uint8_t(fd);
  fh[4] = uint8_t(id >> 24), fh[5] = uint8_t(id >> 16), fh[6] = uint8_t(id >> 8), fh[7] = uint8_t(id);
  return f;
}

rte_mbuf* mbuf(rte_mempool* pool, const Bytes& f) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (!m) return nullptr;
  std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
  m->l2_len = 14;
  m->l3_len = (f[14] >> 4) == 6 ? 48 : 20;  // IPv6: and its fragment header, as ipv6_input sets it
  return m;
}

struct Result {
  double cycles = 0;
  uint64_t packets = 0, failed = 0;
};

// Packets of `payload` IP payload bytes (IPv6: after the IPv6 header) in
// fragments of at most `piece`.
Result reassemble(hafw::dp::Reassembly& r, rte_mempool* pool, bool v6, size_t payload, size_t piece,
                  uint64_t packets, hafw::dp::WorkerCounters& c) {
  std::vector<std::vector<Bytes>> frames(kBatch);
  for (unsigned b = 0; b < kBatch; ++b)
    for (size_t at = 0; at < payload; at += piece) {
      const size_t len = std::min(piece, payload - at);
      frames[b].push_back(v6 ? fragment_frame6(b, payload, at, len) : fragment_frame(uint16_t(b), payload, at, len));
    }
  std::vector<rte_mbuf*> ms;
  Result res;
  uint64_t cycles = 0, now_ms = 0;
  while (res.packets < packets) {
    ms.clear();
    for (auto& pkt : frames)
      for (auto& f : pkt) ms.push_back(mbuf(pool, f));
    const uint64_t t0 = rte_rdtsc();
    for (rte_mbuf* m : ms) {
      if (rte_mbuf* w = r.add(m, now_ms, c)) rte_pktmbuf_free(w);
    }
    r.flush();
    cycles += rte_rdtsc() - t0;
    res.packets += kBatch;
    ++now_ms;
  }
  res.cycles = double(cycles) / double(res.packets);
  res.failed = c.read().drops[size_t(hafw::dp::DropReason::FragNoBuffer)];
  return res;
}

Result cut(rte_mempool* pool, rte_mempool* whole, size_t payload, uint16_t mtu, uint64_t packets) {
  Bytes f(14 + 20 + payload, 0x61);
  std::memcpy(f.data(), fragment_frame(1, payload, 0, payload).data(), 34);
  std::vector<rte_mbuf*> ms(kBatch);
  rte_mbuf* out[32];
  Result res;
  uint64_t cycles = 0;
  while (res.packets < packets) {
    for (auto& m : ms) m = mbuf(whole, f);
    const uint64_t t0 = rte_rdtsc();
    for (rte_mbuf* m : ms) {
      const unsigned n = hafw::dp::fragment(m, 14, mtu, pool, out, 32);
      if (n == 0) {
        ++res.failed;
        rte_pktmbuf_free(m);
      }
      rte_pktmbuf_free_bulk(out, n);
    }
    cycles += rte_rdtsc() - t0;
    res.packets += kBatch;
  }
  res.cycles = double(cycles) / double(res.packets);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t packets = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--packets" && i + 1 < argc) packets = std::stoull(argv[++i]);
    else {
      std::fprintf(stderr, "usage: hafw-bench-frag [--packets N]\n");
      return 2;
    }
  }
  std::vector<std::string> args = {"hafw-bench-frag", "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
                                    "--file-prefix=hafw-bench-frag-" + std::to_string(getpid()), "-l", "0",
                                    "--log-level=warning"};
  std::vector<char*> eargv;
  for (auto& a : args) eargv.push_back(a.data());
  if (rte_eal_init(int(eargv.size()), eargv.data()) < 0) {
    std::fprintf(stderr, "EAL: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  const std::string runtime = rte_eal_get_runtime_dir();
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_rx", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  rte_mempool* whole = rte_pktmbuf_pool_create(
      "bench_whole", 1023, 64, 0, uint16_t(RTE_PKTMBUF_HEADROOM + 8 * RTE_MBUF_DEFAULT_DATAROOM), SOCKET_ID_ANY);
  if (!pool || !whole) {
    std::fprintf(stderr, "pools: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  std::string error;
  auto r = hafw::dp::Reassembly::create({.max_packets = 1024, .timeout_ms = 30000}, whole, SOCKET_ID_ANY, error);
  if (!r) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  hafw::dp::WorkerCounters c2, c3, c2v6, c3v6;
  const double hz = double(rte_get_tsc_hz());
  // 1,200 bytes in two fragments (made whole in the first one's buffer),
  // 3,000 bytes in three (copied into a buffer of the whole pool); IPv6's
  // largest fragments at a 1,500 MTU carry 1,448 bytes.
  const Result two = reassemble(*r, pool, false, 1200, 600, packets, c2);
  const Result three = reassemble(*r, pool, false, 3000, 1480, packets, c3);
  const Result two6 = reassemble(*r, pool, true, 1200, 600, packets, c2v6);
  const Result three6 = reassemble(*r, pool, true, 3000, 1448, packets, c3v6);
  const Result again = cut(pool, whole, 3000, 1500, packets);
  auto ns = [&](double cyc) { return cyc * 1e9 / hz; };
  std::printf("{\"bench\": \"frag\", \"packets\": %lu, \"tsc_hz\": %.0f,\n", (unsigned long)packets, hz);
  std::printf(" \"reassemble_2x600\": {\"tsc_per_packet\": %.0f, \"ns_per_packet\": %.0f, \"no_buffer\": %lu},\n",
              two.cycles, ns(two.cycles), (unsigned long)two.failed);
  std::printf(" \"reassemble_3x1480\": {\"tsc_per_packet\": %.0f, \"ns_per_packet\": %.0f, \"no_buffer\": %lu},\n",
              three.cycles, ns(three.cycles), (unsigned long)three.failed);
  std::printf(" \"reassemble6_2x600\": {\"tsc_per_packet\": %.0f, \"ns_per_packet\": %.0f, \"no_buffer\": %lu},\n",
              two6.cycles, ns(two6.cycles), (unsigned long)two6.failed);
  std::printf(" \"reassemble6_3x1448\": {\"tsc_per_packet\": %.0f, \"ns_per_packet\": %.0f, \"no_buffer\": %lu},\n",
              three6.cycles, ns(three6.cycles), (unsigned long)three6.failed);
  std::printf(" \"fragment_3000_at_1500\": {\"tsc_per_packet\": %.0f, \"ns_per_packet\": %.0f, \"failed\": %lu}}\n",
              again.cycles, ns(again.cycles), (unsigned long)again.failed);
  std::printf("IPv4 reassembly: %.0f cycles (%.0f ns) per packet of 2 fragments, %.0f (%.0f ns) of 3; "
              "IPv6: %.0f (%.0f ns) of 2, %.0f (%.0f ns) of 3; cutting 3000 bytes for MTU 1500: %.0f cycles\n",
              two.cycles, ns(two.cycles), three.cycles, ns(three.cycles), two6.cycles, ns(two6.cycles), three6.cycles,
              ns(three6.cycles), again.cycles);
  r.reset();
  rte_mempool_free(pool);
  rte_mempool_free(whole);
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime, ignored);
  return 0;
}
