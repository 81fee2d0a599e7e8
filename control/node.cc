#include "control/node.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "control/socket.h"

namespace hafw {

using nlohmann::json;

namespace {

constexpr size_t kMaxEvents = 1000;  // enough for days of flapping; bounded memory

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601(int64_t unix_ms) {
  std::time_t t = std::time_t(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(unix_ms % 1000));
  return buf;
}

std::vector<carp::VhidConfig> vhid_configs(const config::Config& cfg, const dp::PacketIo& io) {
  std::vector<carp::VhidConfig> out;
  for (const auto& v : cfg.carp.vips) {
    for (size_t i = 0; i < cfg.interfaces.size(); ++i) {
      const auto& ifc = cfg.interfaces[i];
      if (ifc.name != v.interface) continue;
      out.push_back(carp::VhidConfig{
          .interface = v.interface,
          .vhid = v.vhid,
          .addresses = v.addresses,
          .password = v.password,
          .advbase = v.advbase,
          .advskew = v.advskew,
          .preempt = cfg.carp.preempt,
          .peer = v.peer,
          .src = ifc.address.addr,
          .iface_mac = io.mac(unsigned(i)),
      });
    }
  }
  return out;
}

std::vector<net::Mac> port_macs(const dp::PacketIo& io) {
  std::vector<net::Mac> macs;
  for (unsigned i = 0; i < io.iface_count(); ++i) macs.push_back(io.mac(i));
  return macs;
}

}  // namespace

Node::Node(config::Config cfg, dp::PacketIo& io, const Clock& clock)
    : cfg_(std::move(cfg)),
      io_(io),
      clock_(clock),
      base_(dp::View::build(cfg_, port_macs(io))),
      carp_(vhid_configs(cfg_, io)),
      neighbors_(base_) {}

void Node::start() {
  started_ = clock_.now();
  log_event("node " + cfg_.node.name + " starting (" +
            (cfg_.node.role == config::Role::Primary ? "primary" : "secondary") + ")");
  publish_view();
  apply(carp_.start(clock_.now()));
  // Persistent maintenance (pfSense): a node the operator took out stays out
  // across restarts and reboots until the operator says otherwise.
  if (std::filesystem::exists(maintenance_path())) {
    maintenance_ = true;
    log_event("maintenance mode persists from before the restart (" + maintenance_path() + ")");
    apply(carp_.set_maintenance(true, clock_.now()));
  }
}

std::string Node::maintenance_path() const { return cfg_.control.state_dir + "/maintenance"; }

void Node::persist_maintenance() {
  std::error_code ec;
  if (maintenance_) {
    std::filesystem::create_directories(cfg_.control.state_dir, ec);
    std::string tmp = maintenance_path() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << "maintenance mode entered through the control socket\n";
      if (!f.flush()) ec = std::make_error_code(std::errc::io_error);
    }
    if (!ec) std::filesystem::rename(tmp, maintenance_path(), ec);
  } else {
    std::filesystem::remove(maintenance_path(), ec);
  }
  if (ec) log_event("cannot persist maintenance mode in " + maintenance_path() + ": " + ec.message());
}

bool Node::step() {
  bool worked = io_.poll([this](const dp::Punt& p) { on_punt(p); }) > 0;
  Time now = clock_.now();
  if (carp_.next_deadline() <= now) {
    apply(carp_.poll(now));
    worked = true;
  }
  uint64_t version = neighbors_.version();
  neighbors_.expire(now);
  for (auto& [iface, frame] : neighbors_.due_requests(now)) io_.send(iface, frame);
  if (neighbors_.version() != version) publish_view();
  for (auto& [iface, frame] : neighbors_.take_ready()) {
    io_.send(iface, frame);
    worked = true;
  }
  return worked;
}

void Node::shutdown() {
  log_event("node " + cfg_.node.name + " shutting down");
  apply(carp_.shutdown(clock_.now()));
}

void Node::on_punt(const dp::Punt& p) {
  Time now = clock_.now();
  if (p.iface >= cfg_.interfaces.size()) {
    ++control_drops_;
    return;
  }
  switch (p.reason) {
    case dp::PuntReason::Carp:
      apply(carp_.receive(p.frame, cfg_.interfaces[p.iface].name, now));
      return;
    case dp::PuntReason::Arp: {
      // Learn the sender of ARP replies and gratuitous ARPs addressed to our
      // segments; the neighbour manager ignores senders outside the subnet.
      if (p.frame.size() < sizeof(net::EthHdr) + sizeof(net::ArpHdr)) {
        ++control_drops_;
        return;
      }
      net::ArpHdr arp;
      std::memcpy(&arp, p.frame.data() + sizeof(net::EthHdr), sizeof arp);
      // A reply (to our request) creates an entry; anything else only
      // refreshes one we have (RFC 826 merge rule), so broadcasts from every
      // host on the segment do not grow the table.
      bool changed = arp.op == net::be16(net::kArpReply)
                         ? neighbors_.learn(p.iface, net::be32(arp.spa), arp.sha, now)
                         : neighbors_.update(p.iface, net::be32(arp.spa), arp.sha, now);
      if (changed) publish_view();
      return;
    }
    case dp::PuntReason::Resolve:
      for (auto& frame : neighbors_.resolve(p.out_iface, p.nexthop,
                                            std::vector<uint8_t>(p.frame.begin(), p.frame.end()), now))
        io_.send(p.out_iface, frame);
      return;
    case dp::PuntReason::Pfsync:  // state sync arrives with its own issue
    case dp::PuntReason::None:
    case dp::PuntReason::Count:
      ++control_drops_;
      return;
  }
}

void Node::apply(const carp::Output& out) {
  for (const auto& f : out.frames) {
    int idx = iface_index(f.interface);
    if (idx >= 0) io_.send(unsigned(idx), f.bytes);
  }
  if (out.transitions.empty()) return;
  for (const auto& t : out.transitions)
    log_event(t.interface + " vhid " + std::to_string(t.vhid) + ": " + carp::state_name(t.from) + " -> " +
              carp::state_name(t.to) + " (" + t.reason + ")");
  publish_view();
}

void Node::publish_view() {
  auto v = std::make_unique<dp::View>(base_);
  for (const auto& s : carp_.status()) {
    if (s.state != carp::State::Master) continue;
    int idx = iface_index(s.interface);
    if (idx < 0) continue;
    for (const auto& a : s.addresses)
      if (a.is_v4())
        v->vips.push_back(dp::VipView{.addr = a.v4(), .iface = uint8_t(idx), .vhid = s.vhid,
                                      .vmac = net::Mac::virtual_for(s.vhid)});
  }
  auto entries = neighbors_.entries();
  v->neighbors = dp::NeighborTable::build(entries);
  v->generation = ++generation_;
  io_.publish(std::move(v));
}

void Node::log_event(std::string message) {
  int64_t ms = unix_ms_now();
  std::fprintf(stderr, "%s hafwd[%s]: %s\n", iso8601(ms).c_str(), cfg_.node.name.c_str(), message.c_str());
  events_.push_back(Event{ms, std::move(message)});
  if (events_.size() > kMaxEvents) events_.pop_front();
}

unsigned Node::demotion() const {
  unsigned d = 0;
  for (const auto& s : carp_.status()) d = std::max<unsigned>(d, s.demotion);
  return d;
}

int Node::iface_index(std::string_view name) const {
  for (size_t i = 0; i < cfg_.interfaces.size(); ++i)
    if (cfg_.interfaces[i].name == name) return int(i);
  return -1;
}

// ---------------------------------------------------------------- commands

json Node::carp_json() const {
  json vhids = json::array();
  for (const auto& s : carp_.status()) {
    json addrs = json::array();
    for (const auto& a : s.addresses) addrs.push_back(a.str());
    vhids.push_back({{"interface", s.interface},
                     {"vhid", s.vhid},
                     {"state", carp::state_name(s.state)},
                     {"advbase", s.advbase},
                     {"advskew", s.advskew},
                     {"demotion", s.demotion},
                     {"addresses", addrs},
                     {"adverts_sent", s.adverts_sent},
                     {"adverts_received", s.adverts_received},
                     {"last_transition", s.last_transition_reason}});
  }
  return vhids;
}

json Node::status_json() const {
  json ifaces = json::array();
  for (size_t i = 0; i < cfg_.interfaces.size(); ++i) {
    const auto& ifc = cfg_.interfaces[i];
    auto st = io_.iface_status(unsigned(i));
    ifaces.push_back({{"name", ifc.name},
                      {"port", ifc.port},
                      {"mac", io_.mac(unsigned(i)).str()},
                      {"address", ifc.address.str()},
                      {"link", st.link_up ? "up" : "down"},
                      {"rx_packets", st.rx_packets},
                      {"tx_packets", st.tx_packets}});
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - started_).count();
  return {{"node", {{"name", cfg_.node.name},
                    {"role", cfg_.node.role == config::Role::Primary ? "primary" : "secondary"}}},
          {"uptime_s", uptime},
          {"maintenance", maintenance_},
          {"demotion", demotion()},
          {"interfaces", ifaces},
          {"carp", carp_json()}};
}

json Node::stats_json() const {
  auto c = io_.counters();
  json drops = json::object(), punts = json::object();
  for (size_t i = 0; i < c.drops.size(); ++i) drops[dp::drop_reason_name(dp::DropReason(i))] = c.drops[i];
  for (size_t i = 0; i < c.punts.size(); ++i) punts[dp::punt_reason_name(dp::PuntReason(i))] = c.punts[i];
  json carp_drops = json::object();
  const auto& cs = carp_.stats();
  for (size_t i = 0; i < cs.drops.size(); ++i) carp_drops[carp::drop_name(carp::Drop(i))] = cs.drops[i];
  return {{"dataplane", {{"rx", c.rx},
                         {"tx", c.tx},
                         {"tx_full", c.tx_full},
                         {"to_control", c.to_control},
                         {"control_ring_full", c.ring_full},
                         {"drops", drops},
                         {"punts", punts}}},
          {"carp", {{"drops", carp_drops}}},
          {"control", {{"unusable_punts", control_drops_}}}};
}

json Node::handle(std::string_view cmd, const json& args) {
  if (cmd == "status") return status_json();
  if (cmd == "carp.status")
    return {{"maintenance", maintenance_}, {"demotion", demotion()}, {"vhids", carp_json()}};
  if (cmd == "stats") return stats_json();
  if (cmd == "events") {
    json ev = json::array();
    for (const auto& e : events_) ev.push_back({{"time", iso8601(e.unix_ms)}, {"message", e.message}});
    return {{"events", ev}};
  }
  if (cmd == "carp.maintenance") {
    if (!args.contains("enter") || !args["enter"].is_boolean())
      throw control::CommandError("carp.maintenance needs {\"enter\": true|false}");
    bool on = args["enter"].get<bool>();
    if (on != maintenance_) {
      maintenance_ = on;
      log_event(on ? "entering maintenance mode" : "leaving maintenance mode");
      persist_maintenance();
      apply(carp_.set_maintenance(on, clock_.now()));
    }
    return handle("carp.status", {});
  }
  throw control::CommandError("unknown command '" + std::string(cmd) + "'");
}

}  // namespace hafw
