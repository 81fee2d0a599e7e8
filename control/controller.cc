#include "control/controller.h"

#include "dataplane/net/ipv6.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include "control/compile.h"
#include "control/config_sync.h"
#include "control/log.h"
#include "control/socket.h"

#include <openssl/evp.h>

namespace hafw::control {

using nlohmann::json;

namespace {

// An event of the config subsystem (reloads and config sync) for the
// structured log: `source` is who asked (a file and how, or the sync peer).
Event config_event(std::string message, const char* kind, const std::string& source, bool warning) {
  return Event{.unix_ms = 0,
               .message = std::move(message),
               .subsys = "config",
               .kind = kind,
               .fields = {{"source", source}},
               .warning = warning};
}

constexpr size_t kMaxEvents = 1000;  // enough for days of flapping; bounded memory

// How often link status is read: rte_eth_link_get_nowait is a register read
// on real NICs, and 100 ms bounds how long a dead link can keep a VIP here.
constexpr Time kLinkPoll = std::chrono::milliseconds(100);

// The reaper visits the whole index once per period, spread over the
// control loop's steps: an expired state leaves the table within about a
// second of its expiry, and no step scans more than its share (at a million
// states, about 220 buckets per 1 ms step).
constexpr Time kSweepPeriod = std::chrono::seconds(1);

// states.list: at most this many states per reply, and at most this many
// looked at to find them (the control thread also runs CARP's timers).
constexpr size_t kMaxListed = 10000;
constexpr size_t kMaxScanned = 1u << 20;

uint32_t table_seconds(Time t) { return uint32_t(std::chrono::duration_cast<std::chrono::seconds>(t).count()); }

constexpr const char* kOperatorCause = "operator";
constexpr const char* kSyncLinkCause = "sync link down";
constexpr const char* kBulkCause = "bulk sync pending";
std::string link_cause(const std::string& iface) { return "link down: " + iface; }

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


std::vector<net::Mac> port_macs(const dp::PacketIo& io) {
  std::vector<net::Mac> macs;
  for (unsigned i = 0; i < io.iface_count(); ++i) macs.push_back(io.mac(i));
  return macs;
}

// pfsync's ruleset checksum: both nodes hash the same rules and NAT the
// same way, so equal sums mean a rule number names the same rule on both.
// (pf uses MD5 over its ruleset; any digest that both ends compute alike
// serves: SHA-256 cut to the 16 bytes of the field.)
std::array<uint8_t, 16> ruleset_checksum(const json& running) {
  std::string text;
  if (running.contains("rules")) text += running["rules"].dump();
  text += '\n';
  if (running.contains("nat")) text += running["nat"].dump();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), md, out.size());
  return out;
}

// Where traffic to `dst` leaves, and the neighbour it is handed to there:
// the route's gateway, or dst itself on a connected net. nullopt: no route.
struct NextHop {
  uint8_t iface;
  net::IpAddr addr;
};
std::optional<NextHop> next_hop(const dp::Topology& t, const net::IpAddr& dst) {
  if (dst.is_v4()) {
    const dp::RouteView* r = t.route(dst.v4());
    if (!r) return std::nullopt;
    return NextHop{r->iface, r->gateway ? net::IpAddr::v4(r->gateway) : dst};
  }
  const dp::RouteView6* r = t.route6(dst.b.data());
  if (!r) return std::nullopt;
  NextHop h{r->iface, dst};
  if (!net::is_unspecified6(r->gateway.data())) std::memcpy(h.addr.b.data(), r->gateway.data(), 16);
  return h;
}

}  // namespace

// The running config with its secrets (CARP passwords, the sync key)
// replaced: `hafwctl config` output ends up in tickets and chat.
json redacted(json cfg) {
  constexpr const char* kHidden = "(hidden)";
  if (cfg.contains("carp") && cfg["carp"].is_object() && cfg["carp"].contains("vips") &&
      cfg["carp"]["vips"].is_array())
    for (auto& v : cfg["carp"]["vips"])
      if (v.is_object() && v.contains("password")) v["password"] = kHidden;
  if (cfg.contains("sync") && cfg["sync"].is_object() && cfg["sync"].contains("key")) cfg["sync"]["key"] = kHidden;
  return cfg;
}

// Every member of a counter table as {"name": value}.
template <class E, size_t N, class Values>
json named_json(const std::array<net::Named<E>, N>& table, const Values& values) {
  json out = json::object();
  for (size_t i = 0; i < N; ++i) out[table[i].name] = values[i];
  return out;
}

Controller::Controller(config::Config cfg, json running, dp::PacketIo& io, const Clock& clock)
    : cfg_(std::move(cfg)),
      running_(std::move(running)),
      io_(io),
      clock_(clock),
      carp_(compile_vhids(cfg_, port_macs(io))),
      neighbors_(compile_topology(cfg_, port_macs(io)).ifaces) {
  if (cfg_.sync) {
    const int idx = iface_index(cfg_.sync->interface);
    if (idx >= 0 && cfg_.sync->peer.is_v4()) {
      SyncSettings s{.iface = unsigned(idx),
                     .local = cfg_.interfaces[size_t(idx)].address.addr,
                     .peer = cfg_.sync->peer,
                     .key = cfg_.sync->key,
                     // The seal's sequence starts at the wall clock in µs: a
                     // restarted node goes on above every number it used.
                     .first_seq = uint64_t(unix_ms_now()) * 1000,
                     .ruleset = ruleset_checksum(running_),
                     .rule_count = uint16_t(cfg_.rules.size()),
                     .config = config_sync_role()};
      sync_ = std::make_unique<Sync>(std::move(s), io_, neighbors_, [this](const char* kind, std::string m) {
        log_event(Event{.unix_ms = 0, .message = std::move(m), .subsys = "sync", .kind = kind, .fields = {},
                        .warning = false});
      });
      sync_->set_new_state_hook([this](const net::FlowKey& k) { warm_neighbors(k, clock_.now()); });
    }
  }
}

bool Controller::is_own_address(const net::IpAddr& a) const {
  for (const auto& i : cfg_.interfaces)
    if (i.address.addr == a || (i.address6 && i.address6->addr == a)) return true;
  for (const auto& v : cfg_.carp.vips)
    for (const auto& x : v.addresses)
      if (x == a) return true;
  return false;
}

void Controller::warm_neighbors(const net::FlowKey& key, Time now) {
  const dp::Topology* topo = io_.snapshots().load().topo;
  if (!topo) return;
  for (const auto* bytes : {&key.src, &key.dst}) {
    net::IpAddr host{key.af, {}};
    std::memcpy(host.b.data(), bytes->data(), key.af == net::Family::V4 ? 4 : 16);
    if (is_own_address(host)) continue;
    if (!host.is_v4() && (net::is_multicast6(host.b.data()) || net::is_link_local6(host.b.data()))) continue;
    const std::optional<NextHop> hop = next_hop(*topo, host);
    if (!hop || neighbors_.find(hop->iface, hop->addr)) continue;
    for (auto& frame : neighbors_.want(hop->iface, hop->addr, now)) {
      ++neighbors_warmed_;
      io_.send(hop->iface, frame);
    }
  }
}

void Controller::start() {
  started_ = clock_.now();
  last_sweep_ = started_;
  log_event("node " + cfg_.node.name + " starting (" +
            (cfg_.node.role == config::Role::Primary ? "primary" : "secondary") + ")");
  publish_topology();
  publish_policy();
  publish_owned_vips();
  publish_neighbors();
  apply(carp_.start(clock_.now()));
  poll_links(clock_.now());
  if (sync_) {
    // OpenBSD's interlock: a node that has not got the peer's states yet
    // must not win MASTER.
    sync_->start(clock_.now());
    follow_bulk();
    push_config();
  }
  // Persistent maintenance (pfSense): a node the operator took out stays out
  // across restarts and reboots until the operator says otherwise.
  if (std::filesystem::exists(maintenance_path())) {
    maintenance_ = true;
    log_event("maintenance mode persists from before the restart (" + maintenance_path() + ")");
    apply(carp_.set_maintenance(true, clock_.now()));
  }
  flush();
}

void Controller::publish_topology() {
  auto topology = std::make_unique<dp::Topology>(compile_topology(cfg_, port_macs(io_)));
  for (size_t i = 0; i < topology->ifaces.size(); ++i) topology->ifaces[i].tx_ip_csum = io_.tx_ip_checksum(unsigned(i));
  io_.snapshots().publish(std::unique_ptr<const dp::Topology>(std::move(topology)));
}

void Controller::publish_policy() {
  io_.snapshots().publish(std::unique_ptr<const dp::Policy>(
      compile_policy(cfg_, io_.states(), cfg_.dataplane.workers)));
}

std::string Controller::maintenance_path() const { return cfg_.control.state_dir + "/maintenance"; }

void Controller::persist_maintenance() {
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

bool Controller::step() {
  // Before the drain: the punts poll() hands over include every advert that
  // reached a port before `heard` (a master-down timeout waits for it).
  const Time heard = io_.received_through();
  bool worked = io_.poll([this](const dp::Punt& p) { on_punt(p); }) > 0;
  Time now = clock_.now();
  if (carp_.next_deadline() <= now) {
    apply(carp_.poll(now, heard));
    worked = true;
  }
  if (now >= next_link_poll_) {
    poll_links(now);
    resolve_unicast_peers(now);
    read_vmac_counts(now);
  }
  neighbors_.expire(now);
  for (auto& [iface, frame] : neighbors_.due_requests(now)) io_.send(iface, frame);
  flush();
  // Held packets go out once the workers can forward their successors too.
  for (auto& [iface, frame] : neighbors_.take_ready()) {
    io_.send(iface, frame);
    worked = true;
  }
  if (sync_) {
    worked |= sync_->step(now);
    follow_bulk();
    if (auto text = sync_->take_config()) {
      on_synced_config(*text);
      worked = true;
    }
  }
  reap(now);
  if (io_.snapshots().rcu().reclaim() > 0) worked = true;
  return worked;
}

ConfigSyncRole Controller::config_sync_role() const {
  if (!cfg_.sync) return ConfigSyncRole::Off;
  if (cfg_.node.role == config::Role::Secondary) return ConfigSyncRole::Accept;
  return cfg_.sync->config_sync ? ConfigSyncRole::Push : ConfigSyncRole::Off;
}

void Controller::push_config() {
  if (sync_) sync_->push_config(running_.dump(), clock_.now());
}

void Controller::on_synced_config(const std::string& text) {
  const std::string from = "config sync from " + cfg_.sync->peer.str();
  // One event per distinct outcome: the primary pushes again every 10 s, and
  // a refusal repeats until someone fixes a node.
  auto event = [&](const char* kind, const std::string& m, bool warning) {
    if (m == config_sync_last_) return;
    config_sync_last_ = m;
    log_event(config_event(from + ": " + m, kind, from, warning));
  };
  config::SyncedConfig c = config::from_primary(text, running_, cfg_);
  if (!c.ok()) {
    sync_->config_refused(c.interface_order ? ConfigRefusal::InterfaceOrder : ConfigRefusal::Invalid);
    return event("sync_refused", "refused: " + c.refused, true);
  }
  if (c.json == running_) {
    sync_->config_unchanged();
    return event("sync_unchanged", "unchanged: this node already runs it", false);
  }
  // Atomic: applied whole or refused whole (apply_config logs which, and
  // what changed).
  const ApplyResult r = apply_config(*c.config, c.json, from);
  if (!r.ok) {
    sync_->config_refused(ConfigRefusal::Apply);
    std::string why;
    for (const auto& d : r.diagnostics)
      if (d.is_error()) why += (why.empty() ? "" : "; ") + d.str();
    return event("sync_refused", "refused: " + why, true);
  }
  sync_->config_applied();
  // VIPs made by hand here: the primary's replaced them (pfSense warns that
  // such duplicates conflict).
  if (!c.local_vips.empty()) {
    std::string list;
    for (const auto& v : c.local_vips) list += (list.empty() ? "" : "; ") + v;
    log_event(config_event(from + ": duplicate/local VIPs: " + list, "sync_local_vips", from, true));
  }
  std::string vips;
  for (const auto& v : c.config->carp.vips)
    vips += (vips.empty() ? "" : ", ") + v.interface + " vhid " + std::to_string(v.vhid) + " advskew " +
            std::to_string(v.advskew);
  config_sync_last_.clear();  // every configuration applied is an event of its own
  log_event(config_event(from + ": applied (" + vips + ")", "sync_applied", from, false));
}

void Controller::follow_bulk() {
  const int want = sync_ && sync_->bulk_pending() ? carp::Demotion::kBulkPending : 0;
  if (demotion_.get(kBulkCause) != want) set_demotion_cause(kBulkCause, want);
}

void Controller::reap(Time now) {
  dp::StateTable& t = io_.states();
  if (now <= last_sweep_) return;
  const uint64_t share = uint64_t(t.bucket_count()) * uint64_t((now - last_sweep_).count()) /
                         uint64_t(kSweepPeriod.count());
  if (share == 0) return;  // less than one bucket's worth: let it add up
  last_sweep_ = now;
  states_reaped_ += t.sweep(table_seconds(now), size_t(std::min<uint64_t>(share, t.bucket_count())),
                            io_.snapshots().rcu());
}

void Controller::shutdown() {
  log_event("node " + cfg_.node.name + " shutting down");
  apply(carp_.shutdown(clock_.now()));
  flush();
}

// ---------------------------------------------------------- config reload

std::string ApplyResult::lines() const {
  std::string out;
  for (const auto& d : diagnostics) out += d.str() + "\n";
  return out;
}

namespace {

// "1 change", "2 errors".
std::string count_of(size_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// At most this many errors are spelled out in the event (the reply has them all).
constexpr size_t kEventErrors = 3;

}  // namespace

ApplyResult Controller::rejected(ApplyResult r, const std::string& source) {
  r.ok = false;
  std::string errors;
  size_t n = 0;
  for (const auto& d : r.diagnostics) {
    if (!d.is_error()) continue;
    if (++n <= kEventErrors) errors += (errors.empty() ? "" : "; ") + d.path + ": " + d.message;
  }
  if (n > kEventErrors) errors += "; and " + std::to_string(n - kEventErrors) + " more";
  Event rejected = config_event("config rejected: " + count_of(n, "error") + " (" + errors + ") from " + source +
                                    "; the running config stays",
                                "rejected", source, true);
  rejected.fields.emplace_back("errors", std::to_string(n));
  log_event(std::move(rejected));
  return r;
}

ApplyResult Controller::apply_config_text(std::string_view text, const std::string& source) {
  config::LoadResult parsed = config::parse(text);
  ApplyResult r;
  r.diagnostics = std::move(parsed.diagnostics);
  if (!parsed.ok()) return rejected(std::move(r), source);
  // The text has just parsed as JSON without duplicate keys.
  json running = json::parse(text);
  ApplyResult applied = apply_config(*parsed.config, std::move(running), source);
  // The parser's warnings first, as hafwctl check prints them.
  applied.diagnostics.insert(applied.diagnostics.begin(), r.diagnostics.begin(), r.diagnostics.end());
  return applied;
}

ApplyResult Controller::reload_file(const std::string& path, const std::string& via) {
  const std::string source = path + " (" + via + ")";
  std::string text;
  config::LoadResult loaded = config::load(path, &text);
  if (!loaded.ok()) {
    ApplyResult r;
    r.diagnostics = std::move(loaded.diagnostics);
    return rejected(std::move(r), source);
  }
  return apply_config_text(text, source);
}

ApplyResult Controller::apply_config(const config::Config& next, json running, const std::string& source) {
  ApplyResult r;
  r.diagnostics = config::check_reload(cfg_, next);
  if (!r.diagnostics.empty()) return rejected(std::move(r), source);

  // Nothing below can refuse: from here the new config is the running one.
  const Time now = clock_.now();
  const config::Config was = std::exchange(cfg_, next);
  running_ = std::move(running);
  auto& changes = r.changes;
  auto on_off = [](bool b) { return std::string(b ? "on" : "off"); };

  for (size_t i = 0; i < cfg_.interfaces.size(); ++i)
    if (was.interfaces[i] != cfg_.interfaces[i]) changes.push_back("interface " + cfg_.interfaces[i].name);
  if (was.routes != cfg_.routes)
    changes.push_back("routes (" + std::to_string(was.routes.size()) + " -> " + std::to_string(cfg_.routes.size()) + ")");
  const bool vips_changed = was.carp.vips != cfg_.carp.vips;
  if (was.interfaces != cfg_.interfaces || was.routes != cfg_.routes || vips_changed) {
    publish_topology();
    // Entries on an interface whose address changed are forgotten.
    neighbors_.set_ifaces(compile_topology(cfg_, port_macs(io_)).ifaces);
  }

  if (was.rules != cfg_.rules)
    changes.push_back("rules (" + std::to_string(was.rules.size()) + " -> " + std::to_string(cfg_.rules.size()) + ")");
  if (was.nat != cfg_.nat) changes.push_back("nat");
  if (was.dataplane.timeouts != cfg_.dataplane.timeouts) changes.push_back("dataplane.timeouts");
  if (was.rules != cfg_.rules || was.nat != cfg_.nat || was.dataplane.timeouts != cfg_.dataplane.timeouts) {
    // New connections meet the new rules; the states already in the table
    // stay, as pf's do across a ruleset load.
    publish_policy();
    if (sync_ && (was.rules != cfg_.rules || was.nat != cfg_.nat))
      sync_->set_ruleset(ruleset_checksum(running_), uint16_t(cfg_.rules.size()), now);
  }
  if (cfg_.sync && was.sync->config_sync != cfg_.sync->config_sync)
    changes.push_back("sync.config_sync " + on_off(cfg_.sync->config_sync));

  if (was.carp.preempt != cfg_.carp.preempt) changes.push_back("carp.preempt " + on_off(cfg_.carp.preempt));
  carp::Carp::Conditions c{.demotion = uint8_t(std::min(demotion(), 255u)), .maintenance = maintenance_};
  for (size_t i = 0; i < link_up_.size() && i < cfg_.interfaces.size(); ++i)
    if (!link_up_[i]) c.links_down.push_back(cfg_.interfaces[i].name);
  std::vector<carp::Carp::VhidChange> moved;
  apply(carp_.reconfigure(compile_vhids(cfg_, port_macs(io_)), c, now, moved));
  for (const auto& m : moved)
    changes.push_back(m.interface + " vhid " + std::to_string(m.vhid) + " " +
                      (m.kind == carp::Carp::VhidChange::Kind::Added     ? "added"
                       : m.kind == carp::Carp::VhidChange::Kind::Removed ? "removed"
                                                                         : "changed"));
  if (vips_changed && moved.empty()) changes.push_back("carp.vips descriptions or order");
  refresh_link_causes();
  resolve_unicast_peers(now);
  vips_dirty_ = true;
  flush();

  r.ok = true;
  std::string list;
  for (const auto& ch : changes) list += (list.empty() ? "" : "; ") + ch;
  Event applied = config_event(
      "config applied: " + (changes.empty() ? std::string("no changes") : count_of(changes.size(), "change") + " (" + list + ")") +
          " from " + source,
      "applied", source, false);
  applied.fields.emplace_back("changes", std::to_string(changes.size()));
  log_event(std::move(applied));
  // Config sync: the primary pushes what it now runs (sync.config_sync may
  // have just been turned on or off).
  if (sync_) {
    sync_->set_config_role(config_sync_role());
    push_config();
  }
  return r;
}

void Controller::refresh_link_causes() {
  for (size_t i = 0; i < link_up_.size() && i < cfg_.interfaces.size(); ++i) {
    if (link_up_[i]) continue;
    const std::string& name = cfg_.interfaces[i].name;
    bool has_vhid = false;
    for (const auto& v : cfg_.carp.vips) has_vhid = has_vhid || v.interface == name;
    const int want = has_vhid ? carp::Demotion::kLinkDown : 0;
    if (demotion_.get(link_cause(name)) != want) set_demotion_cause(link_cause(name), want);
  }
}

json Controller::reload_json(const json& args) {
  for (const auto& [key, value] : args.items())
    if (key != "path" && key != "config")
      throw CommandError("config.reload: unknown argument \"" + key + "\" (\"path\" or \"config\")");
  ApplyResult r;
  std::string source;
  if (args.contains("config")) {
    if (args.contains("path")) throw CommandError("config.reload: give \"path\" or \"config\", not both");
    if (!args["config"].is_object()) throw CommandError("config.reload: \"config\" must be a JSON object (a node's config)");
    source = "an inline config (config.reload)";
    r = apply_config_text(args["config"].dump(), source);
  } else {
    source = config_file_;
    if (args.contains("path")) {
      if (!args["path"].is_string() || args["path"].get<std::string>().empty())
        throw CommandError("config.reload: \"path\" must be a file name");
      source = args["path"].get<std::string>();
      // The daemon's working directory is not the operator's.
      if (source.front() != '/') throw CommandError("config.reload: \"path\" must be absolute, got \"" + source + "\"");
    }
    if (source.empty())
      throw CommandError("config.reload: this daemon was not started from a file; give {\"path\": ...}");
    r = reload_file(source, "config.reload");
  }
  // The reply to a refused config is exactly what hafwctl check prints.
  if (!r.ok) {
    std::string lines = r.lines();
    if (!lines.empty() && lines.back() == '\n') lines.pop_back();
    throw CommandError(lines);
  }
  json warnings = json::array();
  for (const auto& d : r.diagnostics) warnings.push_back(d.str());
  return {{"applied", true}, {"source", source}, {"changes", r.changes}, {"warnings", warnings}};
}

void Controller::on_punt(const dp::Punt& p) {
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
      if (arp.op == net::be16(net::kArpReply))
        neighbors_.learn(p.iface, net::be32(arp.spa), arp.sha, now);
      else
        neighbors_.update(p.iface, net::be32(arp.spa), arp.sha, now);
      return;
    }
    case dp::PuntReason::Resolve: {
      net::IpAddr hop = net::IpAddr::v4(p.nexthop);
      if (p.frame.size() >= sizeof(net::EthHdr) + sizeof(net::Ipv6Hdr) &&
          net::load16(p.frame.data() + 12) == net::be16(net::kEtherTypeIpv6)) {
        // IPv6: the worker sends its route's index; route the destination
        // again on the topology we published (it may be newer than the
        // worker's, and an index would then name another route).
        const dp::Topology* topo = io_.snapshots().load().topo;
        net::IpAddr dst{net::Family::V6, {}};
        std::memcpy(dst.b.data(), p.frame.data() + sizeof(net::EthHdr) + 24, 16);
        const std::optional<NextHop> h = topo ? next_hop(*topo, dst) : std::nullopt;
        if (!h) {
          ++control_drops_;
          return;
        }
        hop = h->addr;
      }
      for (auto& frame :
           neighbors_.resolve(p.out_iface, hop, std::vector<uint8_t>(p.frame.begin(), p.frame.end()), now))
        io_.send(p.out_iface, frame);
      return;
    }
    case dp::PuntReason::Nd:
      return on_nd(p, now);
    case dp::PuntReason::Pfsync:
      if (sync_) return sync_->receive(p, now);
      ++control_drops_;
      return;
    case dp::PuntReason::Count:
      ++control_drops_;
      return;
  }
}

// Neighbor Discovery the workers checked (RFC 4861 §7.1): an advertisement
// teaches the target's MAC (its target link-layer option, or the frame's
// source without one), as an ARP reply does; a solicited one creates the
// entry, an unsolicited one only refreshes ours (as unsolicited ARP). Another
// host's solicitation only refreshes its sender's entry.
void Controller::on_nd(const dp::Punt& p, Time now) {
  constexpr size_t kAt = sizeof(net::EthHdr) + sizeof(net::Ipv6Hdr);
  if (p.frame.size() < kAt + 24) {
    ++control_drops_;
    return;
  }
  const uint8_t* ip = p.frame.data() + sizeof(net::EthHdr);
  const uint8_t* m = p.frame.data() + kAt;
  const size_t len = std::min<size_t>(p.frame.size() - kAt, net::be16(net::load16(ip + 4)));
  const bool advert = m[0] == net::kNdNeighborAdvert;
  net::Mac lla;
  std::memcpy(lla.b.data(), p.frame.data() + 6, 6);  // eth src
  const uint8_t want = advert ? net::kNdOptTargetLla : net::kNdOptSourceLla;
  bool has_option = false;
  for (size_t o = 24; o + 8 <= len && m[o + 1] != 0; o += size_t(m[o + 1]) * 8) {
    if (m[o] == want) {
      std::memcpy(lla.b.data(), m + o + 2, 6);
      has_option = true;
    }
  }
  net::IpAddr who{net::Family::V6, {}};
  std::memcpy(who.b.data(), advert ? m + 8 : ip + 8, 16);
  if (!advert) {
    if (has_option) neighbors_.update(p.iface, who, lla, now);
    return;
  }
  if (m[4] & net::kNaSolicited) neighbors_.learn(p.iface, who, lla, now);
  else neighbors_.update(p.iface, who, lla, now);
}

void Controller::apply(const carp::Output& out) {
  for (const auto& f : out.frames) {
    int idx = iface_index(f.interface);
    if (idx >= 0) io_.send(unsigned(idx), f.bytes);
  }
  // Notices are what CARP detected on the wire (split brain, bad HMACs).
  for (const auto& n : out.notices) log_event(Event{.unix_ms = 0, .message = n, .subsys = "carp", .kind = "notice",
                                                    .fields = {}, .warning = true});
  for (const auto& t : out.transitions)
    log_event(Event{.unix_ms = 0,
                    .message = t.interface + " vhid " + std::to_string(t.vhid) + ": " + carp::state_name(t.from) +
                               " -> " + carp::state_name(t.to) + " (" + t.reason + ")",
                    .subsys = "carp",
                    .kind = "state_change",
                    .fields = {{"vhid", std::to_string(t.vhid)},
                               {"iface", t.interface},
                               {"from", carp::state_name(t.from)},
                               {"to", carp::state_name(t.to)},
                               {"reason", t.reason}},
                    .warning = false});
  if (!out.transitions.empty()) vips_dirty_ = true;
}

void Controller::publish_owned_vips() {
  auto owned = std::make_unique<dp::VipSet>();
  for (const auto& st : carp_.status()) {
    if (st.state != carp::State::Master) continue;
    int idx = iface_index(st.interface);
    if (idx < 0) continue;
    for (const auto& a : st.addresses)
      if (a.is_v4())
        owned->vips.push_back(dp::VipView{.addr = a.v4(), .iface = uint8_t(idx), .vhid = st.vhid,
                                          .vmac = net::Mac::virtual_for(st.vhid)});
      else
        owned->vips6.push_back(dp::VipView6{.addr = a.b, .iface = uint8_t(idx), .vhid = st.vhid,
                                            .vmac = net::Mac::virtual_for(st.vhid)});
  }
  io_.snapshots().publish(std::unique_ptr<const dp::VipSet>(std::move(owned)));
  vips_dirty_ = false;
}

void Controller::publish_neighbors() {
  const auto entries = neighbors_.entries();
  const auto entries6 = neighbors_.entries6();
  io_.snapshots().publish(std::make_unique<const dp::NeighborTable>(dp::NeighborTable::build(entries, entries6)));
  neighbors_published_ = neighbors_.version();
}

void Controller::flush() {
  if (vips_dirty_) publish_owned_vips();
  if (neighbors_.version() != neighbors_published_) publish_neighbors();
}

void Controller::log_event(std::string message) { log_event(Event{.unix_ms = 0, .message = std::move(message)}); }

void Controller::log_event(Event e) {
  e.unix_ms = unix_ms_now();
  // One structured line on stderr (the journal under systemd).
  std::fprintf(stderr, "%s\n", logfmt(e, cfg_.node.name).c_str());
  events_.push_back(std::move(e));
  if (events_.size() > kMaxEvents) events_.pop_front();
  for (const auto& sink : sinks_) sink(events_.back());
}

unsigned Controller::demotion() const { return demotion_.total(); }

void Controller::poll_links(Time now) {
  next_link_poll_ = now + kLinkPoll;
  link_up_.resize(cfg_.interfaces.size(), true);
  for (size_t i = 0; i < cfg_.interfaces.size(); ++i) {
    const bool up = io_.iface_status(unsigned(i)).link_up;
    if (up == link_up_[i]) continue;
    link_up_[i] = up;
    const std::string& name = cfg_.interfaces[i].name;
    log_event(Event{.unix_ms = 0, .message = name + ": link " + (up ? "up" : "down"), .subsys = "link",
                    .kind = up ? "link_up" : "link_down", .fields = {{"iface", name}}, .warning = !up});
    apply(carp_.set_link(name, up, now));
    const bool is_sync = cfg_.sync && cfg_.sync->interface == name;
    if (is_sync) {
      set_demotion_cause(kSyncLinkCause, up ? 0 : carp::Demotion::kSyncLinkDown);
      if (sync_) {
        sync_->set_link(up, now);
        follow_bulk();
      }
    }
    // OpenBSD demotes for a carp interface whose parent link is down; an
    // interface without VHIDs (other than sync) moves nothing. With
    // carp.demotion_scope "interface" only that interface's VHIDs move (to
    // INIT, above); the others stay, and Carp reports the split master.
    bool has_vhid = false;
    for (const auto& v : cfg_.carp.vips) has_vhid = has_vhid || v.interface == name;
    if (has_vhid && cfg_.carp.demotion_scope == config::DemotionScope::Node)
      set_demotion_cause(link_cause(name), up ? 0 : carp::Demotion::kLinkDown);
  }
}

// Unicast CARP (carp.vips[].peer): adverts go to the peer's address, and to
// its MAC once ARP has found it (Ethernet broadcast until then). Re-checked
// with the link poll, so a peer whose MAC changes is followed.
// An IPv6 peer is found the same way, by Neighbor Solicitation.
void Controller::resolve_unicast_peers(Time now) {
  for (const auto& v : cfg_.carp.vips) {
    if (!v.peer) continue;
    const int idx = iface_index(v.interface);
    if (idx < 0) continue;
    if (const net::Mac* mac = neighbors_.find(uint8_t(idx), *v.peer)) {
      carp_.set_peer_mac(*v.peer, *mac);
      continue;
    }
    for (auto& frame : neighbors_.want(uint8_t(idx), *v.peer, now)) io_.send(unsigned(idx), frame);
  }
}

void Controller::read_vmac_counts(Time now) {
  const dp::Counters c = io_.counters();
  for (size_t vhid = 0; vhid < c.vmac_from_other.size(); ++vhid) {
    const uint64_t n = c.vmac_from_other[vhid];
    if (n == vmac_from_other_[vhid]) continue;
    apply(carp_.note_vmac_from_other(uint8_t(vhid), n - vmac_from_other_[vhid], now));
    vmac_from_other_[vhid] = n;
  }
}

void Controller::set_demotion_cause(const std::string& cause, int value) {
  if (!demotion_.set(cause, value)) {
    if (value != 0) log_event("demotion cause '" + cause + "' " + std::to_string(value) + " (no change in total)");
    return;
  }
  std::string why;
  for (const auto& [c, v] : demotion_.causes()) why += (why.empty() ? "" : ", ") + c + " " + std::to_string(v);
  log_event(Event{.unix_ms = 0,
                  .message = "demotion " + std::to_string(demotion_.total()) + (why.empty() ? "" : " (" + why + ")"),
                  .subsys = "carp",
                  .kind = "demotion",
                  .fields = {{"demotion", std::to_string(demotion_.total())}, {"causes", why}},
                  .warning = false});
  apply(carp_.set_demotion(demotion_.total(), clock_.now()));
}

int Controller::iface_index(std::string_view name) const {
  for (size_t i = 0; i < cfg_.interfaces.size(); ++i)
    if (cfg_.interfaces[i].name == name) return int(i);
  return -1;
}

// ---------------------------------------------------------------- commands

json Controller::carp_json() const {
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
                     {"bad_auth", s.bad_auth},
                     {"last_bad_auth_from", s.last_bad_auth_from},
                     {"masters_heard", s.masters_heard},
                     {"last_master_heard_from", s.last_master_heard_from},
                     {"vmac_from_other", s.vmac_from_other},
                     {"takeovers_held", s.takeovers_held},
                     {"takeovers_averted", s.takeovers_averted},
                     {"stalls_discounted", s.stalls_discounted},
                     {"last_transition", s.last_transition_reason},
                     {"transitions", s.transitions}});
  }
  return vhids;
}

json Controller::status_json() const {
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

void Controller::stats_json(json& out) const {
  const dp::Counters c = io_.counters();
  json dataplane = named_json(dp::kIoCounters, c.io);
  dataplane["drops"] = named_json(dp::kDropReasons, c.drops);
  dataplane["punts"] = named_json(dp::kPuntReasons, c.punts);
  dataplane["icmp"] = named_json(dp::kIcmpCounters, c.icmp);
  dataplane["states"] = named_json(dp::kStateCounters, c.states);
  dataplane["nat"] = named_json(dp::kNatCounters, c.nat);
  dataplane["carp"] = named_json(dp::kCarpCounters, c.carp);
  dataplane["snapshots_published"] = io_.snapshots().publications();
  out["dataplane"] = std::move(dataplane);
  const dp::StateTable& t = io_.states();
  out["state_table"] = {{"states", t.in_use()}, {"capacity", t.capacity()}, {"reaped", states_reaped_}};
  out["rules"] = rules_json();
  out["carp"] = {{"drops", named_json(carp::kDrops, carp_.stats().drops)}};
  out["control"]["unusable_punts"] = control_drops_;
  out["control"]["neighbors_warmed"] = neighbors_warmed_;
  if (sync_) out["sync"] = sync_->stats_json();
}

json Controller::carp_status_json() const {
  json causes = json::array();
  for (const auto& [c, v] : demotion_.causes()) causes.push_back({{"cause", c}, {"value", v}});
  const carp::Carp::Split& sp = carp_.split();
  const int64_t split_for =
      sp.active ? std::chrono::duration_cast<std::chrono::seconds>(clock_.now() - sp.since).count() : 0;
  return {{"maintenance", maintenance_},
          {"demotion", demotion()},
          {"demotion_causes", causes},
          {"demotion_scope", cfg_.carp.demotion_scope == config::DemotionScope::Node ? "node" : "interface"},
          {"split_master",
           {{"active", sp.active}, {"for_s", split_for}, {"reported", sp.times}, {"detail", sp.detail}}},
          {"vhids", carp_json()}};
}

json Controller::rules_json() const {
  json rules = json::array();
  const dp::Policy* pol = io_.snapshots().load().policy;
  for (size_t i = 0; i < cfg_.rules.size(); ++i) {
    const config::Rule& r = cfg_.rules[i];
    const dp::RuleTotals n = pol ? pol->totals(uint16_t(i)) : dp::RuleTotals{};
    rules.push_back({{"rule", i},
                     {"action", r.action == config::Action::Pass ? "pass" : "block"},
                     {"interface", r.interface},
                     {"direction", r.direction == config::Direction::In ? "in" : "out"},
                     {"evaluations", n.evaluations},
                     {"matches", n.matches},
                     {"packets", n.packets},
                     {"bytes", n.bytes}});
  }
  return rules;
}

json Controller::states_summary_json() const {
  const dp::StateTable& t = io_.states();
  const dp::Counters c = io_.counters();
  json timeouts = json::object();
  const dp::Policy* pol = io_.snapshots().load().policy;
  for (const auto& d : net::kTimeouts) timeouts[d.name] = pol ? pol->timeouts[size_t(d.id)] : d.seconds;
  return {{"states", t.in_use()},
          {"capacity", t.capacity()},
          {"memory_bytes", t.memory_bytes()},
          {"bytes_per_state", t.memory_bytes() / t.capacity()},
          {"created", c.states[size_t(dp::StateCounter::Created)]},
          {"reaped", states_reaped_},
          {"refused_full", c.drops[size_t(dp::DropReason::StateTableFull)]},
          {"timeouts", timeouts}};
}

namespace {

std::string proto_name(uint8_t p) {
  switch (p) {
    case net::kProtoTcp: return "tcp";
    case net::kProtoUdp: return "udp";
    case net::kProtoIcmp: return "icmp";
    default: return std::to_string(p);
  }
}

// pf's names for a side's progress.
std::string progress_name(uint8_t proto, uint8_t progress) {
  static constexpr const char* kTcp[] = {"CLOSED",  "LISTEN",     "SYN_SENT", "SYN_RCVD",    "ESTABLISHED", "CLOSE_WAIT",
                                         "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT"};
  static constexpr const char* kUdp[] = {"NO_TRAFFIC", "SINGLE", "MULTIPLE"};
  if (proto == net::kProtoTcp && progress < std::size(kTcp)) return kTcp[progress];
  if (proto != net::kProtoTcp && proto != net::kProtoIcmp && progress < std::size(kUdp)) return kUdp[progress];
  return std::to_string(progress);
}

std::string endpoint(const std::array<uint8_t, 16>& a, net::Family af, uint16_t port_n) {
  net::IpAddr ip;
  ip.af = af;
  ip.b = a;
  const std::string s = ip.str();
  return (af == net::Family::V6 ? "[" + s + "]" : s) + ":" + std::to_string(net::be16(port_n));
}

std::string hex(uint64_t v, int digits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

// A filter of states.list: an address (either end, or the translation), a
// port, a protocol.
struct StateFilter {
  std::optional<net::IpAddr> address;
  std::optional<uint16_t> port;  // host order
  std::optional<uint8_t> proto;

  static StateFilter parse(const json& args) {
    StateFilter f;
    if (args.contains("address")) {
      const json& a = args["address"];
      if (!a.is_string() || !(f.address = net::IpAddr::parse(a.get<std::string>())))
        throw CommandError("states.list: \"address\" must be an IPv4 or IPv6 address");
    }
    if (args.contains("port")) {
      const json& p = args["port"];
      if (!p.is_number_integer() || p.get<long long>() < 0 || p.get<long long>() > 65535)
        throw CommandError("states.list: \"port\" must be 0-65535");
      f.port = uint16_t(p.get<long long>());
    }
    if (args.contains("protocol")) {
      const json& p = args["protocol"];
      const std::string s = p.is_string() ? p.get<std::string>() : "";
      if (s == "tcp") f.proto = net::kProtoTcp;
      else if (s == "udp") f.proto = net::kProtoUdp;
      else if (s == "icmp") f.proto = net::kProtoIcmp;
      else throw CommandError("states.list: \"protocol\" must be tcp, udp or icmp");
    }
    return f;
  }

  bool keeps(const dp::StateTable& t, dp::StateIndex s) const {
    const net::FlowKey k0 = t.key(s, 0), k1 = t.key(s, 1);
    if (proto && k0.proto != *proto) return false;
    if (port) {
      const uint16_t n = net::be16(*port);
      if (k0.sport != n && k0.dport != n && k1.sport != n && k1.dport != n) return false;
    }
    if (address) {
      if (address->af != k0.af) return false;
      const auto& b = address->b;
      if (k0.src != b && k0.dst != b && k1.src != b && k1.dst != b) return false;
    }
    return true;
  }
};

}  // namespace

json Controller::state_json(dp::StateIndex i, uint32_t now_s) const {
  const dp::StateTable& t = io_.states();
  const dp::State& s = t.at(i);
  const net::FlowKey k0 = t.key(i, 0), k1 = t.key(i, 1);
  const dp::NatDelta nat = t.nat(i);
  json j = {{"id", hex(s.id, 16)},
            {"creator", hex(t.creator_id(s.creator), 8)},
            {"protocol", proto_name(k0.proto)},
            {"family", k0.af == net::Family::V4 ? 4 : 6},
            {"src", endpoint(k0.src, k0.af, k0.sport)},
            {"dst", endpoint(k0.dst, k0.af, k0.dport)},
            {"reply_src", endpoint(k1.src, k1.af, k1.sport)},
            {"reply_dst", endpoint(k1.dst, k1.af, k1.dport)}};
  if (nat.side == dp::NatSide::None) {
    j["nat"] = nullptr;
  } else {
    const bool src = nat.side == dp::NatSide::Src;
    j["nat"] = {{"side", src ? "source" : "destination"},
                {"to", src ? endpoint(k1.dst, k1.af, k1.dport) : endpoint(k1.src, k1.af, k1.sport)}};
  }
  const uint8_t p0 = dp::progress_of(s.peer[0].load(std::memory_order_relaxed));
  const uint8_t p1 = dp::progress_of(s.peer[1].load(std::memory_order_relaxed));
  j["state"] = progress_name(k0.proto, p0) + ":" + progress_name(k0.proto, p1);
  const uint32_t expire = s.expire.load(std::memory_order_relaxed);
  j["age_s"] = now_s >= s.created ? now_s - s.created : 0;
  j["expires_in_s"] = expire > now_s ? expire - now_s : 0;
  j["packets"] = {t.packets(i, 0), t.packets(i, 1)};
  j["bytes"] = {s.bytes[0].load(std::memory_order_relaxed), s.bytes[1].load(std::memory_order_relaxed)};
  j["rule"] = s.rule == dp::kNoRule ? json(nullptr) : json(s.rule);
  return j;
}

json Controller::states_list_json(const json& args) const {
  size_t limit = 100;
  if (args.contains("limit")) {
    const json& l = args["limit"];
    if (!l.is_number_integer() || l.get<long long>() < 1 || l.get<long long>() > static_cast<long long>(kMaxListed))
      throw CommandError("states.list: \"limit\" must be 1-" + std::to_string(kMaxListed));
    limit = size_t(l.get<long long>());
  }
  const StateFilter filter = StateFilter::parse(args);
  const dp::StateTable& t = io_.states();
  const uint32_t now_s = table_seconds(clock_.now());
  json states = json::array();
  size_t scanned = 0;
  bool truncated = false;
  t.for_each([&](dp::StateIndex i) {
    if (++scanned > kMaxScanned || states.size() >= limit) {
      truncated = true;
      return false;
    }
    if (filter.keeps(t, i)) states.push_back(state_json(i, now_s));
    return true;
  });
  return {{"states", states}, {"truncated", truncated}};
}

json event_json(const Event& e) { return {{"time", iso8601(e.unix_ms)}, {"message", e.message}}; }

json Controller::events_json() const {
  json ev = json::array();
  for (const auto& e : events_) ev.push_back(event_json(e));
  return {{"events", ev}};
}

void Controller::serve_event_feed(ControlServer& server) {
  server.add_feed("events");
  add_event_sink([&server](const Event& e) { server.publish("events", event_json(e)); });
}

json Controller::sync_status_json() const {
  if (!sync_) return {{"enabled", false}};
  json st = sync_->status_json(clock_.now());
  st["enabled"] = true;
  st["interface"] = cfg_.sync->interface;
  st["demotion"] = demotion_.get(kBulkCause);
  return st;
}

void Controller::set_maintenance(bool on) {
  if (on == maintenance_) return;
  maintenance_ = on;
  log_event(Event{.unix_ms = 0, .message = on ? "entering maintenance mode" : "leaving maintenance mode",
                  .subsys = "carp", .kind = on ? "maintenance_on" : "maintenance_off", .fields = {},
                  .warning = false});
  persist_maintenance();
  apply(carp_.set_maintenance(on, clock_.now()));
  flush();
}

void Controller::register_commands(Commands& commands) {
  commands.add({.name = "status",
                .args = "",
                .summary = "node, uptime, maintenance, demotion, interfaces and CARP",
                .run = [this](std::string_view, const json&) { return status_json(); }});
  commands.add({.name = "carp.status",
                .args = "",
                .summary = "every VHID's state, timers and counters; node demotion and maintenance",
                .run = [this](std::string_view, const json&) { return carp_status_json(); }});
  commands.add({.name = "carp.maintenance",
                .args = R"({"enter": true|false})",
                .summary = "enter or leave persistent maintenance mode (every VIP to the peer)",
                .run = [this](std::string_view, const json& args) {
                  if (!args.contains("enter") || !args["enter"].is_boolean())
                    throw CommandError("carp.maintenance needs {\"enter\": true|false}");
                  set_maintenance(args["enter"].get<bool>());
                  return carp_status_json();
                }});
  commands.add({.name = "carp.demote",
                .args = R"({"by": N})",
                .summary = "raise (N > 0) or lower (N < 0) the operator's part of the node's demotion",
                .run = [this](std::string_view, const json& args) {
                  if (!args.contains("by") || !args["by"].is_number_integer())
                    throw CommandError("carp.demote needs {\"by\": N}, N a whole number (+ raises, - lowers)");
                  const long long by = args["by"].get<long long>();
                  if (by < -255 || by > 255) throw CommandError("carp.demote: N must be -255..255");
                  const int now_value = std::clamp<int>(demotion_.get(kOperatorCause) + int(by), 0, 255);
                  set_demotion_cause(kOperatorCause, now_value);
                  flush();
                  return carp_status_json();
                }});
  commands.add({.name = "events",
                .args = R"({"follow": true|false})",
                .summary = "recent events (CARP transitions, maintenance, start and stop), oldest first; "
                           "follow: then each new one as a JSON line",
                .run = [this](std::string_view, const json& args) {
                  if (args.contains("follow") && !args["follow"].is_boolean())
                    throw CommandError("events: \"follow\" must be true or false");
                  return events_json();
                }});
  commands.add({.name = "config.get",
                .args = R"({"secrets": true|false})",
                .summary = "the configuration this daemon runs; CARP passwords and the sync key hidden unless secrets",
                .run = [this](std::string_view, const json& args) {
                  if (args.contains("secrets") && !args["secrets"].is_boolean())
                    throw CommandError("config.get: \"secrets\" must be true or false");
                  if (args.value("secrets", false)) return running_;
                  return redacted(running_);
                }});
  commands.add({.name = "config.reload",
                .args = R"({"path": "/ABSOLUTE/FILE"} | {"config": {...}} | none: the file hafwd started with)",
                .summary = "check and apply a new configuration without a restart; refused whole, with hafwctl check's lines",
                .run = [this](std::string_view, const json& args) { return reload_json(args); }});
  commands.add({.name = "states.summary",
                .args = "",
                .summary = "the state table: states, capacity, memory, created and reaped, timeouts",
                .run = [this](std::string_view, const json&) { return states_summary_json(); }});
  commands.add({.name = "states.list",
                .args = R"({"limit": N, "address": "A", "port": N, "protocol": "tcp|udp|icmp"})",
                .summary = "states with both keys, translation, progress, age, expiry and counters (at most limit)",
                .run = [this](std::string_view, const json& args) { return states_list_json(args); }});
  commands.add({.name = "sync.status",
                .args = "",
                .summary = "state sync: peer, link, frames and states each way, bulk update, drops by reason",
                .run = [this](std::string_view, const json&) { return sync_status_json(); }});
  commands.add_stats([this](json& out) { stats_json(out); });
}

}  // namespace hafw::control
