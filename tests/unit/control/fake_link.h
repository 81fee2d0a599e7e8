// An in-memory network for whole-node tests: PacketIo implementations wired
// to shared segments, running the real worker pipeline (dp::run_burst) on
// what a node receives. Two Daemons (a Controller and its commands, as hafwd
// assembles them), a manual clock and a few hosts give a failover lab that
// runs in microseconds and never sleeps.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/clock.h"
#include "control/commands.h"
#include "control/controller.h"
#include "dataplane/io.h"
#include "dataplane/pipeline.h"

namespace hafw::test {

// A broadcast domain (a switch with flooding): every frame reaches every
// other member; members filter by destination MAC themselves, as af_packet
// in promiscuous mode makes our workers do.
class Segment {
 public:
  using Sink = std::function<void(std::span<const uint8_t>)>;
  int join(Sink s) {
    sinks_.push_back(std::move(s));
    return int(sinks_.size() - 1);
  }
  void send(int from, std::span<const uint8_t> frame) {
    std::vector<uint8_t> copy;
    if (filter_) {
      copy.assign(frame.begin(), frame.end());
      if (!filter_(copy)) return;
      frame = copy;
    }
    for (size_t i = 0; i < sinks_.size(); ++i)
      if (int(i) != from && sinks_[i]) sinks_[i](frame);
  }
  void leave(int id) { sinks_[size_t(id)] = nullptr; }
  // A faulty cable: the filter sees every frame first, may change it, and
  // drops it by returning false.
  using Filter = std::function<bool(std::vector<uint8_t>&)>;
  void set_filter(Filter f) { filter_ = std::move(f); }

 private:
  std::vector<Sink> sinks_;
  Filter filter_;
};

// One node's ports. Frames are queued on arrival and run through the
// pipeline in bursts in poll(), as a worker would between control-loop
// passes. One reader (the "worker") reaches a quiescent state at every poll.
// The worker always has a state sync event ring (hafwd has one only when
// the config syncs), drained by poll_events().
class FakeIo final : public dp::PacketIo {
 public:
  FakeIo(std::vector<Segment*> segs, std::vector<net::Mac> macs)
      : segs_(std::move(segs)), macs_(std::move(macs)), link_(segs_.size(), true), rcu_(1), snapshots_(rcu_) {
    rcu_.online(0);
    for (size_t i = 0; i < segs_.size(); ++i)
      ids_.push_back(segs_[i]->join([this, i](std::span<const uint8_t> f) {
        if (alive_ && link_[i]) inbox_.emplace_back(uint8_t(i), std::vector<uint8_t>(f.begin(), f.end()));
      }));
  }
  ~FakeIo() override { unplug(); }

  // Pull every cable: what a SIGKILLed or frozen node looks like to the others.
  void unplug() {
    if (!alive_) return;
    alive_ = false;
    for (size_t i = 0; i < segs_.size(); ++i) segs_[i]->leave(ids_[i]);
    inbox_.clear();
  }

  // Pull one cable: the port reports link down and nothing passes it.
  void set_link(unsigned i, bool up) { link_.at(i) = up; }
  // The workers' clock (the node's own, in the tests).
  void set_clock(const Clock& c) { clock_ = &c; }

  unsigned iface_count() const override { return unsigned(segs_.size()); }
  net::Mac mac(unsigned i) const override { return macs_.at(i); }
  dp::IfaceStatus iface_status(unsigned i) const override { return {.link_up = alive_ && link_.at(i)}; }

  size_t poll(const std::function<void(const dp::Punt&)>& fn) override {
    size_t n = 0;
    rcu_.quiescent(0);
    while (!inbox_.empty() && view().ready()) {
      dp::WorkerCtx ctx{.view = view(), .counters = &counters_, .states = &states_, .events = events_.of(0)};
      // The worker's own sequence of state ids, across passes.
      ctx.state_id = state_id_;
      if (clock_) ctx.set_time(clock_->now());
      // A burst of what arrived, up to kBurstMax frames (the frames stay in
      // `batch` while the burst points into them).
      std::vector<std::pair<uint8_t, std::vector<uint8_t>>> batch;
      while (!inbox_.empty() && batch.size() < dp::kBurstMax) {
        batch.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
      }
      // Room to grow, as an mbuf has (an ICMP error is longer than a runt).
      dp::Burst b;
      for (auto& [in, frame] : batch) {
        const uint16_t len = uint16_t(frame.size());
        frame.resize(size_t(len) + kRoom);
        b.set(b.n++, frame.data(), len, in, uint16_t(frame.size()));
      }
      counters_.add(dp::IoCounter::Rx, b.n);
      n += b.n;
      dp::run_burst(ctx, b);
      state_id_ = ctx.state_id;
      for (uint16_t i = 0; i < b.n; ++i) {
        const dp::PacketMeta& p = b.pkt[i];
        std::span<const uint8_t> frame(p.data, p.len);
        if (p.next == dp::Next::Tx) {
          send(p.out, frame);
        } else if (p.next == dp::Next::Control) {
          counters_.add(dp::IoCounter::ToControl);
          fn(dp::Punt{p.in, p.punt, p.out, p.nexthop, frame});
        } else if (p.next == dp::Next::Reassemble) {
          // This network has no reassembly (hafwd's DPDK glue does): a
          // fragment is taken and never completes.
          counters_.add(dp::IoCounter::FragmentsIn);
        }
      }
    }
    return n;
  }
  bool send(unsigned iface, std::span<const uint8_t> frame) override {
    if (!alive_ || !link_.at(iface)) return false;
    counters_.add(dp::IoCounter::Tx);
    segs_.at(iface)->send(ids_.at(iface), frame);
    return true;
  }
  dp::Snapshots& snapshots() override { return snapshots_; }
  dp::StateTable& states() override { return states_; }
  dp::Counters counters() const override { return counters_.read(); }
  size_t poll_events(std::span<dp::StateEvent> out) override { return events_.poll(out); }
  dp::View view() const { return snapshots_.load(); }

 private:
  static constexpr size_t kRoom = 128;
  std::vector<Segment*> segs_;
  std::vector<net::Mac> macs_;
  std::vector<int> ids_;
  std::vector<bool> link_;
  std::deque<std::pair<uint8_t, std::vector<uint8_t>>> inbox_;
  dp::StateTable states_{4096};  // before rcu_: what the reaper retires refers to it
  dp::Qsbr rcu_;  // before snapshots_: frees what they retire, after them
  dp::Snapshots snapshots_;
  const Clock* clock_ = nullptr;
  dp::WorkerCounters counters_;
  // As hafwd's, so that a test can fill it (dataplane/dpdk/dpdk.cc: kEventRing).
  dp::EventRings events_{1, 65536};
  uint64_t state_id_ = 1;
  bool alive_ = true;
};

// The two-node lab's config (the example address plan of docs/config.md) for
// one node as JSON text: host 2 is the primary (.201 on the WAN), host 3 the
// secondary (.202); both VHIDs get `skew`. The LAN may go out (rule 0),
// translated to the WAN VIP; nothing from the WAN may open a connection
// into the LAN (rule 1).
// With `unicast`, every VHID advertises to the other node's address (CARP's
// `peer`) instead of 224.0.0.18.
inline std::string lab_node_json(const std::string& name, const std::string& role, int host, int skew,
                                 const std::string& socket, const std::string& state_dir, bool unicast = false) {
  auto h = std::to_string(host), p = std::to_string(host == 2 ? 3 : 2);
  auto w = std::to_string(host == 2 ? 201 : 202), wp = std::to_string(host == 2 ? 202 : 201);
  auto s = std::to_string(skew);
  auto wan_peer = unicast ? R"(, "peer": "198.51.100.)" + wp + "\"" : std::string();
  auto lan_peer = unicast ? R"(, "peer": "192.168.1.)" + p + "\"" : std::string();
  return R"({
  "node": {"name": ")" + name + R"(", "role": ")" + role + R"("},
  "dataplane": {"eal": [], "workers": 1},
  "interfaces": [
    {"name": "wan", "port": "0", "address": "198.51.100.)" + w + R"(/24", "peer": "198.51.100.)" + wp + R"("},
    {"name": "lan", "port": "1", "address": "192.168.1.)" + h + R"(/24", "peer": "192.168.1.)" + p + R"("},
    {"name": "sync", "port": "2", "address": "172.16.1.)" + h + R"(/24", "peer": "172.16.1.)" + p + R"("}],
  "carp": {"preempt": true, "vips": [
    {"interface": "wan", "vhid": 200, "addresses": ["198.51.100.200"], "password": "wan-secret",
     "advbase": 1, "advskew": )" + s + wan_peer + R"(},
    {"interface": "lan", "vhid": 1, "addresses": ["192.168.1.1"], "password": "lan-secret",
     "advbase": 1, "advskew": )" + s + lan_peer + R"(}]},
  "sync": {"interface": "sync", "peer": "172.16.1.)" + p + R"("},
  "nat": {"outbound": [{"interface": "wan", "source": "192.168.1.0/24", "translation": "198.51.100.200"}]},
  "rules": [
    {"action": "pass", "interface": "lan", "direction": "in", "protocol": "any",
     "source": "192.168.1.0/24", "destination": "any"},
    {"action": "block", "interface": "wan", "direction": "in", "protocol": "any",
     "source": "any", "destination": "192.168.1.0/24"}],
  "control": {"socket": ")" + socket + R"(", "state_dir": ")" + state_dir + R"("}
}
)";
}

// A node as hafwd assembles it, minus DPDK and the socket: the Controller
// and the command registry it fills.
struct Daemon {
  control::Controller controller;
  control::Commands commands;

  Daemon(config::Config cfg, nlohmann::json running, dp::PacketIo& io, const Clock& clock)
      : controller(std::move(cfg), std::move(running), io, clock) {
    controller.register_commands(commands);
  }
  void start() { controller.start(); }
  bool step() { return controller.step(); }
  void shutdown() { controller.shutdown(); }
  nlohmann::json handle(std::string_view cmd, const nlohmann::json& args) { return commands.run(cmd, args); }
  const carp::Carp& carp() const { return controller.carp(); }
};

// A host on a segment that records what it receives.
struct Host {
  Segment* seg;
  int id;
  std::vector<std::vector<uint8_t>> received;
  explicit Host(Segment& s) : seg(&s) {
    id = s.join([this](std::span<const uint8_t> f) { received.emplace_back(f.begin(), f.end()); });
  }
  void send(std::span<const uint8_t> f) { seg->send(id, f); }
};

}  // namespace hafw::test
