// hafw-bench-table: the state table against DPDK's rte_hash, in one run.
//
// For 1K and 1M states with the same 38-byte keys (net::FlowKey, UDP flows
// through outbound NAT: key[0] = client:port -> server:53, key[1] = server:53
// -> VIP:port, a VIP and port of its own for each state):
//   - insert: every state into an empty table, one at a time (ours: one
//     StateTable::insert, which indexes both keys; rte_hash: both keys with
//     rte_hash_add_key_data);
//   - lookup: bursts of 32 keys in random order, all present, half of them
//     replies (key[1]), through each table's bulk lookup (ours:
//     StateTable::lookup_bulk with the hashes computed in the timed loop;
//     rte_hash: rte_hash_lookup_bulk_data, which hashes inside, with
//     rte_hash_crc);
//   - lookup + count: the same, then each hit's packet and byte count of its
//     direction goes up, as the packet path does (ours: StateTable::count
//     on the state the lookup found; rte_hash: the same count on a 112-byte
//     State the data value indexes, in an array of its own on 2 MB pages,
//     which is where a firewall built on rte_hash would keep them).
// rte_hash is created in its lock-free reader/writer mode with extendable
// buckets (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | _EXT_TABLE), the one
// comparable to ours. Its memory is the EAL's --no-huge memory, on 4 KB
// pages; the state table's arrays (and the states the rte_hash side counts
// in) ask for transparent huge pages. --no-thp turns those off for the
// process, so that both run on 4 KB pages. Lookups are timed in rounds, ours and rte_hash's
// alternating, and the best round of each is reported (all rounds too).
// TSC cycles per operation; one JSON object per size, then a summary line.
//
//   hafw-bench-table [--sizes 1000,1000000] [--lookups N] [--rounds N] [--no-thp]
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#include <sys/prctl.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/state_table.h"

using namespace hafw;

namespace {

constexpr uint32_t kPortsPerVip = 60000;

uint32_t vip_of(uint32_t n) { return 0xc6336400 | (n / kPortsPerVip); }  // 198.51.100.x
uint16_t nat_port_of(uint32_t n) { return uint16_t(1024 + n % kPortsPerVip); }

net::FlowKey key_of(uint32_t n) {
  net::FlowKey k;
  k.af = net::Family::V4;
  k.proto = net::kProtoUdp;
  const uint32_t src = net::be32(0x0a000000 | (n & 0xffffff)), dst = net::be32(0xcb007100 | (n >> 24));
  std::memcpy(k.src.data(), &src, 4);
  std::memcpy(k.dst.data(), &dst, 4);
  k.sport = net::be16(uint16_t(1024 + (n * 7919) % 60000));
  k.dport = net::be16(53);
  return k;
}

// What the server's reply looks like after outbound NAT of flow n.
net::FlowKey reply_of(uint32_t n) {
  const net::FlowKey k = key_of(n);
  net::FlowKey r = k;
  r.src = k.dst;
  r.sport = k.dport;
  const uint32_t vip = net::be32(vip_of(n));
  r.dst = {};
  std::memcpy(r.dst.data(), &vip, 4);
  r.dport = net::be16(nat_port_of(n));
  return r;
}

uint32_t crc_hash(const void* key, uint32_t len, uint32_t seed) { return rte_hash_crc(key, len, seed); }

struct Result {
  double insert_ours, insert_rte, bytes_per_state;
  std::vector<double> lookup_ours, lookup_rte;  // one per round
  std::vector<double> count_ours, count_rte;    // lookup + count, one per round
};

// StateTable::count's arithmetic, for the states an rte_hash user keeps.
void count_in(dp::State& s, unsigned w, uint32_t len) {
  const uint32_t lo = s.packets_lo[w].load(std::memory_order_relaxed) + 1;
  s.packets_lo[w].store(lo, std::memory_order_relaxed);
  if (lo == 0) s.packets_hi[w].store(uint16_t(s.packets_hi[w].load(std::memory_order_relaxed) + 1));
  s.bytes[w].store(s.bytes[w].load(std::memory_order_relaxed) + len, std::memory_order_relaxed);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "hafw-bench-table: %s\n", what);
  std::exit(1);
}

Result run(uint32_t size, uint64_t lookups, unsigned rounds) {
  std::vector<net::FlowKey> keys(size), replies(size);
  for (uint32_t i = 0; i < size; ++i) {
    keys[i] = key_of(i);
    replies[i] = reply_of(i);
  }
  Result r{};

  // ---- ours
  dp::StateTable table(size);
  std::vector<uint16_t> vip_ref((size + kPortsPerVip - 1) / kPortsPerVip);
  for (uint32_t v = 0; v < vip_ref.size(); ++v)
    vip_ref[v] = table.intern_addr(net::IpAddr::v4(vip_of(v * kPortsPerVip)));
  std::vector<dp::StateInit> inits(size);
  for (uint32_t i = 0; i < size; ++i) {
    inits[i].key = keys[i];
    inits[i].nat = {dp::NatSide::Src, vip_ref[i / kPortsPerVip], net::be16(nat_port_of(i))};
    inits[i].lifetime = 60;
  }
  std::vector<dp::StateIndex> state_of(size);
  uint64_t t0 = __rdtsc();
  for (uint32_t i = 0; i < size; ++i) {
    const auto res = table.insert(inits[i], 1);
    if (res.result != dp::StateTable::Inserted::New) fail("insert refused");
    state_of[i] = res.hit.state;
  }
  r.insert_ours = double(__rdtsc() - t0) / size;
  r.bytes_per_state = double(table.memory_bytes()) / table.capacity();

  // ---- rte_hash, lock-free mode, both keys of each state as ours has
  static int seq = 0;
  const std::string name = "bench_h" + std::to_string(seq++);
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = size * 2 + 64;
  p.key_len = sizeof(net::FlowKey);
  p.hash_func = crc_hash;
  p.hash_func_init_val = 0;
  p.socket_id = 0;
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  rte_hash* h = rte_hash_create(&p);
  if (!h) {
    std::fprintf(stderr, "rte_hash_create: %s\n", rte_strerror(rte_errno));
    std::exit(1);
  }
  t0 = __rdtsc();
  for (uint32_t i = 0; i < size; ++i) {
    // The data says which state and which direction, as our Hit does.
    if (rte_hash_add_key_data(h, &keys[i], reinterpret_cast<void*>(uintptr_t(i) << 1)) != 0) fail("rte_hash add");
    if (rte_hash_add_key_data(h, &replies[i], reinterpret_cast<void*>(uintptr_t(i) << 1 | 1)) != 0)
      fail("rte_hash add");
  }
  r.insert_rte = double(__rdtsc() - t0) / size;

  // ---- lookups: the same random keys for both, half of them replies
  std::mt19937 rng(size);
  std::vector<const net::FlowKey*> order(lookups);
  std::vector<uint32_t> want(lookups);  // flow << 1 | direction
  for (uint64_t i = 0; i < lookups; ++i) {
    const uint32_t n = uint32_t(rng() % size), dir = rng() & 1;
    order[i] = dir ? &replies[n] : &keys[n];
    want[i] = n << 1 | dir;
  }
  constexpr unsigned kBurst = 32;
  const uint64_t bursts = lookups / kBurst;
  uint64_t hashes[kBurst];
  dp::Hit hits[kBurst];
  void* data[kBurst];

  // Both tables must give every answer right before either is timed.
  for (uint64_t b = 0; b < bursts; ++b) {
    const net::FlowKey* const* kp = &order[b * kBurst];
    for (unsigned j = 0; j < kBurst; ++j) hashes[j] = dp::StateTable::hash(*kp[j]);
    table.lookup_bulk({kp, kBurst}, hashes, hits);
    uint64_t hit_mask = 0;
    rte_hash_lookup_bulk_data(h, reinterpret_cast<const void**>(const_cast<const net::FlowKey**>(kp)), kBurst,
                              &hit_mask, data);
    for (unsigned j = 0; j < kBurst; ++j) {
      const uint32_t w = want[b * kBurst + j];
      if (!hits[j].found() || hits[j].state != state_of[w >> 1] || hits[j].dir != (w & 1)) fail("wrong hit (ours)");
      if (!(hit_mask >> j & 1) || uintptr_t(data[j]) != w) fail("wrong hit (rte_hash)");
    }
  }

  // What rte_hash's data would lead to, in memory as ours is (2 MB pages).
  dp::HugeArray<dp::State> rte_states(size);
  for (unsigned round = 0; round < rounds; ++round) {
    uint64_t found = 0;
    t0 = __rdtsc();
    for (uint64_t b = 0; b < bursts; ++b) {
      const net::FlowKey* const* kp = &order[b * kBurst];
      for (unsigned j = 0; j < kBurst; ++j) hashes[j] = dp::StateTable::hash(*kp[j]);
      table.lookup_bulk({kp, kBurst}, hashes, hits);
      for (unsigned j = 0; j < kBurst; ++j) found += hits[j].found();
    }
    r.lookup_ours.push_back(double(__rdtsc() - t0) / double(bursts * kBurst));
    if (found != bursts * kBurst) fail("a lookup missed (ours)");

    found = 0;
    t0 = __rdtsc();
    for (uint64_t b = 0; b < bursts; ++b) {
      uint64_t hit_mask = 0;
      rte_hash_lookup_bulk_data(h, reinterpret_cast<const void**>(const_cast<const net::FlowKey**>(&order[b * kBurst])),
                                kBurst, &hit_mask, data);
      found += uint64_t(__builtin_popcountll(hit_mask));
    }
    r.lookup_rte.push_back(double(__rdtsc() - t0) / double(bursts * kBurst));
    if (found != bursts * kBurst) fail("a lookup missed (rte_hash)");

    t0 = __rdtsc();
    for (uint64_t b = 0; b < bursts; ++b) {
      const net::FlowKey* const* kp = &order[b * kBurst];
      for (unsigned j = 0; j < kBurst; ++j) hashes[j] = dp::StateTable::hash(*kp[j]);
      table.lookup_bulk({kp, kBurst}, hashes, hits);
      for (unsigned j = 0; j < kBurst; ++j)
        if (hits[j].found()) table.count(hits[j].state, hits[j].dir, 100);
    }
    r.count_ours.push_back(double(__rdtsc() - t0) / double(bursts * kBurst));

    t0 = __rdtsc();
    for (uint64_t b = 0; b < bursts; ++b) {
      uint64_t hit_mask = 0;
      rte_hash_lookup_bulk_data(h, reinterpret_cast<const void**>(const_cast<const net::FlowKey**>(&order[b * kBurst])),
                                kBurst, &hit_mask, data);
      for (unsigned j = 0; j < kBurst; ++j)
        if (hit_mask >> j & 1) count_in(rte_states[uintptr_t(data[j]) >> 1], unsigned(uintptr_t(data[j]) & 1), 100);
    }
    r.count_rte.push_back(double(__rdtsc() - t0) / double(bursts * kBurst));
  }
  // Both counted every lookup of every round.
  uint64_t ours = 0, theirs = 0;
  for (uint32_t i = 0; i < size; ++i)
    for (unsigned w = 0; w < 2; ++w) {
      ours += table.packets(state_of[i], uint8_t(w));
      theirs += rte_states[i].packets_lo[w].load();
    }
  if (ours != theirs || ours != uint64_t(rounds) * bursts * kBurst) fail("the counts disagree");
  rte_hash_free(h);
  return r;
}

std::string list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.1f", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}

double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {1000, 1000000};
  uint64_t lookups = 1 << 24;
  unsigned rounds = 3;
  bool thp = true;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--no-thp") thp = false;
  if (!thp && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_THP_DISABLE)");
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--no-thp") {
      --i;  // no value
    } else if (a == "--sizes") {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string s; std::getline(ss, s, ',');) sizes.push_back(uint32_t(std::stoul(s)));
    } else if (a == "--lookups") {
      lookups = std::stoull(argv[i + 1]);
    } else if (a == "--rounds") {
      rounds = std::max(1u, unsigned(std::stoul(argv[i + 1])));
    }
  }
  const std::string prefix = "--file-prefix=hafw-bench-table-" + std::to_string(getpid());
  std::vector<std::string> eal = {"hafw-bench-table", "--no-huge", "-m", "1024", "--no-pci", prefix, "-l", "0",
                                  "--log-level=warning"};
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(int(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "hafw-bench-table: EAL: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  for (uint32_t size : sizes) {
    const Result r = run(size, lookups, rounds);
    std::printf(
        "{\"bench\": \"table\", \"states\": %u, \"key_bytes\": %zu, \"state_bytes\": %zu, \"reply_share\": 0.5, "
        "\"thp\": %s, "
        "\"insert_cycles\": {\"hafw\": %.1f, \"rte_hash\": %.1f}, \"lookup_cycles\": {\"hafw\": %.1f, "
        "\"rte_hash\": %.1f}, \"lookup_rounds\": {\"hafw\": %s, \"rte_hash\": %s}, \"lookup_count_cycles\": "
        "{\"hafw\": %.1f, \"rte_hash\": %.1f}, \"lookup_count_rounds\": {\"hafw\": %s, \"rte_hash\": %s}, "
        "\"bytes_per_state\": %.1f}\n",
        size, sizeof(net::FlowKey), sizeof(dp::State), thp ? "true" : "false", r.insert_ours, r.insert_rte, best(r.lookup_ours),
        best(r.lookup_rte), list(r.lookup_ours).c_str(), list(r.lookup_rte).c_str(), best(r.count_ours),
        best(r.count_rte), list(r.count_ours).c_str(), list(r.count_rte).c_str(), r.bytes_per_state);
    std::printf(
        "table %u states: lookup %.1f vs rte_hash %.1f cycles (%.2fx), lookup+count %.1f vs %.1f (%.2fx), "
        "insert %.1f vs %.1f cycles, %.1f B/state\n",
        size, best(r.lookup_ours), best(r.lookup_rte), best(r.lookup_rte) / best(r.lookup_ours), best(r.count_ours),
        best(r.count_rte), best(r.count_rte) / best(r.count_ours), r.insert_ours, r.insert_rte, r.bytes_per_state);
    std::fflush(stdout);
  }
  // The EAL leaves its runtime directory behind; a benchmark should not.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir, ignored);
  return 0;
}
