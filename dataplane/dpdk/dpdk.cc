// DPDK glue: EAL start, port and queue setup, the worker lcore loop, the
// rings to and from the control thread, and view reclamation with RCU.
//
// Queues: every worker owns RX queue w and TX queue w on every port, so no
// queue is shared and no lock is taken. Frames the control thread sends
// (CARP adverts, gratuitous ARP, ARP requests, state sync) leave on a TX
// queue of its own, number `workers`, where the port has one more TX queue
// than workers: then a worker that is busy or stalled cannot hold back an
// advert. Otherwise, or when that queue is full, they go through one
// single-producer ring per port that worker 0 drains onto its own TX queue. Punted frames go the other way through one ring per worker,
// and with state sync each worker's state events through one more
// (dataplane/sync_events.h). Each worker reassembles the IPv4 and IPv6 fragments it
// receives in a table of its own (frag.h); RSS sends every fragment of a
// packet to one queue (see the RSS comment in init).
#include "dataplane/dpdk/dpdk.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pdump.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <deque>
#include <vector>

#include "dataplane/pipeline.h"

namespace hafw::dp {
namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
// Punted frames per worker: CARP and ARP rates are tiny, but a bulk update
// of state sync arrives at up to 100 frames a millisecond, and 1024 frames
// were ~10 ms of it: the control thread, sharing its core in the lab, lost up
// to 0.7% of a 1M-state bulk to control_ring_full; 4096 lost none
// (docs/benchmarks.md, "Sync across the lab"). The mbuf pool grows by the
// rings, so full rings starve no RX queue.
constexpr unsigned kPuntRing = 4096;
constexpr unsigned kControlTxRing = 512;   // per port
constexpr unsigned kFragRing = 1024;       // per worker: fragments other workers received for it
constexpr unsigned kCarpRing = 256;        // per worker: adverts only, a few hundred a second per VHID
constexpr unsigned kSpinPolls = 512;       // empty polls before backing off (~tens of µs busy)
constexpr unsigned kMinSleepUs = 8;
constexpr unsigned kMaxSleepUs = 500;      // worst added latency when idle; keeps an idle node < 5% CPU
// State events per worker (16 bytes each: 1 MiB): at 2.5M new connections a
// second a worker fills it in 26 ms, and the control thread drains it every
// step (it naps at most 1 ms).
constexpr size_t kEventRing = 65536;
// Buffers for reassembled packets too long for an RX buffer, per worker: one
// lives from its reassembly until it is cut again for the MTU (or sent
// whole to the control thread), so a burst's worth or two is plenty.
constexpr unsigned kWholePerWorker = 2 * kBurstMax;
// Fragments one reassembled packet may be cut into on transmit: 16 KiB
// (what 8 RX buffers hold) at the smallest MTU IPv4 allows a link (68) is
// more than this, but at 576 it is 29.
constexpr unsigned kMaxFragmentsOut = 32;
// The symmetric Toeplitz key (Woo and Park, "Scalable TCP Session
// Monitoring with Symmetric Receive-side Scaling"): 0x6d5a repeated, so
// that a flow and its reverse hash alike and both directions of a
// connection land on one queue.
constexpr uint8_t kSymmetricRssKeyByte[2] = {0x6d, 0x5a};

// What a worker records in the mbuf for the control thread.
struct PuntMeta {
  uint32_t nexthop;
  uint8_t iface;
  uint8_t reason;
  uint8_t out_iface;
};

struct TxBuffer {
  uint16_t n = 0;
  rte_mbuf* pkts[kBurstMax];
};

bool parse_port_id(const std::string& s, uint16_t& out) {
  auto digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
  if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), digit)) return false;
  unsigned long v = std::stoul(s);
  if (v >= RTE_MAX_ETHPORTS) return false;
  out = uint16_t(v);
  return true;
}

// Rcu over rte_rcu_qsbr: retire() takes a token (rte_rcu_qsbr_start), and
// reclaim() frees, oldest first, what every worker has acknowledged since
// (rte_rcu_qsbr_check without waiting). Control thread only.
class DpdkRcu final : public Rcu {
 public:
  void attach(rte_rcu_qsbr* qsv) { qsv_ = qsv; }
  ~DpdkRcu() override {
    for (const auto& r : retired_) r.free_fn(r.p);  // workers have stopped
  }
  using Rcu::retire;
  void retire(void* p, void (*free_fn)(void*)) override {
    retired_.push_back(Retired{rte_rcu_qsbr_start(qsv_), p, free_fn});
  }
  size_t reclaim() override {
    size_t n = 0;
    while (!retired_.empty() && rte_rcu_qsbr_check(qsv_, retired_.front().token, false) == 1) {
      retired_.front().free_fn(retired_.front().p);
      retired_.pop_front();
      ++n;
    }
    return n;
  }
  size_t pending() const override { return retired_.size(); }

 private:
  struct Retired {
    uint64_t token;
    void* p;
    void (*free_fn)(void*);
  };
  rte_rcu_qsbr* qsv_ = nullptr;
  std::deque<Retired> retired_;
};

// The kernel interface behind an af_packet port ("iface=lan" in its devargs),
// or "" for any other driver.
std::string af_packet_iface(uint16_t port) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port, &info) != 0 || !info.driver_name ||
      std::string_view(info.driver_name) != "net_af_packet" || !info.device)
    return "";
  const rte_devargs* da = rte_dev_devargs(info.device);
  if (!da || !da->args) return "";
  std::string_view args = da->args;
  for (size_t at = 0; at < args.size();) {
    const size_t end = std::min(args.find(',', at), args.size());
    const std::string_view kv = args.substr(at, end - at);
    if (kv.starts_with("iface=")) return std::string(kv.substr(6));
    at = end + 1;
  }
  return "";
}

class Impl;

int worker_main(void* arg);

struct WorkerArg {
  Impl* io;
  unsigned id;
};

class Impl final : public DpdkIo {
 public:
  Impl() : snapshots_(rcu_) {}
  ~Impl() override;
  bool init(const DpdkSetup& setup, std::string& error);

  unsigned iface_count() const override { return unsigned(ports_.size()); }
  net::Mac mac(unsigned i) const override { return macs_.at(i); }
  IfaceStatus iface_status(unsigned i) const override;
  size_t poll(const std::function<void(const Punt&)>& fn) override;
  bool send(unsigned iface, std::span<const uint8_t> frame) override;
  Snapshots& snapshots() override { return snapshots_; }
  StateTable& states() override { return *states_; }
  bool tx_ip_checksum(unsigned i) const override { return i < tx_ip_csum_.size() && tx_ip_csum_[i]; }
  int control_tx_queue(unsigned i) const { return i < control_queue_.size() ? control_queue_[i] : -1; }
  Counters counters() const override;
  size_t poll_events(std::span<StateEvent> out) override { return events_ ? events_->poll(out) : 0; }
  Time received_through() const override {
    int64_t t = std::numeric_limits<int64_t>::max();
    for (unsigned w = 0; w < workers_; ++w) t = std::min(t, heard_[w].ns.load(std::memory_order_acquire));
    return Time(t);
  }

  void run_worker(unsigned id);
  uint64_t fragments_held() const {
    uint64_t n = 0;
    for (const auto& r : reasm_) n += r->held();
    return n;
  }
  void start();
  void stop();

 private:
  PuntMeta& meta(rte_mbuf* m) const { return *RTE_MBUF_DYNFIELD(m, meta_offset_, PuntMeta*); }
  void transmit(unsigned iface, uint16_t queue, TxBuffer& b, WorkerCounters& st);
  Time now() const {
    if (clock_ns_) return Time(clock_ns_->load(std::memory_order_relaxed));
    // steady_clock is read through the vDSO: no system call.
    return std::chrono::steady_clock::now().time_since_epoch();
  }
  void enqueue(rte_ring* r, rte_mbuf** ms, unsigned n, WorkerCounters& st);
  // One burst of punts from ring r to fn; returns how many.
  size_t drain(rte_ring* r, const std::function<void(const Punt&)>& fn);

  std::vector<std::string> eal_args_;
  std::vector<uint16_t> ports_;
  std::vector<std::string> kernel_ifaces_;  // af_packet: the kernel interface, for its link state
  std::vector<bool> tx_ip_csum_;            // per port: IPv4 header checksum offload enabled
  StateTable* states_ = nullptr;
  uint64_t nat_seed_ = 0;
  uint64_t first_state_id_ = 1;
  FragSettings frag_;
  const std::atomic<int64_t>* clock_ns_ = nullptr;
  std::vector<std::unique_ptr<Reassembly>> reasm_;  // per worker
  std::vector<uint16_t> mtu_;                       // per port: the MTU a reassembled IPv4 packet is cut to
  rte_mempool* whole_pool_ = nullptr;
  int ioctl_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::vector<net::Mac> macs_;
  std::vector<unsigned> lcores_;
  std::vector<WorkerArg> args_;
  std::vector<rte_ring*> punt_rings_;    // worker -> control
  // CARP adverts, worker -> control, on a ring of their own that the control
  // thread drains first and again between every burst of the others: a bulk
  // state update floods the punt ring with pfsync frames, and an advert
  // behind them would reach CARP late (with advbase 0 a backup declares the
  // master down after 11.7 ms) or, with the ring full, not at all.
  std::vector<rte_ring*> carp_rings_;
  std::vector<rte_ring*> control_tx_;    // control -> worker 0, per iface
  // Fragments, any worker -> the worker that reassembles their packet
  // (fragment_owner); only with several workers.
  std::vector<rte_ring*> frag_rings_;
  // Per port: the control thread's own TX queue (== workers_), or -1 when
  // the port has no queue to spare and its frames go through control_tx_.
  std::vector<int> control_queue_;
  std::unique_ptr<WorkerCounters[]> stats_;
  // Per worker: the start of its last pass whose every RX burst came back
  // short of a full burst, so that each of its queues was empty then;
  // stored after that pass's punts were in their rings (received_through).
  struct alignas(RTE_CACHE_LINE_SIZE) Heard {
    std::atomic<int64_t> ns{0};
  };
  std::unique_ptr<Heard[]> heard_;
  std::unique_ptr<EventRings> events_;   // worker -> control, state sync only
  unsigned workers_ = 0;
  rte_mempool* pool_ = nullptr;
  rte_rcu_qsbr* qsv_ = nullptr;
  int meta_offset_ = -1;
  DpdkRcu rcu_;              // declared before snapshots_: frees what they retire, after them
  Snapshots snapshots_;
  std::atomic<bool> running_{false};
  bool eal_up_ = false;
  bool pdump_up_ = false;
  bool launched_ = false;
};

int worker_main(void* arg) {
  auto* a = static_cast<WorkerArg*>(arg);
  a->io->run_worker(a->id);
  return 0;
}

bool Impl::init(const DpdkSetup& setup, std::string& error) {
  if (!setup.states) {
    error = "dataplane: no state table";
    return false;
  }
  states_ = setup.states;
  nat_seed_ = setup.nat_seed;
  first_state_id_ = setup.first_state_id;
  frag_ = setup.fragments;
  clock_ns_ = setup.clock_ns;
  if (setup.ports.size() > kMaxIfaces) {
    error = "interfaces: at most " + std::to_string(kMaxIfaces) + " ports, got " + std::to_string(setup.ports.size());
    return false;
  }
  if (!setup.eal_initialized) {
    eal_args_.push_back("hafwd");
    for (const auto& a : setup.eal) eal_args_.push_back(a);
    std::vector<char*> argv;
    for (auto& a : eal_args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (rte_eal_init(int(argv.size() - 1), argv.data()) < 0) {
      error = setup.eal_key + ": EAL initialisation failed: " + rte_strerror(rte_errno);
      return false;
    }
    eal_up_ = true;  // ours to clean up
    // Packet capture by a secondary process (dpdk-dumpcap, dpdk-pdump):
    // this only answers its requests; the workers pay nothing until a
    // capture installs its RX/TX callbacks on a port.
    if (rte_pdump_init() != 0) {
      error = std::string("dataplane: cannot start packet capture support: ") + rte_strerror(rte_errno);
      return false;
    }
    pdump_up_ = true;
  }

  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (lcores_.size() < setup.workers) lcores_.push_back(lcore);
  }
  workers_ = setup.workers;
  if (lcores_.size() < workers_) {
    error = setup.workers_key + ": " + std::to_string(workers_) + " workers need " + std::to_string(workers_ + 1) +
            " lcores (one for the control thread), but the EAL arguments give " +
            std::to_string(rte_lcore_count()) + "; add e.g. \"-l\", \"0-" + std::to_string(workers_) + "\"";
    return false;
  }
  if (setup.state_events) events_ = std::make_unique<EventRings>(workers_, kEventRing);

  static const rte_mbuf_dynfield desc = {"hafw_punt_meta", sizeof(PuntMeta), alignof(PuntMeta), 0};
  meta_offset_ = rte_mbuf_dynfield_register(&desc);
  if (meta_offset_ < 0) {
    error = std::string("dataplane: cannot register mbuf field: ") + rte_strerror(rte_errno);
    return false;
  }

  unsigned n_ports = unsigned(setup.ports.size());
  // The reassembly tables hold fragments in RX buffers: up to their
  // packets' worth each, which the pool must have besides the rings.
  const unsigned held = workers_ * frag_.max_packets * max_fragments();
  unsigned n_mbufs =
      std::max(8191u, n_ports * workers_ * (kRxDesc + kTxDesc) + n_ports * kTxDesc + workers_ * (kPuntRing + kCarpRing + kFragRing) + held + 4096u) |
      1023u;
  pool_ = rte_pktmbuf_pool_create("hafw_mbufs", n_mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  if (!pool_) {
    error = std::string("dataplane: cannot create the mbuf pool (") + std::to_string(n_mbufs) +
            " mbufs): " + rte_strerror(rte_errno) + "; raise -m in dataplane.eal";
    return false;
  }
  // A reassembled packet is at most what max_fragments() RX buffers hold.
  const unsigned whole_room = RTE_PKTMBUF_HEADROOM + max_fragments() * RTE_MBUF_DEFAULT_DATAROOM;
  whole_pool_ = rte_pktmbuf_pool_create("hafw_whole", workers_ * kWholePerWorker + 63, 0, 0, uint16_t(whole_room),
                                        int(rte_socket_id()));
  if (!whole_pool_) {
    error = std::string("dataplane: cannot create the reassembly buffer pool: ") + rte_strerror(rte_errno) +
            "; raise -m in dataplane.eal";
    return false;
  }
  for (unsigned w = 0; w < workers_; ++w) {
    auto r = Reassembly::create(frag_, whole_pool_, int(rte_socket_id()), error);
    if (!r) return false;
    reasm_.push_back(std::move(r));
  }

  for (const auto& ifc : setup.ports) {
    const std::string& where = ifc.key;
    uint16_t port;
    if (!parse_port_id(ifc.device, port) && rte_eth_dev_get_port_by_name(ifc.device.c_str(), &port) != 0) {
      error = where + ": no DPDK port '" + ifc.device + "' (" + std::to_string(rte_eth_dev_count_avail()) +
              " ports available; a vdev needs --vdev in dataplane.eal)";
      return false;
    }
    if (!rte_eth_dev_is_valid_port(port)) {
      error = where + ": DPDK port " + std::to_string(port) + " does not exist";
      return false;
    }
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port, &info) != 0 || info.max_rx_queues < workers_ || info.max_tx_queues < workers_) {
      error = where + ": port '" + ifc.device + "' has too few queues for " + std::to_string(workers_) +
              " workers (af_packet: add qpairs=N to the vdev)";
      return false;
    }
    rte_eth_conf conf{};
    // The NIC sums the IPv4 header of what the workers forward where it can
    // (ipv4_output then leaves the field zero and flags the packet).
    const bool ip_csum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
    if (ip_csum) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    // RSS. Fragments: a NIC classifies an IPv4 packet with MF or an offset
    // as FRAG_IPV4 (an IPv6 one with a fragment header as FRAG_IPV6) and,
    // that type enabled, hashes it on its addresses only,
    // so every fragment of a packet — the first carries ports, the others
    // none — reaches one queue and one worker's reassembly table. Whole
    // TCP and UDP packets hash with their ports (NONFRAG_IPV4_TCP/UDP), so
    // a packet reassembled on one worker may belong to a flow another
    // worker sees: the state table is shared, and that is the two-workers
    // case every NATed connection already is. Symmetric: with the 0x6d5a
    // key a flow and its reverse hash alike, so where NAT does not change
    // a connection's addresses both directions land on one worker.
    uint8_t rss_key[64];
    if (workers_ > 1 && (info.flow_type_rss_offloads & RTE_ETH_RSS_IP)) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_FRAG_IPV4 |
                                                                          RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_TCP |
                                                                          RTE_ETH_RSS_UDP);
      if (info.hash_key_size > 0 && info.hash_key_size <= sizeof rss_key) {
        for (unsigned i = 0; i < info.hash_key_size; ++i) rss_key[i] = kSymmetricRssKeyByte[i % 2];
        conf.rx_adv_conf.rss_conf.rss_key = rss_key;
        conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
      }
    }
    // One TX queue more for the control thread where the port has it. Not
    // on af_packet: its queues are socket pairs whose RX side joins a
    // PACKET_FANOUT_HASH group, so a queue pair nobody polls for RX would
    // swallow the flows hashed to it.
    const bool af_packet = info.driver_name && std::string_view(info.driver_name) == "net_af_packet";
    const bool own_queue = info.max_tx_queues > workers_ && !af_packet;
    const unsigned n_tx = workers_ + (own_queue ? 1 : 0);
    int rc = rte_eth_dev_configure(port, uint16_t(workers_), uint16_t(n_tx), &conf);
    uint16_t nrx = kRxDesc, ntx = kTxDesc;
    if (rc == 0) rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
    for (unsigned q = 0; rc == 0 && q < workers_; ++q)
      rc = rte_eth_rx_queue_setup(port, uint16_t(q), nrx, rte_eth_dev_socket_id(port), nullptr, pool_);
    for (unsigned q = 0; rc == 0 && q < n_tx; ++q)
      rc = rte_eth_tx_queue_setup(port, uint16_t(q), ntx, rte_eth_dev_socket_id(port), nullptr);
    if (rc == 0) rc = rte_eth_dev_start(port);
    if (rc != 0) {
      error = where + ": cannot start port '" + ifc.device + "': " + rte_strerror(-rc);
      return false;
    }
    // Frames for a virtual MAC must reach us whichever node holds it; the
    // pipeline filters by destination MAC itself.
    rte_eth_promiscuous_enable(port);
    rte_eth_allmulticast_enable(port);
    rte_ether_addr ea;
    rte_eth_macaddr_get(port, &ea);
    net::Mac m;
    std::memcpy(m.b.data(), ea.addr_bytes, 6);
    uint16_t mtu = RTE_ETHER_MTU;
    if (rte_eth_dev_get_mtu(port, &mtu) != 0 || mtu < 68) mtu = RTE_ETHER_MTU;
    mtu_.push_back(mtu);
    ports_.push_back(port);
    macs_.push_back(m);
    tx_ip_csum_.push_back(ip_csum);
    control_queue_.push_back(own_queue ? int(workers_) : -1);
    kernel_ifaces_.push_back(af_packet_iface(port));
  }

  for (unsigned w = 0; w < workers_; ++w) {
    std::string name = "hafw_punt" + std::to_string(w);
    rte_ring* r = rte_ring_create(name.c_str(), kPuntRing, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) {
      error = "dataplane: cannot create ring " + name + ": " + rte_strerror(rte_errno);
      return false;
    }
    punt_rings_.push_back(r);
    name = "hafw_carp" + std::to_string(w);
    r = rte_ring_create(name.c_str(), kCarpRing, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) {
      error = "dataplane: cannot create ring " + name + ": " + rte_strerror(rte_errno);
      return false;
    }
    carp_rings_.push_back(r);
    if (workers_ > 1) {
      name = "hafw_frag" + std::to_string(w);
      r = rte_ring_create(name.c_str(), kFragRing, int(rte_socket_id()), RING_F_SC_DEQ);
      if (!r) {
        error = "dataplane: cannot create ring " + name + ": " + rte_strerror(rte_errno);
        return false;
      }
      frag_rings_.push_back(r);
    }
  }
  for (unsigned i = 0; i < ports_.size(); ++i) {
    std::string name = "hafw_ctx" + std::to_string(i);
    rte_ring* r = rte_ring_create(name.c_str(), kControlTxRing, int(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) {
      error = "dataplane: cannot create ring " + name + ": " + rte_strerror(rte_errno);
      return false;
    }
    control_tx_.push_back(r);
  }

  size_t sz = rte_rcu_qsbr_get_memsize(workers_);
  qsv_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("hafw_rcu", sz, RTE_CACHE_LINE_SIZE));
  if (!qsv_ || rte_rcu_qsbr_init(qsv_, workers_) != 0) {
    error = "dataplane: cannot initialise RCU";
    return false;
  }
  rcu_.attach(qsv_);
  stats_ = std::make_unique<WorkerCounters[]>(workers_);
  heard_ = std::make_unique<Heard[]>(workers_);
  return true;
}

Impl::~Impl() {
  stop();
  for (uint16_t p : ports_) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);
  }
  for (auto* r : punt_rings_) rte_ring_free(r);
  for (auto* r : carp_rings_) rte_ring_free(r);
  for (auto* r : control_tx_) rte_ring_free(r);
  for (auto* r : frag_rings_) {  // fragments handed over that nobody took
    rte_mbuf* m;
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    rte_ring_free(r);
  }
  reasm_.clear();  // their fragments go back to the pool before it goes
  rte_free(qsv_);
  if (ioctl_fd_ >= 0) ::close(ioctl_fd_);
  if (pool_) rte_mempool_free(pool_);
  if (whole_pool_) rte_mempool_free(whole_pool_);
  if (pdump_up_) rte_pdump_uninit();
  if (eal_up_) rte_eal_cleanup();
}

void Impl::start() {
  if (launched_) return;
  running_ = true;
  args_.clear();
  for (unsigned w = 0; w < workers_; ++w) args_.push_back(WorkerArg{this, w});
  for (unsigned w = 0; w < workers_; ++w) rte_eal_remote_launch(worker_main, &args_[w], lcores_[w]);
  launched_ = true;
}

void Impl::stop() {
  if (!launched_) return;
  // Let worker 0 flush what the control thread queued last (the bow-out
  // advert) before it stops: wait until the rings are empty or 50 ms pass.
  for (int i = 0; i < 50; ++i) {
    bool empty = true;
    for (auto* r : control_tx_) empty = empty && rte_ring_empty(r);
    if (empty) break;
    rte_delay_us_sleep(1000);
  }
  running_ = false;
  for (unsigned l : lcores_) rte_eal_wait_lcore(l);
  launched_ = false;
}

// Frames for the control thread onto ring r; what does not fit is counted
// and freed (the worker never waits for the control thread).
void Impl::enqueue(rte_ring* r, rte_mbuf** ms, unsigned n, WorkerCounters& st) {
  if (n == 0) return;
  const unsigned done = rte_ring_enqueue_burst(r, reinterpret_cast<void**>(ms), n, nullptr);
  st.add(IoCounter::ToControl, done);
  if (done < n) {
    st.add(IoCounter::ControlRingFull, n - done);
    rte_pktmbuf_free_bulk(ms + done, n - done);
  }
}

void Impl::transmit(unsigned iface, uint16_t queue, TxBuffer& b, WorkerCounters& st) {
  if (b.n == 0) return;
  uint16_t sent = rte_eth_tx_burst(ports_[iface], queue, b.pkts, b.n);
  st.add(IoCounter::Tx, sent);
  if (sent < b.n) {
    st.add(IoCounter::TxFull, b.n - sent);
    rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
  }
  b.n = 0;
}

// The worker that reassembles a fragment's packet: every fragment of one
// packet has the same addresses, so they all meet in one worker's table
// whichever queue the NIC (or af_packet's fanout) put each of them on. RSS
// normally does this already (fragments hash on addresses only); a port
// that hashes the first fragment by its ports, or no RSS at all, would
// otherwise scatter a packet over tables that never complete it.
static unsigned fragment_owner(const uint8_t* l3, bool v6, unsigned workers) {
  uint64_t h = 0;
  if (v6) {
    for (size_t at = 8; at < 40; at += 8) {
      uint64_t w;
      std::memcpy(&w, l3 + at, 8);
      h ^= w;
    }
  } else {
    uint64_t w;
    std::memcpy(&w, l3 + 12, 8);  // source and destination, together
    h = w;
  }
  h ^= h >> 32;
  h *= 0x9e3779b97f4a7c15ull;
  return unsigned((h >> 32) % workers);
}

void Impl::run_worker(unsigned id) {
  WorkerCounters& st = stats_[id];
  const unsigned n_if = unsigned(ports_.size());
  const uint16_t q = uint16_t(id);
  Reassembly& reasm = *reasm_[id];
  TxBuffer tx[kMaxIfaces];
  rte_mbuf* rx[kBurstMax];
  rte_mbuf* whole[kBurstMax];  // packets reassembled in this burst, to run again
  uint8_t whole_in[kBurstMax]; // the port each of those came in on (handed-over fragments)
  uint16_t whole_size[kBurstMax];  // the largest fragment each came in, IP bytes
  // IPv6 fragments this worker cuts again are numbered from a start of its
  // own: the packets of one source and destination all meet in one worker
  // (fragment_owner), so no two of them share an identification.
  uint32_t frag6_id = uint32_t(nat_seed_ >> 32) ^ (id * 0x9e3779b9u);
  rte_mbuf* punt[kBurstMax];
  rte_mbuf* carp[kBurstMax];
  rte_mbuf* dropped[kBurstMax];
  rte_mbuf* cut[kMaxFragmentsOut];
  Burst burst;
  WorkerCtx ctx{.view = {}, .worker = id, .counters = &st, .states = states_};
  ctx.nat_ports = NatPorts{.seed = nat_seed_, .worker = id, .workers = workers_};
  ctx.state_id = first_state_id_ + id;
  ctx.state_id_step = workers_;
  ctx.events = events_ ? events_->of(id) : nullptr;
  unsigned idle = 0, sleep_us = kMinSleepUs;

  // A fragment into this worker's table; a packet it completes joins
  // `whole` (n_whole) with the port its fragment came in on.
  uint16_t n_whole = 0;
  const auto reassemble = [&](rte_mbuf* m, uint8_t in, uint64_t now_ms) {
    if (rte_mbuf* w = reasm.add(m, now_ms, st)) {
      whole_in[n_whole] = in;
      whole_size[n_whole] = reasm.largest_fragment();
      whole[n_whole++] = w;
    }
  };

  // Acts on the exits of a burst run over mbufs ms; a fragment completing
  // a packet adds it to `whole` (n_whole).
  const auto exits = [&](rte_mbuf** ms) {
    uint16_t n_punt = 0, n_carp = 0, n_drop = 0;
    const uint64_t now_ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now).count());
    for (uint16_t i = 0; i < burst.n; ++i) {
      const PacketMeta& p = burst.pkt[i];
      rte_mbuf* m = ms[i];
      switch (p.next) {
        case Next::Tx: {
          m->data_len = m->pkt_len = p.len;
          TxBuffer& b = tx[p.out];
          if (p.has(PacketFlag::Reassembled) && size_t(p.len - p.l3) > mtu_[p.out]) {
            // Longer than the egress MTU: cut again. IPv4: at the MTU (its
            // fragments had DF clear, and the library keeps DF as the first
            // one had it). IPv6, which routers do not fragment (RFC 8200
            // §5): at the size of the sender's own largest fragment, as pf
            // does, so that the path sees what the sender sent; ipv6_route
            // answered packet too big if that does not fit.
            unsigned n = 0;
            if (!p.has(PacketFlag::V6)) {
              n = fragment(m, p.l3, mtu_[p.out], pool_, cut, kMaxFragmentsOut);
            } else if (p.frag_size && p.frag_size <= mtu_[p.out]) {
              n = fragment6(m, p.l3, p.frag_size, frag6_id++, pool_, cut, kMaxFragmentsOut);
            } else {  // the port's own MTU is below the configured one
              st.add(DropReason::TooBig);
              dropped[n_drop++] = m;
              break;
            }
            if (n == 0) {
              st.add(DropReason::FragNoBuffer);
              dropped[n_drop++] = m;
              break;
            }
            st.add(IoCounter::Fragmented);
            st.add(IoCounter::FragmentsOut, n);
            for (unsigned k = 0; k < n; ++k) {
              b.pkts[b.n++] = cut[k];
              if (b.n == kBurstMax) transmit(p.out, q, b, st);
            }
            break;
          }
          if (p.has(PacketFlag::TxIpCsum)) {
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
            m->l2_len = p.l3;
            m->l3_len = uint8_t(p.l4 - p.l3);
          }
          b.pkts[b.n++] = m;
          if (b.n == kBurstMax) transmit(p.out, q, b, st);
          break;
        }
        case Next::Control:
          meta(m) = PuntMeta{p.nexthop, p.in, uint8_t(p.punt), p.out};
          if (p.punt == PuntReason::Carp) carp[n_carp++] = m;
          else punt[n_punt++] = m;
          break;
        case Next::Reassemble:
          if (p.has(PacketFlag::Reassembled)) {  // cannot happen: the library clears MF and the offset
            st.add(DropReason::FragMalformed);
            dropped[n_drop++] = m;
            break;
          }
          m->l2_len = p.l3;
          m->l3_len = uint8_t(p.l4 - p.l3);
          if (workers_ > 1) {
            if (const unsigned owner = fragment_owner(rte_pktmbuf_mtod_offset(m, const uint8_t*, p.l3),
                                                      p.has(PacketFlag::V6), workers_);
                owner != id) {
              meta(m).iface = p.in;
              if (rte_ring_mp_enqueue(frag_rings_[owner], m) == 0) {
                st.add(IoCounter::FragmentsHandedOver);
              } else {
                st.add(DropReason::FragHandoverFull);
                dropped[n_drop++] = m;
              }
              break;
            }
          }
          reassemble(m, p.in, now_ms);
          break;
        default:  // Drop (counted by the pipeline)
          dropped[n_drop++] = m;
          break;
      }
    }
    if (n_drop) rte_pktmbuf_free_bulk(dropped, n_drop);
    enqueue(carp_rings_[id], carp, n_carp, st);
    enqueue(punt_rings_[id], punt, n_punt, st);
  };

  // The packets fragments completed (whole, n_whole), through the whole
  // pipeline as if they had arrived so (at most one per fragment).
  const auto run_whole = [&] {
    burst.n = 0;
    for (uint16_t i = 0; i < n_whole; ++i) {
      rte_mbuf* m = whole[i];
      burst.set(burst.n, rte_pktmbuf_mtod(m, uint8_t*), m->data_len, whole_in[i], uint16_t(m->buf_len - m->data_off));
      burst.pkt[burst.n].frag_size = whole_size[i];
      burst.pkt[burst.n++].set(PacketFlag::Reassembled);
    }
    run_burst(ctx, burst);
    n_whole = 0;
    exits(whole);
  };

  rte_rcu_qsbr_thread_register(qsv_, id);
  rte_rcu_qsbr_thread_online(qsv_, id);
  while (running_.load(std::memory_order_relaxed)) {
    // Between passes the worker holds no pointer into the snapshots.
    rte_rcu_qsbr_quiescent(qsv_, id);
    ctx.view = snapshots_.load();
    if (!ctx.view.ready()) {  // not published yet: leave frames in the RX ring
      rte_delay_us_sleep(kMaxSleepUs);
      continue;
    }
    ctx.set_time(now());
    unsigned work = 0;
    bool emptied = true;  // every queue of this pass came back short of a burst
    for (unsigned in = 0; in < n_if; ++in) {
      const uint16_t n = rte_eth_rx_burst(ports_[in], q, rx, kBurstMax);
      if (n == kBurstMax) emptied = false;
      if (n == 0) continue;
      work += n;
      st.add(IoCounter::Rx, n);
      burst.n = 0;
      for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = rx[i];
        // Chained mbufs only come with scatter RX, which we do not enable.
        if (m->nb_segs != 1) {
          st.add(IoCounter::Unsupported);
          rte_pktmbuf_free(m);
          continue;
        }
        rx[burst.n] = m;
        burst.set(burst.n++, rte_pktmbuf_mtod(m, uint8_t*), m->data_len, uint8_t(in),
                  uint16_t(m->buf_len - m->data_off), m->ol_flags, m->hash.rss);
      }
      run_burst(ctx, burst);
      n_whole = 0;
      exits(rx);
      if (n_whole == 0) continue;
      // The packets the burst's fragments completed, through the whole
      // pipeline as if they had arrived so (at most one per fragment).
      run_whole();
    }
    // What arrived before this pass began has been taken, and its punts
    // are in the rings (their enqueue came first: release).
    if (emptied) heard_[id].ns.store(int64_t(ctx.now.count()), std::memory_order_release);
    // Fragments other workers received for packets this one reassembles.
    if (!frag_rings_.empty()) {
      const unsigned n = rte_ring_dequeue_burst(frag_rings_[id], reinterpret_cast<void**>(rx), kBurstMax, nullptr);
      work += n;
      n_whole = 0;
      const uint64_t now_ms = uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now).count());
      for (unsigned i = 0; i < n; ++i) reassemble(rx[i], meta(rx[i]).iface, now_ms);
      if (n_whole) run_whole();
    }
    // Packets whose fragments stopped coming: dropped and counted (a walk
    // from the oldest that stops at the first one still in time).
    reasm.expire(uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now).count()), st);
    reasm.flush();
    for (unsigned out = 0; out < n_if; ++out) transmit(out, q, tx[out], st);

    if (id == 0) {
      for (unsigned i = 0; i < n_if; ++i) {
        unsigned n = rte_ring_dequeue_burst(control_tx_[i], reinterpret_cast<void**>(tx[i].pkts), kBurstMax, nullptr);
        if (n == 0) continue;
        work += n;
        tx[i].n = uint16_t(n);
        transmit(i, q, tx[i], st);
      }
    }

    if (work) {
      idle = 0;
      sleep_us = kMinSleepUs;
    } else if (++idle > kSpinPolls) {
      // Idle: sleep, doubling up to kMaxSleepUs. Offline while asleep so
      // reclamation never waits for us.
      rte_rcu_qsbr_thread_offline(qsv_, id);
      rte_delay_us_sleep(sleep_us);
      rte_rcu_qsbr_thread_online(qsv_, id);
      sleep_us = std::min(sleep_us * 2, kMaxSleepUs);
    }
  }
  rte_rcu_qsbr_thread_offline(qsv_, id);
  rte_rcu_qsbr_thread_unregister(qsv_, id);
}

size_t Impl::drain(rte_ring* r, const std::function<void(const Punt&)>& fn) {
  rte_mbuf* ms[kBurstMax];
  const unsigned n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(ms), kBurstMax, nullptr);
  for (unsigned i = 0; i < n; ++i) {
    const PuntMeta& pm = meta(ms[i]);
    fn(Punt{pm.iface, PuntReason(pm.reason), pm.out_iface, pm.nexthop,
            {rte_pktmbuf_mtod(ms[i], const uint8_t*), ms[i]->data_len}});
    rte_pktmbuf_free(ms[i]);
  }
  return n;
}

size_t Impl::poll(const std::function<void(const Punt&)>& fn) {
  size_t total = 0;
  const auto adverts = [&] {
    for (auto* r : carp_rings_)
      while (size_t n = drain(r, fn)) total += n;
  };
  adverts();
  for (auto* r : punt_rings_) {
    while (size_t n = drain(r, fn)) {
      total += n;
      adverts();  // an advert that came in meanwhile goes before the next burst
    }
  }
  return total;
}

bool Impl::send(unsigned iface, std::span<const uint8_t> frame) {
  if (iface >= control_tx_.size() || frame.size() > RTE_MBUF_DEFAULT_DATAROOM) return false;
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return false;
  char* p = rte_pktmbuf_append(m, uint16_t(frame.size()));
  if (!p) {
    rte_pktmbuf_free(m);
    return false;
  }
  std::memcpy(p, frame.data(), frame.size());
  // Straight out on our own queue: only this thread uses it. Full (a burst
  // of state sync), the ring takes it instead.
  if (const int q = control_queue_[iface]; q >= 0 && rte_eth_tx_burst(ports_[iface], uint16_t(q), &m, 1) == 1)
    return true;
  if (rte_ring_enqueue(control_tx_[iface], m) != 0) {
    rte_pktmbuf_free(m);
    return false;
  }
  return true;
}

IfaceStatus Impl::iface_status(unsigned i) const {
  IfaceStatus s;
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(ports_.at(i), &link) == 0) s.link_up = link.link_status == RTE_ETH_LINK_UP;
  // The af_packet PMD reports its link as always up; the kernel knows better
  // (a veth whose peer is gone, a cable pulled under a kernel NIC). One
  // ioctl on the control thread per poll.
  if (i < kernel_ifaces_.size() && !kernel_ifaces_[i].empty() && ioctl_fd_ >= 0) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, kernel_ifaces_[i].c_str(), IFNAMSIZ - 1);
    if (ioctl(ioctl_fd_, SIOCGIFFLAGS, &ifr) == 0)
      s.link_up = s.link_up && (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
    else
      s.link_up = false;
  }
  rte_eth_stats es{};
  if (rte_eth_stats_get(ports_.at(i), &es) == 0) {
    s.rx_packets = es.ipackets;
    s.tx_packets = es.opackets;
    s.rx_missed = es.imissed;
  }
  return s;
}

Counters Impl::counters() const {
  Counters c;
  for (unsigned w = 0; w < workers_; ++w) c += stats_[w].read();
  return c;
}

}  // namespace

std::unique_ptr<DpdkIo> DpdkIo::create(const DpdkSetup& setup, std::string& error) {
  auto io = std::make_unique<Impl>();
  if (!io->init(setup, error)) return nullptr;
  return io;
}

DpdkIo::~DpdkIo() = default;

void DpdkIo::start_workers() { static_cast<Impl*>(this)->start(); }
void DpdkIo::stop_workers() { static_cast<Impl*>(this)->stop(); }
uint64_t DpdkIo::fragments_held() const { return static_cast<const Impl*>(this)->fragments_held(); }
int DpdkIo::control_tx_queue(unsigned iface) const { return static_cast<const Impl*>(this)->control_tx_queue(iface); }

}  // namespace hafw::dp
