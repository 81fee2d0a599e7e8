// hafw-bench-table: the state table against DPDK's rte_hash, in one run.
//
// For 1K and 1M states with the same 38-byte keys (net::FlowKey, UDP flows):
//   - insert: every key into an empty table, one at a time;
//   - lookup: bursts of 32 keys in random order, all present, through each
//     table's bulk lookup (ours: StateTable::lookup_bulk with the hashes
//     computed in the loop; rte_hash: rte_hash_lookup_bulk, which hashes
//     itself with its CRC32 hash).
// rte_hash is created in its lock-free reader/writer mode
// (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF), the one comparable to ours.
// TSC cycles per operation; one JSON object per size, then a summary line.
//
//   hafw-bench-table [--sizes 1000,1000000] [--lookups N]
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/state_table.h"

using namespace hafw;

namespace {

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

net::FlowKey reply_of(const net::FlowKey& k) {
  net::FlowKey r = k;
  std::swap(r.src, r.dst);
  std::swap(r.sport, r.dport);
  return r;
}

uint32_t crc_hash(const void* key, uint32_t len, uint32_t seed) { return rte_hash_crc(key, len, seed); }

struct Result {
  double insert_ours, insert_rte, lookup_ours, lookup_rte, bytes_per_state;
};

Result run(uint32_t size, uint64_t lookups) {
  std::vector<net::FlowKey> keys(size);
  for (uint32_t i = 0; i < size; ++i) keys[i] = key_of(i);
  Result r{};

  // ---- ours
  dp::StateTable table(size);
  uint64_t t0 = __rdtsc();
  for (uint32_t i = 0; i < size; ++i) {
    dp::StateInit in;
    in.key[0] = keys[i];
    in.key[1] = reply_of(keys[i]);
    in.lifetime = 60;
    if (table.insert(in, 1).result != dp::StateTable::Inserted::New) std::abort();
  }
  r.insert_ours = double(__rdtsc() - t0) / size;
  r.bytes_per_state = double(sizeof(dp::State)) + double(table.bucket_count() * 64) / size;

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
  std::vector<net::FlowKey> replies(size);
  for (uint32_t i = 0; i < size; ++i) replies[i] = reply_of(keys[i]);
  t0 = __rdtsc();
  for (uint32_t i = 0; i < size; ++i) {
    if (rte_hash_add_key_data(h, &keys[i], reinterpret_cast<void*>(uintptr_t(i) + 1)) != 0) std::abort();
    if (rte_hash_add_key_data(h, &replies[i], reinterpret_cast<void*>(uintptr_t(i) + 1)) != 0) std::abort();
  }
  r.insert_rte = double(__rdtsc() - t0) / size;

  // ---- lookups: the same random order for both
  std::mt19937 rng(size);
  std::vector<uint32_t> order(lookups);
  for (auto& o : order) o = uint32_t(rng() % size);
  constexpr unsigned kBurst = 32;
  const net::FlowKey* kp[kBurst];
  uint64_t hashes[kBurst];
  dp::Hit hits[kBurst];
  uint64_t found = 0;
  t0 = __rdtsc();
  for (uint64_t i = 0; i + kBurst <= lookups; i += kBurst) {
    for (unsigned j = 0; j < kBurst; ++j) {
      kp[j] = &keys[order[i + j]];
      hashes[j] = dp::StateTable::hash(*kp[j]);
    }
    table.lookup_bulk(kp, hashes, hits);
    for (unsigned j = 0; j < kBurst; ++j) found += hits[j].found();
  }
  r.lookup_ours = double(__rdtsc() - t0) / double(lookups);
  const uint64_t found_ours = found;

  const void* rk[kBurst];
  void* data[kBurst];
  found = 0;
  t0 = __rdtsc();
  for (uint64_t i = 0; i + kBurst <= lookups; i += kBurst) {
    for (unsigned j = 0; j < kBurst; ++j) rk[j] = &keys[order[i + j]];
    uint64_t hit_mask = 0;
    rte_hash_lookup_bulk_data(h, rk, kBurst, &hit_mask, data);
    found += uint64_t(__builtin_popcountll(hit_mask));
  }
  r.lookup_rte = double(__rdtsc() - t0) / double(lookups);
  if (found != found_ours || found != lookups / kBurst * kBurst) {
    std::fprintf(stderr, "lookups disagree: ours %lu, rte_hash %lu\n", (unsigned long)found_ours, (unsigned long)found);
    std::exit(1);
  }
  rte_hash_free(h);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {1000, 1000000};
  uint64_t lookups = 1 << 24;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--sizes") {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string s; std::getline(ss, s, ',');) sizes.push_back(uint32_t(std::stoul(s)));
    } else if (a == "--lookups") {
      lookups = std::stoull(argv[i + 1]);
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
    const Result r = run(size, lookups);
    std::printf(
        "{\"bench\": \"table\", \"states\": %u, \"key_bytes\": %zu, \"insert_cycles\": {\"hafw\": %.1f, "
        "\"rte_hash\": %.1f}, \"lookup_cycles\": {\"hafw\": %.1f, \"rte_hash\": %.1f}, \"bytes_per_state\": %.0f}\n",
        size, sizeof(net::FlowKey), r.insert_ours, r.insert_rte, r.lookup_ours, r.lookup_rte, r.bytes_per_state);
    std::printf("table %u states: lookup %.1f vs rte_hash %.1f cycles (%.2fx), insert %.1f vs %.1f cycles\n", size,
                r.lookup_ours, r.lookup_rte, r.lookup_rte / r.lookup_ours, r.insert_ours, r.insert_rte);
  }
  // The EAL leaves its runtime directory behind; a benchmark should not.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir, ignored);
  return 0;
}
