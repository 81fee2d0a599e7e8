// hafw-bench-dataplane: the firewall's dataplane on one worker core, every
// case in one process and one run, so that their ratios hold on a shared,
// noisy machine.
//
//   io_bare      rx_burst from the LAN port, tx_burst to the WAN port, nothing
//                else: net_null's mbuf allocation and free, the PMD floor.
//   io_ceiling   the same loop with the generator on the LAN port (below):
//                testpmd-style io forwarding, the ceiling every other case is
//                measured against. ceiling - bare = the generator's cost.
//   established  hafwd's real worker loop (DpdkIo::start_workers: rx_burst,
//                run_burst, TX buffers, tx_burst) forwarding established
//                flows with outbound NAT, at each --flows count.
//   established6 the same loop forwarding established IPv6 flows (routed
//                and filtered, no NAT66), beside established at each --flows
//                count: the two take turns, --rounds windows each (a fresh
//                rig and warm-up per window), and report their sums;
//                ratio_to_ipv4 is its rate over established's.
//   new          the same loop, every packet the first of a flow never seen:
//                the rules, NAT's port choice and a state insert per packet.
//   established_sync (--only ...,sync; not in the default set)
//                established with state sync's event rings on, drained by
//                the main lcore every millisecond as hafwd's control thread
//                drains them every step: the cost of the event hook.
//
// Ports: two net_null vdevs, made and removed per case with rte_vdev_init. The
// WAN port (no-rx=1) frees what it transmits. The LAN port's RX is an
// in-process generator: net_null hands out freshly allocated mbufs, and an
// RX callback on that port and queue writes each one a 64-byte UDP frame of
// the next flow of the flow set (tools/bench/lab_flows.h; for established6
// its IPv6 twin), checksums included, on the worker's core inside rx_burst,
// as a NIC's DMA writes a new packet. Every rx_burst returns a full burst, so
// the worker never idles: TSC cycles of the wall clock over the window,
// divided by the packets, are the worker core's cycles per packet. A TX
// callback on the WAN port checks the forwarded frames (source the WAN VIP
// or the LAN host, checksums, TTL or hop limit, MACs) during the warm-up and
// for a moment after each window, never during one.
//
// Prints one JSON object per measurement and a one-line summary; exits
// non-zero if a case fails its checks (any drop, a state count that is not
// the flow count, a bad frame, an idle poll, a packet generated and not
// forwarded). Method: docs/benchmarks.md.
//
//   hafw-bench-dataplane [--seconds S] [--flows 1000,1000000] [--rounds 3]
//                        [--only ceiling,established,established6,new,sync] [--new-capacity N]
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/dpdk/dpdk.h"
#include "dataplane/net/net.h"
#include "dataplane/packet.h"
#include "dataplane/state_table.h"
#include "dataplane/view.h"
#include "tools/bench/lab_flows.h"

using namespace hafw;

namespace {

constexpr uint16_t kBurst = dp::kBurstMax;  // what the worker asks rx_burst for
constexpr const char* kWanDev = "net_null_wan";
constexpr const char* kLanDev = "net_null_lan";
constexpr uint64_t kNatSeed = 0x6861667762656e63;  // fixed: the same ports every run

using Clock = std::chrono::steady_clock;

// One writer (the worker core), read by the main lcore: a plain load and
// store, like the worker's own counters.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }

// s += sep + item, sep only between items.
void join(std::string& s, const char* sep, const std::string& item) {
  if (!s.empty()) s += sep;
  s += item;
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }
double tsc_hz() { return double(rte_get_tsc_hz()); }

// ---------------------------------------------------------------- generator

// The LAN port's "NIC": flows 0, 1, ... wrap-1, then 0 again. The hot fields
// sit on a line of their own, written only by the core that polls the port.
struct Generator {
  bench::FrameWriter writer;
  bench::FrameWriter6 writer6{net::Mac{}};  // established6: remade with the LAN port's MAC
  uint64_t wrap = 1;  // set before the port is polled
  alignas(64) std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> emitted{0};
  std::atomic<uint64_t> polls{0};
  std::atomic<uint64_t> empty{0};       // polls net_null returned nothing for
  std::atomic<uint64_t> short_polls{0};  // polls that returned less than a full burst (empty ones too)
};

template <bool V6>
uint16_t generate(uint16_t, uint16_t, rte_mbuf* pkts[], uint16_t n, uint16_t max, void* arg) {
  Generator& g = *static_cast<Generator*>(arg);
  uint64_t f = g.next.load(std::memory_order_relaxed);
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if constexpr (V6) {
      g.writer6.write(rte_pktmbuf_mtod(m, uint8_t*), f);
      m->data_len = m->pkt_len = bench::kFrameLen6;
    } else {
      g.writer.write(rte_pktmbuf_mtod(m, uint8_t*), f);
      m->data_len = m->pkt_len = bench::kFrameLen;
    }
    if (++f == g.wrap) f = 0;
  }
  g.next.store(f, std::memory_order_relaxed);
  bump(g.emitted, n);
  bump(g.polls);
  if (n < max) {
    bump(g.short_polls);
    if (n == 0) bump(g.empty);
  }
  return n;
}

// ---------------------------------------------------------------- TX check

enum : uint32_t {
  kBadLength = 1,
  kBadMac = 2,
  kBadSource = 4,  // not the WAN VIP
  kBadTtl = 8,
  kBadIpCsum = 16,
  kBadUdpCsum = 32,
  kBadNatPort = 64,
  kBadSource6 = 128,  // IPv6: not a LAN host of the flow set (there is no NAT66)
  kBadDest6 = 256,    // IPv6: not a server of the flow set
};

struct Checker {
  uint32_t vip = 0;  // network order
  net::Mac gateway{}, wan{};
  alignas(64) std::atomic<uint64_t> checked{0};
  std::atomic<uint64_t> bad{0};
  std::atomic<uint32_t> why{0};  // the kBad* bits seen
};

uint32_t sum16(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint16_t w;
    std::memcpy(&w, p + i, 2);
    s += w;
  }
  if (n & 1) s += p[n - 1];  // little-endian host: the odd byte is the high byte of a network word
  return s;
}
uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}

uint32_t check_frame(const Checker& c, const rte_mbuf* m) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->data_len < bench::kFrameLen || m->pkt_len != m->data_len) return kBadLength;
  uint32_t why = 0;
  net::EthHdr eth;
  net::Ipv4Hdr ip;
  std::memcpy(&eth, p, sizeof eth);
  std::memcpy(&ip, p + 14, sizeof ip);
  if (!(eth.dst == c.gateway) || !(eth.src == c.wan) || eth.type != net::be16(net::kEtherTypeIpv4)) why |= kBadMac;
  if (ip.src != c.vip) why |= kBadSource;
  if (ip.ttl != 63) why |= kBadTtl;
  if (m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM) {
    if (ip.csum != 0) why |= kBadIpCsum;  // the port sums it: the field must be 0
  } else if (net::ipv4_header_checksum(p + 14, 20) != 0) {
    why |= kBadIpCsum;
  }
  const uint8_t* udp = p + 34;
  const uint16_t ulen = uint16_t(udp[4] << 8 | udp[5]);
  if (ip.proto != net::kProtoUdp || ulen < 8 || 34u + ulen > m->data_len) return why | kBadUdpCsum;
  uint16_t csum;
  std::memcpy(&csum, udp + 6, 2);
  const uint32_t pseudo = sum16(p + 26, 8) + net::be16(net::kProtoUdp) + net::be16(ulen);
  if (csum == 0 || fold(pseudo + sum16(udp, ulen)) != 0xffff) why |= kBadUdpCsum;
  if (uint16_t(udp[0] << 8 | udp[1]) < 1024) why |= kBadNatPort;
  return why;
}

// An IPv6 frame of the flow set as routed out of the WAN port: addresses
// and ports as generated, the hop limit one less, the UDP checksum (which
// forwarding leaves alone) still right.
uint32_t check_frame6(const Checker& c, const rte_mbuf* m) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->data_len != bench::kFrameLen6 || m->pkt_len != m->data_len) return kBadLength;
  uint32_t why = 0;
  net::EthHdr eth;
  std::memcpy(&eth, p, sizeof eth);
  if (!(eth.dst == c.gateway) || !(eth.src == c.wan) || eth.type != net::be16(net::kEtherTypeIpv6)) why |= kBadMac;
  const uint8_t* ip = p + 14;
  static const net::Addr6 lan = net::IpAddr::parse("2001:db8:1::")->b, far = net::IpAddr::parse("2001:db8:ff::")->b;
  if (ip[0] >> 4 != 6 || ip[6] != net::kProtoUdp || ip[4] != 0 || ip[5] != 8) return why | kBadLength;
  if (std::memcmp(ip + 8, lan.data(), 14) != 0) why |= kBadSource6;
  if (std::memcmp(ip + 24, far.data(), 14) != 0) why |= kBadDest6;
  if (ip[7] != 63) why |= kBadTtl;
  const uint8_t* udp = ip + 40;
  uint16_t csum;
  std::memcpy(&csum, udp + 6, 2);
  const uint32_t pseudo = sum16(ip + 8, 32) + net::be16(net::kProtoUdp) + net::be16(8);
  if (csum == 0 || fold(pseudo + sum16(udp, 8)) != 0xffff) why |= kBadUdpCsum;
  return why;
}

template <bool V6>
uint16_t check_tx(uint16_t, uint16_t, rte_mbuf* pkts[], uint16_t n, void* arg) {
  Checker& c = *static_cast<Checker*>(arg);
  for (uint16_t i = 0; i < n; ++i) {
    const uint32_t why = V6 ? check_frame6(c, pkts[i]) : check_frame(c, pkts[i]);
    if (why) {
      bump(c.bad);
      c.why.store(c.why.load(std::memory_order_relaxed) | why, std::memory_order_relaxed);
    }
  }
  bump(c.checked, n);
  return n;
}

std::string why_text(uint32_t why) {
  static const std::pair<uint32_t, const char*> names[] = {
      {kBadLength, "length"}, {kBadMac, "mac"}, {kBadSource, "source_not_vip"}, {kBadTtl, "ttl"},
      {kBadIpCsum, "ip_checksum"}, {kBadUdpCsum, "udp_checksum"}, {kBadNatPort, "nat_port"},
      {kBadSource6, "source_not_lan_host"}, {kBadDest6, "destination_not_server"}};
  std::string s;
  for (auto [bit, name] : names)
    if (why & bit) join(s, ",", name);
  return s;
}

// ---------------------------------------------------------------- JSON

class Json {
 public:
  Json& num(const char* k, double v, int prec = 2) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return raw(k, b);
  }
  Json& num(const char* k, uint64_t v) { return raw(k, std::to_string(v)); }
  Json& str(const char* k, const std::string& v) { return raw(k, "\"" + v + "\""); }
  Json& boolean(const char* k, bool v) { return raw(k, v ? "true" : "false"); }
  Json& raw(const char* k, const std::string& v) {
    s_ += s_.empty() ? "{\"" : ", \"";
    s_ += k;
    s_ += "\": ";
    s_ += v;
    return *this;
  }
  void print() const { std::printf("%s}\n", s_.c_str()); }

 private:
  std::string s_;
};

// {"reason": n, ...} for the non-zero drop reasons, and their total.
std::string drops_json(const dp::Counters& c, uint64_t& total) {
  std::string s;
  total = 0;
  for (size_t r = 0; r < c.drops.size(); ++r) {
    if (c.drops[r] == 0) continue;
    total += c.drops[r];
    std::string item = "\"";
    item += dp::name(dp::DropReason(r));
    item += "\": ";
    item += std::to_string(c.drops[r]);
    join(s, ", ", item);
  }
  s.insert(0, 1, '{');
  s += '}';
  return s;
}

std::string failures_json(const std::vector<std::string>& f) {
  std::string s;
  for (const auto& x : f) {
    if (!s.empty()) s += ", ";
    s += '"';
    s += x;
    s += '"';
  }
  s.insert(0, 1, '[');
  s += ']';
  return s;
}

std::string flows_label(uint64_t n) {
  if (n >= 1000000 && n % 1000000 == 0) return std::to_string(n / 1000000) + "M";
  if (n >= 1000 && n % 1000 == 0) return std::to_string(n / 1000) + "K";
  return std::to_string(n);
}

uint64_t created_of(const dp::Counters& c) { return c.states[size_t(dp::StateCounter::Created)]; }

// ---------------------------------------------------------------- rig

// One case's ports, state table and DpdkIo, set up the way hafwd sets them up
// (its own DpdkIo::create), with the lab's snapshots published.
class Rig {
 public:
  ~Rig() {
    if (io_) io_->stop_workers();
    for (const auto& c : cbs_) {
      if (c.linked)
        c.rx ? rte_eth_remove_rx_callback(c.port, 0, c.cb) : rte_eth_remove_tx_callback(c.port, 0, c.cb);
      rte_free(const_cast<rte_eth_rxtx_callback*>(c.cb));  // nothing polls the port any more
    }
    io_.reset();
    rte_vdev_uninit(kLanDev);
    rte_vdev_uninit(kWanDev);
  }

  static std::unique_ptr<Rig> create(uint32_t capacity, std::string& error, bool state_events = false) {
    auto r = std::unique_ptr<Rig>(new Rig());
    rte_vdev_uninit(kLanDev);  // left over from a case that failed half-way
    rte_vdev_uninit(kWanDev);
    if (rte_vdev_init(kWanDev, "size=60,no-rx=1") != 0 || rte_vdev_init(kLanDev, "size=60") != 0) {
      error = "cannot create the net_null vdevs (is the net_null PMD installed?)";
      return nullptr;
    }
    if (rte_eth_dev_get_port_by_name(kWanDev, &r->wan) != 0 || rte_eth_dev_get_port_by_name(kLanDev, &r->lan) != 0) {
      error = "no ports for the net_null vdevs";
      return nullptr;
    }
    r->states_ = std::make_unique<dp::StateTable>(capacity);
    dp::DpdkSetup setup;
    setup.eal_initialized = true;
    setup.workers = 1;
    setup.ports = {{.device = kWanDev, .key = "wan"}, {.device = kLanDev, .key = "lan"}};
    setup.states = r->states_.get();
    setup.nat_seed = kNatSeed;
    setup.state_events = state_events;
    r->io_ = dp::DpdkIo::create(setup, error);
    if (!r->io_) return nullptr;
    dp::Snapshots& s = r->io_->snapshots();
    auto topo = std::make_unique<dp::Topology>(bench::lab_topology(r->io_->mac(0), r->io_->mac(1)));
    auto owned = std::make_unique<dp::VipSet>(topo->configured_vips);  // MASTER for both VIPs
    s.publish(std::unique_ptr<const dp::Topology>(std::move(topo)));
    s.publish(std::unique_ptr<const dp::VipSet>(std::move(owned)));
    s.publish(std::make_unique<const dp::NeighborTable>(bench::lab_neighbors()));
    s.publish(std::unique_ptr<const dp::Policy>(bench::lab_policy(*r->states_)));
    return r;
  }

  dp::DpdkIo& io() { return *io_; }
  dp::StateTable& states() { return *states_; }

  bool add_generator(Generator& g, bool v6 = false) {
    const auto* cb = rte_eth_add_rx_callback(lan, 0, v6 ? generate<true> : generate<false>, &g);
    if (cb) cbs_.push_back({true, lan, cb, true});
    return cb != nullptr;
  }
  // Returns a handle for remove(). The generator and the checkers must
  // outlive the rig (or at least every poll of its ports).
  std::optional<size_t> add_checker(Checker& c, bool v6 = false) {
    c.vip = net::be32(bench::kWanVip.v4());
    c.gateway = bench::kGatewayMac;
    c.wan = io_->mac(bench::kWan);
    const auto* cb = rte_eth_add_tx_callback(wan, 0, v6 ? check_tx<true> : check_tx<false>, &c);
    if (!cb) return std::nullopt;
    cbs_.push_back({false, wan, cb, true});
    return cbs_.size() - 1;
  }
  // Unlinks a callback; its memory goes when the rig does (a poll may be in it).
  void remove(std::optional<size_t> h) {
    if (!h) return;
    Cb& c = cbs_[*h];
    if (!c.linked) return;
    c.rx ? rte_eth_remove_rx_callback(c.port, 0, c.cb) : rte_eth_remove_tx_callback(c.port, 0, c.cb);
    c.linked = false;
  }
  void remove_generator() {
    for (size_t i = 0; i < cbs_.size(); ++i)
      if (cbs_[i].rx) remove(i);
  }

  uint16_t wan = 0, lan = 0;

 private:
  Rig() = default;
  struct Cb {
    bool rx;
    uint16_t port;
    const rte_eth_rxtx_callback* cb;
    bool linked;
  };
  std::unique_ptr<dp::StateTable> states_;  // outlives the ports (declared first, destroyed last)
  std::unique_ptr<dp::DpdkIo> io_;
  std::vector<Cb> cbs_;
};

unsigned worker_lcore() { return rte_get_next_lcore(-1, 1, 0); }

// Nanoseconds the worker lcore's thread has run on a CPU (the first field of
// its /proc schedstat), or nothing where the kernel does not say. On a shared
// machine the window's wall clock also holds the time the thread waited for
// its CPU; this does not.
std::optional<uint64_t> worker_cpu_ns() {
  static const std::string path = [] {
    const std::string name = "rte-worker-" + std::to_string(worker_lcore());
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
      char comm[64] = {};
      if (FILE* f = std::fopen((t.path() / "comm").c_str(), "r")) {
        if (!std::fgets(comm, sizeof comm, f)) comm[0] = 0;
        std::fclose(f);
      }
      if (std::string(comm).substr(0, name.size() + 1) == name + "\n") return (t.path() / "schedstat").string();
    }
    return std::string();
  }();
  if (path.empty()) return std::nullopt;
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return std::nullopt;
  unsigned long long ns = 0;
  const bool ok = std::fscanf(f, "%llu", &ns) == 1;
  std::fclose(f);
  return ok ? std::optional<uint64_t>(ns) : std::nullopt;
}

// ---------------------------------------------------------------- cases

struct Options {
  double seconds = 3;
  unsigned rounds = 3;  // established and established6 take turns this many times
  std::vector<uint64_t> flows = {1000, 1000000};
  bool ceiling = true, established = true, established6 = true, fresh = true, sync = false;
  uint32_t new_capacity = 1u << 22;
};

// What the later cases compare with, and the summary line's parts.
struct Summary {
  std::optional<double> ceiling_mpps, ceiling_tsc;
  std::map<uint64_t, double> established_tsc;   // by flow count, without sync events
  std::map<uint64_t, double> established_mpps;  // by flow count, IPv4 without sync events
  std::map<uint64_t, double> established_on_cpu_mpps;  // the same per second on a CPU
  std::vector<std::string> parts;
  std::optional<double> bytes_per_state;
};

// The control thread's part of state sync: drain the workers' event rings,
// as hafwd's loop does at every step (it naps at most 1 ms).
struct EventDrain {
  uint64_t events = 0, inserts = 0, updates = 0, deletes = 0;
  void poll(dp::DpdkIo& io) {
    dp::StateEvent buf[256];
    for (size_t n; (n = io.poll_events(buf)) > 0;) {
      events += n;
      for (size_t i = 0; i < n; ++i) {
        if (buf[i].kind == dp::StateEventKind::Insert) ++inserts;
        else if (buf[i].kind == dp::StateEventKind::Update) ++updates;
        else ++deletes;
      }
    }
  }
};

// Sleep for `seconds`, or, with a drain, spend them draining every millisecond.
void wait_s(dp::DpdkIo& io, double seconds, EventDrain* drain) {
  if (!drain) return sleep_s(seconds);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    sleep_s(0.001);
    drain->poll(io);
  }
}

// The ceiling: testpmd's io forwarding, on the worker lcore.
struct IoLoop {
  uint16_t rx_port = 0, tx_port = 0;
  std::atomic<bool> run{false};
  alignas(64) std::atomic<uint64_t> forwarded{0};
  std::atomic<uint64_t> polls{0};
  std::atomic<uint64_t> empty{0};
  std::atomic<uint64_t> short_polls{0};
};

int io_main(void* arg) {
  IoLoop& l = *static_cast<IoLoop*>(arg);
  rte_mbuf* pkts[kBurst];
  while (l.run.load(std::memory_order_relaxed)) {
    const uint16_t n = rte_eth_rx_burst(l.rx_port, 0, pkts, kBurst);
    bump(l.polls);
    if (n < kBurst) {
      bump(l.short_polls);
      if (n == 0) {
        bump(l.empty);
        continue;
      }
    }
    const uint16_t sent = rte_eth_tx_burst(l.tx_port, 0, pkts, n);
    if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    bump(l.forwarded, sent);
  }
  return 0;
}

struct IoResult {
  uint64_t packets = 0, cycles = 0, polls = 0, empty = 0, short_polls = 0;
  double secs() const { return double(cycles) / tsc_hz(); }
  double mpps() const { return cycles ? double(packets) / secs() / 1e6 : 0.0; }
  double tsc() const { return packets ? double(cycles) / double(packets) : 0.0; }
  IoResult& operator+=(const IoResult& o) {
    packets += o.packets;
    cycles += o.cycles;
    polls += o.polls;
    empty += o.empty;
    short_polls += o.short_polls;
    return *this;
  }
};

// The io loop on the worker lcore for `seconds`, after 0.1 s of warm-up.
IoResult run_io(Rig& rig, double seconds) {
  IoLoop l;
  l.rx_port = rig.lan;
  l.tx_port = rig.wan;
  l.run = true;
  rte_eal_remote_launch(io_main, &l, worker_lcore());
  sleep_s(0.1);
  const uint64_t f0 = get(l.forwarded), p0 = get(l.polls), e0 = get(l.empty), s0 = get(l.short_polls);
  const uint64_t t0 = rte_get_tsc_cycles();
  sleep_s(seconds);
  const uint64_t f1 = get(l.forwarded), p1 = get(l.polls), e1 = get(l.empty), s1 = get(l.short_polls);
  const uint64_t t1 = rte_get_tsc_cycles();
  l.run = false;
  rte_eal_wait_lcore(worker_lcore());
  return IoResult{.packets = f1 - f0, .cycles = t1 - t0, .polls = p1 - p0, .empty = e1 - e0, .short_polls = s1 - s0};
}

void print_io(const char* name, const IoResult& r, uint64_t flows, const char* includes,
              std::optional<double> generator_tsc, bool ok) {
  Json j;
  j.str("bench", "dataplane").str("case", name).num("flows", flows).str("ports", "net_null");
  j.num("workers", uint64_t(1));
  j.num("seconds", r.secs()).num("packets", r.packets).num("mpps", r.mpps()).num("tsc_per_packet", r.tsc(), 1);
  if (generator_tsc) j.num("generator_tsc_per_packet", *generator_tsc, 1);
  j.num("tsc_ghz", tsc_hz() / 1e9).num("rx_polls", r.polls);
  j.num("rx_empty_pct", r.polls ? 100.0 * double(r.empty) / double(r.polls) : 0.0, 3);
  j.num("rx_short_pct", r.polls ? 100.0 * double(r.short_polls) / double(r.polls) : 0.0, 3);
  j.str("includes", includes).boolean("ok", ok).print();
}

// The two io loops take turns, a third of the time each turn, and each
// reports its sums: noise from the machine's other work then falls on both
// alike, and their difference — the generator's cost — stays meaningful.
constexpr int kIoRounds = 3;

bool case_ceiling(const Options& o, Summary& sum) {
  Generator gen;  // outlives the rig, whose port calls it
  gen.wrap = *std::max_element(o.flows.begin(), o.flows.end());
  std::string error;
  auto rig = Rig::create(1, error);
  if (!rig) {
    std::fprintf(stderr, "hafw-bench-dataplane: ceiling: %s\n", error.c_str());
    sum.parts.push_back("io ceiling FAILED (setup)");
    return false;
  }
  IoResult bare, gen_io;
  for (int round = 0; round < kIoRounds; ++round) {
    bare += run_io(*rig, o.seconds / kIoRounds);
    if (!rig->add_generator(gen)) {
      std::fprintf(stderr, "hafw-bench-dataplane: cannot add the RX callback: %s\n", rte_strerror(rte_errno));
      sum.parts.push_back("io ceiling FAILED (setup)");
      return false;
    }
    gen_io += run_io(*rig, o.seconds / kIoRounds);
    rig->remove_generator();
  }
  const bool bare_ok = bare.packets > 0 && bare.short_polls == 0;
  print_io("io_bare", bare, 0,
           "net_null rx_burst (mbuf allocation) and tx_burst (mbuf free) on the worker lcore, no generator: the "
           "PMD and mbuf floor",
           std::nullopt, bare_ok);
  const double gen_tsc = gen_io.tsc() - bare.tsc();
  const bool ok = bare_ok && gen_io.packets > 0 && gen_io.short_polls == 0;
  print_io("io_ceiling", gen_io, gen.wrap,
           "io_bare plus the generator's RX callback writing every frame (checksums computed from the flow "
           "number): testpmd io forwarding, what every other case also pays",
           gen_tsc, ok);
  sum.ceiling_mpps = gen_io.mpps();
  sum.ceiling_tsc = gen_io.tsc();
  char b[128];
  std::snprintf(b, sizeof b, "io ceiling %.1f Mpps (%.0f cyc, generator %.0f)%s", gen_io.mpps(), gen_io.tsc(),
                gen_tsc, ok ? "" : " FAILED");
  sum.parts.push_back(b);
  return ok;
}

// One rig's worth of an established case: its warm-up and one window.
// Rounds of the same case add up (operator+=); the per-rig checks are made
// in each round, and the table's figures are the last round's.
struct EstRound {
  uint64_t packets = 0, cycles = 0, polls = 0, empty = 0, short_polls = 0;
  uint64_t checked = 0, bad = 0, generated = 0, warm_packets = 0;
  uint32_t why = 0;
  double warm_secs = 0;
  dp::Counters cf{};  // each rig's counters at its end
  uint64_t created = 0, in_use = 0, capacity = 0, table_bytes = 0;
  uint64_t sync_events = 0, sync_updates = 0, sync_inserts = 0;
  std::optional<uint64_t> cpu_ns = 0;  // the worker thread's time on a CPU in the windows; nothing if unknown
  std::vector<std::string> fail;

  EstRound& operator+=(const EstRound& o) {
    packets += o.packets, cycles += o.cycles, polls += o.polls, empty += o.empty, short_polls += o.short_polls;
    checked += o.checked, bad += o.bad, generated += o.generated, warm_packets += o.warm_packets;
    why |= o.why;
    warm_secs += o.warm_secs;
    cf += o.cf;
    created = o.created, in_use = o.in_use, capacity = o.capacity, table_bytes = o.table_bytes;
    sync_events += o.sync_events, sync_updates += o.sync_updates, sync_inserts += o.sync_inserts;
    cpu_ns = cpu_ns && o.cpu_ns ? std::optional<uint64_t>(*cpu_ns + *o.cpu_ns) : std::nullopt;
    for (const auto& f : o.fail)
      if (std::find(fail.begin(), fail.end(), f) == fail.end()) fail.push_back(f);
    return *this;
  }
};

const char* established_name(bool events, bool v6) {
  return v6 ? "established6" : events ? "established_sync" : "established";
}

// Established flows with outbound NAT through hafwd's worker loop, a window
// of `seconds` after the warm-up, in a rig of its own; with `events`, state
// sync's event rings on and drained; with `v6`, the IPv6 flow set instead
// (the lab's rule for the LAN's /64, routed out of the WAN to the IPv6
// default gateway, no NAT).
EstRound run_established(uint64_t flows, double seconds, bool events, bool v6) {
  EstRound r;
  uint32_t capacity = 1024;  // every flow at half the table's capacity
  while (capacity < 2 * flows) capacity *= 2;
  Generator gen;  // these outlive the rig, whose ports call them
  gen.wrap = flows;
  Checker first, later;
  EventDrain drain;
  EventDrain* const drains = events ? &drain : nullptr;
  std::string error;
  auto rig = Rig::create(capacity, error, events);
  if (!rig) {
    std::fprintf(stderr, "hafw-bench-dataplane: %s: %s\n", established_name(events, v6), error.c_str());
    r.fail.push_back("setup");
    return r;
  }
  std::vector<std::string>& fail = r.fail;
  if (v6) gen.writer6 = bench::FrameWriter6(rig->io().mac(bench::kLan));  // before the port is polled
  if (!rig->add_generator(gen, v6)) fail.push_back("rx callback");
  const auto first_cb = rig->add_checker(first, v6);
  if (!first_cb) fail.push_back("tx callback");

  // Warm-up: every flow's first packet creates its state (the rule, outbound
  // NAT, the insert), every frame checked as it leaves; then a second pass,
  // and at least 0.2 s, so the window sees established flows only.
  dp::DpdkIo& io = rig->io();
  io.start_workers();
  const auto w0 = Clock::now();
  bool warmed = false;
  while (Clock::now() - w0 < std::chrono::seconds(120)) {
    sleep_s(0.001);
    if (drains) drains->poll(io);
    if (get(gen.emitted) >= 2 * flows + kBurst && Clock::now() - w0 >= std::chrono::milliseconds(200)) {
      warmed = true;
      break;
    }
  }
  rig->remove(first_cb);
  r.warm_secs = std::chrono::duration<double>(Clock::now() - w0).count();
  if (!warmed) fail.push_back("warm-up did not finish in 120 s");

  const dp::Counters c0 = io.counters();
  const EventDrain d0 = drain;
  const std::optional<uint64_t> cpu0 = worker_cpu_ns();
  const uint64_t p0 = get(gen.polls), e0 = get(gen.empty), s0 = get(gen.short_polls), t0 = rte_get_tsc_cycles();
  wait_s(io, seconds, drains);
  const dp::Counters c1 = io.counters();
  const uint64_t p1 = get(gen.polls), e1 = get(gen.empty), s1 = get(gen.short_polls), t1 = rte_get_tsc_cycles();
  const std::optional<uint64_t> cpu1 = worker_cpu_ns();
  const EventDrain d1 = drain;
  r.cpu_ns = cpu0 && cpu1 ? std::optional<uint64_t>(*cpu1 - *cpu0) : std::nullopt;

  // A sample of established frames as they leave.
  const auto later_cb = rig->add_checker(later, v6);
  sleep_s(0.05);
  rig->remove(later_cb);
  io.stop_workers();
  const dp::Counters& cf = r.cf = io.counters();
  r.generated = get(gen.emitted);  // the workers have stopped: every frame is accounted for

  r.packets = c1[dp::IoCounter::Tx] - c0[dp::IoCounter::Tx];
  r.cycles = t1 - t0;
  r.polls = p1 - p0, r.empty = e1 - e0, r.short_polls = s1 - s0;
  r.warm_packets = c0[dp::IoCounter::Rx];
  r.created = created_of(cf);
  r.checked = get(first.checked) + get(later.checked), r.bad = get(first.bad) + get(later.bad);
  r.why = first.why.load() | later.why.load();
  uint64_t drops = 0;
  const std::string by_reason = drops_json(cf, drops);

  if (drops) {  // loudly: no drop is expected, and the reasons say where the path broke
    fail.push_back("drops");
    std::fprintf(stderr, "hafw-bench-dataplane: %s %s: %lu packets dropped: %s\n", established_name(events, v6),
                 flows_label(flows).c_str(), (unsigned long)drops, by_reason.c_str());
  }
  if (r.created != flows) fail.push_back("states_created " + std::to_string(r.created) + " != flows");
  if (created_of(c1) != created_of(c0)) fail.push_back("states created during the window");
  const uint64_t nat = cf.nat[size_t(dp::NatCounter::Outbound)], nat_expected = v6 ? 0 : flows;  // no NAT66
  if (nat != nat_expected) fail.push_back("nat outbound " + std::to_string(nat) + " != " + std::to_string(nat_expected));
  if (cf[dp::IoCounter::Rx] != r.generated || cf[dp::IoCounter::Tx] != r.generated)
    fail.push_back("forwarded " + std::to_string(cf[dp::IoCounter::Tx]) + " of " + std::to_string(r.generated) +
                   " generated (worker_rx " + std::to_string(cf[dp::IoCounter::Rx]) + ")");
  if (cf[dp::IoCounter::TxFull] || cf[dp::IoCounter::ToControl]) fail.push_back("tx_full or to_control");
  if (get(later.checked) == 0 || get(first.checked) == 0) fail.push_back("no frame checked");
  if (r.bad) fail.push_back("bad frames: " + why_text(r.why));
  if (r.short_polls) fail.push_back("the worker's RX came back short of a full burst");
  if (r.packets == 0) fail.push_back("nothing forwarded");
  if (events) {
    drain.poll(io);  // what the workers pushed before they stopped
    if (drain.inserts != flows) fail.push_back("sync inserts " + std::to_string(drain.inserts) + " != flows");
    if (cf.states[size_t(dp::StateCounter::SyncEventDropped)]) fail.push_back("sync events dropped");
    if (d1.updates == d0.updates) fail.push_back("no sync update in the window");
    r.sync_events = d1.events - d0.events, r.sync_updates = d1.updates - d0.updates;
    r.sync_inserts = drain.inserts;
  }
  const dp::StateTable& st = rig->states();
  r.in_use = st.in_use(), r.capacity = st.capacity(), r.table_bytes = st.memory_bytes();
  return r;
}

// Prints an established case's JSON (its rounds summed) and appends
// "1K 20.3 Mpps (128 cyc)" or "1K FAILED (why)" to `parts`.
bool report_established(uint64_t flows, const EstRound& r, unsigned rounds, Summary& sum,
                        std::vector<std::string>& parts, bool events, bool v6) {
  const std::string label = flows_label(flows);
  const uint64_t packets = r.packets;
  const double secs = double(r.cycles) / tsc_hz();
  const double mpps = r.cycles ? double(packets) / secs / 1e6 : 0.0;
  const double tsc = packets ? double(r.cycles) / double(packets) : 0;
  uint64_t drops = 0;
  const dp::Counters& cf = r.cf;
  const std::string by_reason = drops_json(cf, drops);
  const bool ok = r.fail.empty();
  const double bps = r.capacity ? double(r.table_bytes) / double(r.capacity) : 0.0;

  Json j;
  j.str("bench", "dataplane").str("case", established_name(events, v6)).num("flows", flows);
  j.num("family", uint64_t(v6 ? 6 : 4)).str("proto", "udp");
  j.str("nat", v6 ? "none (no NAT66): routed to the IPv6 default gateway" : "outbound to the WAN VIP");
  j.str("ports", "net_null").num("workers", uint64_t(1)).num("rounds", uint64_t(rounds));
  j.num("seconds", secs).num("packets", packets).num("mpps", mpps).num("tsc_per_packet", tsc, 1);
  if (sum.ceiling_mpps && packets) {  // the ceiling was measured in this run
    j.num("vs_io_ceiling", mpps / *sum.ceiling_mpps, 3);
    j.num("over_io_ceiling_tsc_per_packet", tsc - *sum.ceiling_tsc, 1);
  }
  const auto plain = sum.established_tsc.find(flows);
  if ((events || v6) && plain != sum.established_tsc.end() && packets)  // IPv4 established, this run
    j.num("over_established_tsc_per_packet", tsc - plain->second, 1);
  const auto v4 = sum.established_mpps.find(flows);
  std::optional<double> ratio;
  if (v6 && v4 != sum.established_mpps.end() && packets) ratio = mpps / v4->second;
  if (ratio) j.num("ratio_to_ipv4", *ratio, 3);
  // The same per second of the worker's time on a CPU, for a shared machine.
  std::optional<double> on_cpu_mpps, ratio_cpu;
  if (r.cpu_ns && *r.cpu_ns && packets) {
    on_cpu_mpps = double(packets) / (double(*r.cpu_ns) / 1e9) / 1e6;
    j.num("worker_on_cpu_pct", 100.0 * double(*r.cpu_ns) / 1e9 / secs, 1);
    j.num("mpps_on_cpu", *on_cpu_mpps);
    j.num("tsc_per_packet_on_cpu", double(*r.cpu_ns) / 1e9 * tsc_hz() / double(packets), 1);
    const auto v4c = sum.established_on_cpu_mpps.find(flows);
    if (v6 && v4c != sum.established_on_cpu_mpps.end()) ratio_cpu = *on_cpu_mpps / v4c->second;
    if (ratio_cpu) j.num("ratio_to_ipv4_on_cpu", *ratio_cpu, 3);
  }
  if (events) {
    j.num("sync_events", r.sync_events).num("sync_updates", r.sync_updates);
    j.num("sync_events_per_second", secs > 0 ? double(r.sync_events) / secs : 0.0, 0);
    j.num("sync_inserts", r.sync_inserts);
    j.num("sync_event_dropped", cf.states[size_t(dp::StateCounter::SyncEventDropped)]);
  }
  j.num("tsc_ghz", tsc_hz() / 1e9);
  j.num("capacity", r.capacity).num("table_bytes", r.table_bytes).num("bytes_per_state", bps, 1);
  j.num("states_created", r.created).num("states_in_use", r.in_use);
  j.num("nat_outbound", cf.nat[size_t(dp::NatCounter::Outbound)]);
  j.num("nat_port_retries", cf.nat[size_t(dp::NatCounter::PortRetries)]);
  j.num("warmup_seconds", r.warm_secs).num("warmup_packets", r.warm_packets);
  j.num("worker_rx", cf[dp::IoCounter::Rx]).num("worker_tx", cf[dp::IoCounter::Tx]);
  j.num("tx_full", cf[dp::IoCounter::TxFull]).num("to_control", cf[dp::IoCounter::ToControl]);
  j.num("drops", drops).raw("drops_by_reason", by_reason);
  j.num("rx_polls", r.polls).num("rx_empty_pct", r.polls ? 100.0 * double(r.empty) / double(r.polls) : 0.0, 3);
  j.num("rx_short_pct", r.polls ? 100.0 * double(r.short_polls) / double(r.polls) : 0.0, 3);
  j.num("generated", r.generated).num("frames_checked", r.checked).num("frames_bad", r.bad);
  j.str("includes",
        v6 ? "io_ceiling plus hafwd's worker loop over IPv6: run_burst (ipv6_input's validation and flow key, state "
             "lookup, UDP tracking, refresh, counters, the IPv6 route, hop limit, output), TX buffers, the WAN poll "
             "(no-rx), counters"
        : events ? "established plus state sync's event hook: the rate-limit check per packet, an update per state "
                 "per second into the worker's ring, drained by the main lcore every millisecond"
               : "io_ceiling plus hafwd's worker loop: run_burst (state lookup, NAT rewrite, route, output), TX "
                 "buffers, the WAN poll (no-rx), counters");
  j.boolean("ok", ok).raw("failures", failures_json(r.fail)).print();

  if (r.capacity) sum.bytes_per_state = bps;
  if (!events && !v6 && ok) {
    sum.established_tsc[flows] = tsc;
    sum.established_mpps[flows] = mpps;
    if (on_cpu_mpps) sum.established_on_cpu_mpps[flows] = *on_cpu_mpps;
  }
  char b[160];
  if (ok && ratio && ratio_cpu)
    std::snprintf(b, sizeof b, "%s %.1f Mpps (%.0f cyc, %.0f%% of IPv4; on CPU %.0f%%)", label.c_str(), mpps, tsc,
                  100 * *ratio, 100 * *ratio_cpu);
  else if (ok && ratio)
    std::snprintf(b, sizeof b, "%s %.1f Mpps (%.0f cyc, %.0f%% of IPv4)", label.c_str(), mpps, tsc, 100 * *ratio);
  else if (ok && events && plain != sum.established_tsc.end())
    std::snprintf(b, sizeof b, "%s %.1f Mpps (%.0f cyc, %+.0f)", label.c_str(), mpps, tsc, tsc - plain->second);
  else if (ok)
    std::snprintf(b, sizeof b, "%s %.1f Mpps (%.0f cyc)", label.c_str(), mpps, tsc);
  else
    std::snprintf(b, sizeof b, "%s FAILED (%s)", label.c_str(), r.fail.front().c_str());
  parts.push_back(b);
  return ok;
}

// New connections: every packet is the first of a flow never seen.
bool case_new(const Options& o, Summary& sum) {
  const uint32_t capacity = o.new_capacity;
  Generator gen;  // these outlive the rig, whose ports call them
  gen.wrap = capacity;  // never reached in the window: it ends at 7/8 of it
  const uint64_t stop_at = uint64_t(capacity) - capacity / 8;
  Checker check;
  std::string error;
  auto rig = Rig::create(capacity, error);
  if (!rig) {
    std::fprintf(stderr, "hafw-bench-dataplane: new: %s\n", error.c_str());
    sum.parts.push_back("new FAILED (setup)");
    return false;
  }
  std::vector<std::string> fail;
  if (!rig->add_generator(gen)) fail.push_back("rx callback");
  const auto cb = rig->add_checker(check);
  if (!cb) fail.push_back("tx callback");

  // Warm-up: 0.1 s of new flows, every frame checked as it leaves.
  dp::DpdkIo& io = rig->io();
  io.start_workers();
  sleep_s(0.1);
  rig->remove(cb);

  const dp::Counters c0 = io.counters();
  const uint64_t p0 = get(gen.polls), e0 = get(gen.empty), s0 = get(gen.short_polls), t0 = rte_get_tsc_cycles();
  const auto w0 = Clock::now();
  while (Clock::now() - w0 < std::chrono::duration<double>(o.seconds) && get(gen.emitted) < stop_at) sleep_s(0.002);
  const dp::Counters c1 = io.counters();
  const uint64_t p1 = get(gen.polls), e1 = get(gen.empty), s1 = get(gen.short_polls), t1 = rte_get_tsc_cycles();
  const uint64_t emitted_at_end = get(gen.emitted);
  io.stop_workers();
  const dp::Counters cf = io.counters();

  const uint64_t created = created_of(c1) - created_of(c0);
  const uint64_t packets = c1[dp::IoCounter::Tx] - c0[dp::IoCounter::Tx];
  const double secs = double(t1 - t0) / tsc_hz();
  const double per_s = double(created) / secs;
  const double tsc = created ? double(t1 - t0) / double(created) : 0;
  uint64_t drops = 0;
  const std::string by_reason = drops_json(cf, drops);
  const uint64_t polls = p1 - p0, empty = e1 - e0, short_polls = s1 - s0;

  if (drops) fail.push_back("drops");
  if (created == 0) fail.push_back("no state created");
  if (emitted_at_end >= capacity) fail.push_back("the flow set wrapped inside the window");
  if (get(check.checked) == 0) fail.push_back("no frame checked");
  if (get(check.bad)) fail.push_back("bad frames: " + why_text(check.why.load()));
  if (short_polls) fail.push_back("the worker's RX came back short of a full burst");
  if (cf[dp::IoCounter::TxFull] || cf[dp::IoCounter::ToControl]) fail.push_back("tx_full or to_control");
  const bool ok = fail.empty();

  const dp::StateTable& st = rig->states();
  const double bps = double(st.memory_bytes()) / double(st.capacity());
  Json j;
  j.str("bench", "dataplane").str("case", "new").num("flows", created).str("proto", "udp");
  j.str("nat", "outbound to the WAN VIP").str("ports", "net_null").num("workers", uint64_t(1));
  j.num("seconds", secs).num("packets", packets).num("new_per_second", per_s, 0);
  j.num("mpps", double(packets) / secs / 1e6).num("tsc_per_new_connection", tsc, 1);
  j.num("tsc_per_packet", packets ? double(t1 - t0) / double(packets) : 0.0, 1);
  if (sum.ceiling_tsc && packets)
    j.num("over_io_ceiling_tsc_per_packet", double(t1 - t0) / double(packets) - *sum.ceiling_tsc, 1);
  j.num("tsc_ghz", tsc_hz() / 1e9);
  j.num("capacity", uint64_t(capacity)).num("table_bytes", uint64_t(st.memory_bytes())).num("bytes_per_state", bps, 1);
  j.num("table_fill_start", double(created_of(c0)) / capacity, 3);
  j.num("table_fill_end", double(created_of(c1)) / capacity, 3);
  j.str("reaper", "none: the table holds every flow of the run, and none expires within it");
  j.num("nat_outbound", cf.nat[size_t(dp::NatCounter::Outbound)]);
  j.num("nat_port_retries", cf.nat[size_t(dp::NatCounter::PortRetries)]);
  j.num("worker_rx", cf[dp::IoCounter::Rx]).num("worker_tx", cf[dp::IoCounter::Tx]);
  j.num("tx_full", cf[dp::IoCounter::TxFull]).num("to_control", cf[dp::IoCounter::ToControl]);
  j.num("drops", drops).raw("drops_by_reason", by_reason);
  j.num("rx_polls", polls).num("rx_empty_pct", polls ? 100.0 * double(empty) / double(polls) : 0.0, 3);
  j.num("rx_short_pct", polls ? 100.0 * double(short_polls) / double(polls) : 0.0, 3);
  j.num("frames_checked", get(check.checked)).num("frames_bad", get(check.bad));
  j.str("includes",
        "io_ceiling plus hafwd's worker loop with every packet a new flow: state lookup (a miss), the rules, "
        "outbound NAT's port choice (a lookup per candidate), the state insert, the NAT rewrite, route, output");
  j.boolean("ok", ok).raw("failures", failures_json(fail)).print();

  if (!sum.bytes_per_state) sum.bytes_per_state = bps;
  char b[160];
  if (ok)
    std::snprintf(b, sizeof b, "new %.2fM conn/s (%.0f cyc)", per_s / 1e6, tsc);
  else
    std::snprintf(b, sizeof b, "new FAILED (%s)", fail.front().c_str());
  sum.parts.push_back(b);
  return ok;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: hafw-bench-dataplane [--seconds S] [--flows N,N...] [--rounds R] "
               "[--only ceiling,established,established6,new,sync] "
               "[--new-capacity N]\n");
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t end = std::min(s.find(',', at), s.size());
    if (end > at) out.push_back(s.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; i += 2) {
      const std::string a = argv[i];
      if (i + 1 >= argc) usage();
      const std::string v = argv[i + 1];
      if (a == "--seconds") {
        o.seconds = std::stod(v);
        if (!(o.seconds > 0)) usage();
      } else if (a == "--flows") {
        o.flows.clear();
        for (const auto& x : split(v)) {
          const uint64_t n = std::stoull(x);
          if (n == 0 || n > bench::kMaxFlows || n > (1u << 29)) usage();
          o.flows.push_back(n);
        }
        if (o.flows.empty()) usage();
      } else if (a == "--only") {
        o.ceiling = o.established = o.established6 = o.fresh = o.sync = false;
        for (const auto& x : split(v)) {
          if (x == "ceiling") o.ceiling = true;
          else if (x == "established") o.established = true;
          else if (x == "established6") o.established6 = true;
          else if (x == "new") o.fresh = true;
          else if (x == "sync") o.sync = true;
          else usage();
        }
      } else if (a == "--rounds") {
        const unsigned long n = std::stoul(v);
        if (n == 0 || n > 100) usage();
        o.rounds = unsigned(n);
      } else if (a == "--new-capacity") {
        const uint64_t n = std::stoull(v);
        if (n < 1024 || n > (1u << 30) || n > bench::kMaxFlows) usage();
        o.new_capacity = uint32_t(n);
      } else {
        usage();
      }
    }
  } catch (const std::exception&) {
    usage();
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);

  const std::string prefix = "--file-prefix=hafw-bench-dp-" + std::to_string(getpid());
  std::vector<std::string> eal = {"hafw-bench-dataplane", "--no-huge", "-m", "512", "--no-pci", prefix,
                                  "-l", "0-1", "--log-level=warning"};
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "hafw-bench-dataplane: EAL: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  const std::string runtime_dir = rte_eal_get_runtime_dir();

  Summary sum;
  bool ok = true;
  if (o.ceiling) ok = case_ceiling(o, sum) && ok;
  if (o.established || o.established6) {
    // At each flow count IPv4 and IPv6 take turns (ABBA...), --rounds
    // windows of seconds / rounds each, every window in a fresh rig after its own
    // warm-up, and report their sums: noise from the machine's other work
    // falls on both alike, and ratio_to_ipv4 stays meaningful.
    std::vector<std::string> est, est6;
    const double window = o.seconds / o.rounds;
    for (uint64_t n : o.flows) {
      EstRound v4, v6;
      for (unsigned round = 0; round < o.rounds; ++round) {
        // Each goes first every other round: neither always follows the other's rig.
        const bool v6_first = round % 2 == 1;
        if (o.established6 && v6_first) v6 += run_established(n, window, false, true);
        if (o.established) v4 += run_established(n, window, false, false);
        if (o.established6 && !v6_first) v6 += run_established(n, window, false, true);
      }
      if (o.established) ok = report_established(n, v4, o.rounds, sum, est, false, false) && ok;
      if (o.established6) ok = report_established(n, v6, o.rounds, sum, est6, false, true) && ok;
    }
    std::string s, s6;
    for (const auto& p : est) join(s, ", ", p);
    for (const auto& p : est6) join(s6, ", ", p);
    if (o.established) sum.parts.push_back("NAT established " + s);
    if (o.established6) sum.parts.push_back("IPv6 established " + s6);
  }
  if (o.sync) {
    std::vector<std::string> est;
    for (uint64_t n : o.flows)
      ok = report_established(n, run_established(n, o.seconds, true, false), 1, sum, est, true, false) && ok;
    std::string s;
    for (const auto& p : est) join(s, ", ", p);
    sum.parts.push_back("with sync events " + s);
  }
  if (o.fresh) ok = case_new(o, sum) && ok;

  std::string line;
  for (const auto& p : sum.parts) join(line, "; ", p);
  if (sum.bytes_per_state) {
    char b[48];
    std::snprintf(b, sizeof b, "; %.0f B/state", *sum.bytes_per_state);
    line += b;
  }
  std::printf("dataplane: %s%s\n", line.c_str(), ok ? "" : " — FAILED (see the JSON's failures)");

  // The EAL leaves its runtime directory behind; a benchmark should not.
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir, ignored);
  return ok ? 0 : 1;
}
