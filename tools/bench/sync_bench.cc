// State sync on one core (docs/benchmarks.md, "Sync"): the real sync engine
// (control/sync.cc) of two nodes, wired back to back in memory. Node A's
// "workers" report state events; A turns them into pfsync frames (sealed
// when a key is set); each frame A sends is handed to node B at once, which
// checks, unseals, parses and applies it to its own table. One thread runs
// both, so the figure is encode + decode + apply per event on one core.
//
// Rows: inserts (full 264-byte records), compressed updates (84 bytes),
// deletes, each cleartext and sealed; and a bulk update of the whole table
// (B asks, A walks its table and sends every state, B inserts them), which
// is what a node that starts waits for. JSON, then one summary line.
//
//   hafw-bench-sync [--states N] [--key K]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/neighbor.h"
#include "control/sync.h"
#include "dataplane/io.h"

using namespace hafw;
using nlohmann::json;

namespace {

Time now() {
  return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
}

// One node's side of the back-to-back wire: its table, the events its
// "workers" report, and the peer it hands every sent frame to.
class BenchIo final : public dp::PacketIo {
 public:
  explicit BenchIo(uint32_t capacity, uint8_t host) : states_(capacity), rcu_(1), snapshots_(rcu_), host_(host) {
    rcu_.online(0);
  }
  unsigned iface_count() const override { return 1; }
  net::Mac mac(unsigned) const override { return net::Mac{{0x02, 0, 0, 0, host_, 2}}; }
  dp::IfaceStatus iface_status(unsigned) const override { return {.link_up = true}; }
  size_t poll(const std::function<void(const dp::Punt&)>&) override { return 0; }
  bool send(unsigned, std::span<const uint8_t> frame) override {
    if (frame.size() > sizeof(net::EthHdr) + sizeof(net::Ipv4Hdr) && frame[23] == 240) {
      ++frames;
      bytes += frame.size();
      if (peer) peer->receive(dp::Punt{0, dp::PuntReason::Pfsync, 0, 0, frame}, now());
    }
    return true;
  }
  size_t poll_events(std::span<dp::StateEvent> out) override {
    size_t n = 0;
    while (n < out.size() && !events.empty()) {
      out[n++] = events.front();
      events.pop_front();
    }
    return n;
  }
  dp::Snapshots& snapshots() override { return snapshots_; }
  dp::StateTable& states() override { return states_; }
  dp::Counters counters() const override { return {}; }

  std::deque<dp::StateEvent> events;
  control::Sync* peer = nullptr;
  uint64_t frames = 0, bytes = 0;

 private:
  dp::StateTable states_;
  dp::Qsbr rcu_;
  dp::Snapshots snapshots_;
  uint8_t host_;
};

dp::IfaceView sync_iface(uint8_t host) {
  dp::IfaceView v{};
  v.addr = net::IpAddr::parse(host == 2 ? "172.16.1.2" : "172.16.1.3")->v4();
  v.plen = 24;
  return v;
}

struct Node {
  BenchIo io;
  control::NeighborManager neighbors;
  control::Sync sync;
  Node(uint32_t capacity, uint8_t host, const std::string& key)
      : io(capacity, host),
        neighbors({sync_iface(host)}),
        sync(control::SyncSettings{.iface = 0,
                                   .local = *net::IpAddr::parse(host == 2 ? "172.16.1.2" : "172.16.1.3"),
                                   .peer = *net::IpAddr::parse(host == 2 ? "172.16.1.3" : "172.16.1.2"),
                                   .key = key,
                                   .first_seq = 1,
                                   // The engine's own speed: no bulk pacing.
                                   .bulk_states_per_ms = 0},
             io, neighbors, [](std::string) {}) {
    // The peer's MAC, as ARP would have found it.
    neighbors.learn(0, net::IpAddr::parse(host == 2 ? "172.16.1.3" : "172.16.1.2")->v4(),
                    net::Mac{{0x02, 0, 0, 0, uint8_t(host == 2 ? 3 : 2), 2}}, now());
  }
};

// N TCP states through outbound NAT, as a busy master holds them.
void fill(dp::StateTable& t, uint32_t n) {
  const uint16_t vip = t.intern_addr(*net::IpAddr::parse("198.51.100.200"));
  const uint32_t now_s = uint32_t(std::chrono::duration_cast<std::chrono::seconds>(now()).count());
  for (uint32_t i = 0; i < n; ++i) {
    dp::StateInit init;
    init.key.proto = net::kProtoTcp;
    const uint32_t src = 0x0a000000u | (i >> 8), dst = 0xc6336400u | (i & 0xff);
    for (int b = 0; b < 4; ++b) init.key.src[b] = uint8_t(src >> (24 - 8 * b)), init.key.dst[b] = uint8_t(dst >> (24 - 8 * b));
    init.key.sport = net::be16(uint16_t(1024 + i % 60000));
    init.key.dport = net::be16(443);
    init.nat = dp::NatDelta{.side = dp::NatSide::Src, .addr = vip, .port = net::be16(uint16_t(1024 + (i >> 8) % 64000))};
    init.lifetime = 86400;
    init.id = i + 1;
    init.peer[0] = init.peer[1] = dp::peer_byte(dp::tcps::Established, dp::kNoWscale);
    init.seqlo[0] = init.seqhi[0] = i * 7;
    init.seqlo[1] = init.seqhi[1] = i * 11;
    t.insert(init, now_s);
  }
}

struct Row {
  std::string name;
  uint64_t events = 0;
  double seconds = 0;
  uint64_t frames = 0, bytes = 0;
  double rate() const { return seconds > 0 ? double(events) / seconds : 0; }
};

// Every state of A as an event of `kind`; run until B has applied them all.
Row stream(Node& a, Node& b, dp::StateEventKind kind, const char* name, const std::vector<dp::StateIndex>& live) {
  const dp::StateTable& t = a.io.states();
  for (dp::StateIndex s : live) a.io.events.push_back(dp::StateEvent{.id = t.at(s).id, .state = s, .kind = kind, .creator = 0, .reserved = 0});
  const uint64_t f0 = a.io.frames, b0 = a.io.bytes;
  const auto t0 = std::chrono::steady_clock::now();
  while (!a.io.events.empty()) a.sync.step(now());
  a.sync.step(now() + std::chrono::milliseconds(2));  // the last frame's flush
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  (void)b;
  return Row{name, live.size(), secs, a.io.frames - f0, a.io.bytes - b0};
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t n = 1'000'000;
  std::string key = "benchmark sync key";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--states" && i + 1 < argc) n = uint32_t(std::stoul(argv[++i]));
    else if (a == "--key" && i + 1 < argc) key = argv[++i];
    else {
      std::fprintf(stderr, "usage: hafw-bench-sync [--states N] [--key K]\n");
      return 2;
    }
  }
  json rows = json::array();
  std::string summary;
  for (const std::string& k : {std::string(), key}) {
    const char* mode = k.empty() ? "cleartext" : "sealed";
    Node a(n, 2, k), b(n, 3, k);
    a.io.peer = &b.sync;
    b.io.peer = &a.sync;
    fill(a.io.states(), n);
    std::vector<dp::StateIndex> live;
    a.io.states().for_each([&](dp::StateIndex s) {
      live.push_back(s);
      return true;
    });
    std::vector<Row> r;
    r.push_back(stream(a, b, dp::StateEventKind::Insert, "insert", live));
    const uint64_t inserted = b.sync.record_count(control::SyncRecord::Inserted);
    r.push_back(stream(a, b, dp::StateEventKind::Update, "update", live));
    const uint64_t updated = b.sync.record_count(control::SyncRecord::Updated);
    // Bulk: a fresh B asks the same A for everything.
    Node c(n, 3, k);
    a.io.peer = &c.sync;
    c.io.peer = &a.sync;
    const uint64_t f0 = a.io.frames, by0 = a.io.bytes;
    const auto t0 = std::chrono::steady_clock::now();
    c.sync.start(now());
    while (c.sync.bulk_pending()) {
      a.sync.step(now());
      c.sync.step(now());
    }
    const double bulk_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.push_back(Row{"bulk", c.sync.record_count(control::SyncRecord::Inserted), bulk_s, a.io.frames - f0,
                    a.io.bytes - by0});
    a.io.peer = &b.sync;
    r.push_back(stream(a, b, dp::StateEventKind::Delete, "delete", live));
    const uint64_t deleted = b.sync.record_count(control::SyncRecord::Deleted);
    for (const Row& x : r)
      rows.push_back({{"mode", mode}, {"row", x.name}, {"events", x.events}, {"seconds", x.seconds},
                      {"events_per_s", x.rate()}, {"frames", x.frames}, {"bytes", x.bytes}});
    rows.push_back({{"mode", mode}, {"applied", {{"inserted", inserted}, {"updated", updated}, {"deleted", deleted},
                                                 {"bulk_inserted", c.sync.record_count(control::SyncRecord::Inserted)}}}});
    char line[256];
    std::snprintf(line, sizeof line, "%s: insert %.2f M/s, update %.2f M/s, delete %.2f M/s, bulk %u states %.2f s; ",
                  mode, r[0].rate() / 1e6, r[1].rate() / 1e6, r[3].rate() / 1e6, n, bulk_s);
    summary += line;
  }
  std::printf("%s\n", json{{"benchmark", "sync"}, {"states", n}, {"rows", rows}}.dump(2).c_str());
  std::printf("sync (one core, encode+decode+apply): %s\n", summary.c_str());
  return 0;
}
