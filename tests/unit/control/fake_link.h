// An in-memory network for whole-node tests: PacketIo implementations wired
// to shared segments, running the real worker pipeline (dp::process) on every
// frame a node receives. Two Nodes, a manual clock and a few hosts give a
// failover lab that runs in microseconds and never sleeps.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

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
    for (size_t i = 0; i < sinks_.size(); ++i)
      if (int(i) != from && sinks_[i]) sinks_[i](frame);
  }
  void leave(int id) { sinks_[size_t(id)] = nullptr; }

 private:
  std::vector<Sink> sinks_;
};

// One node's ports. Frames are queued on arrival and run through the
// pipeline in poll(), as a worker would between control-loop passes.
class FakeIo final : public dp::PacketIo {
 public:
  FakeIo(std::vector<Segment*> segs, std::vector<net::Mac> macs) : segs_(std::move(segs)), macs_(std::move(macs)) {
    for (size_t i = 0; i < segs_.size(); ++i)
      ids_.push_back(segs_[i]->join([this, i](std::span<const uint8_t> f) {
        if (alive_) inbox_.emplace_back(uint8_t(i), std::vector<uint8_t>(f.begin(), f.end()));
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

  unsigned iface_count() const override { return unsigned(segs_.size()); }
  net::Mac mac(unsigned i) const override { return macs_.at(i); }
  dp::IfaceStatus iface_status(unsigned) const override { return {.link_up = alive_}; }

  size_t poll(const std::function<void(const dp::Punt&)>& fn) override {
    size_t n = 0;
    while (!inbox_.empty() && view_) {
      auto [in, frame] = std::move(inbox_.front());
      inbox_.pop_front();
      ++n;
      ++counters_.rx;
      uint16_t len = uint16_t(frame.size());
      dp::Result r = dp::process(*view_, in, frame.data(), len);
      frame.resize(len);
      switch (r.exit) {
        case dp::Exit::Forward: send(r.out_iface, frame); break;
        case dp::Exit::Reply: send(in, frame); break;
        case dp::Exit::ToControl:
          ++counters_.punts[size_t(r.punt)];
          fn(dp::Punt{in, r.punt, r.out_iface, r.nexthop, frame});
          break;
        case dp::Exit::Drop: ++counters_.drops[size_t(r.drop)]; break;
      }
    }
    return n;
  }
  bool send(unsigned iface, std::span<const uint8_t> frame) override {
    if (!alive_) return false;
    ++counters_.tx;
    segs_.at(iface)->send(ids_.at(iface), frame);
    return true;
  }
  void publish(std::unique_ptr<dp::View> v) override { view_ = std::move(v); }
  dp::Counters counters() const override { return counters_; }
  const dp::View* view() const { return view_.get(); }

 private:
  std::vector<Segment*> segs_;
  std::vector<net::Mac> macs_;
  std::vector<int> ids_;
  std::deque<std::pair<uint8_t, std::vector<uint8_t>>> inbox_;
  std::unique_ptr<dp::View> view_;
  dp::Counters counters_;
  bool alive_ = true;
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
