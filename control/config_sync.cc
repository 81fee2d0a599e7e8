#include "control/config_sync.h"

#include <algorithm>

namespace hafw::config {

using nlohmann::json;

namespace {

std::string names(const std::vector<Interface>& ifs) {
  std::string out;
  for (const auto& i : ifs) out += (out.empty() ? "" : ", ") + i.name;
  return "[" + out + "]";
}

std::string vip_name(const Vip& v) { return v.interface + " vhid " + std::to_string(v.vhid); }

std::string addresses(const Vip& v) {
  std::string out;
  for (const auto& a : v.addresses) out += (out.empty() ? "" : ", ") + a.str();
  return out;
}

const Vip* find_vip(const std::vector<Vip>& vips, const Vip& like) {
  for (const auto& v : vips)
    if (v.interface == like.interface && v.vhid == like.vhid) return &v;
  return nullptr;
}

// What differs between a VIP made here and the primary's, besides what the
// sync sets (advskew, peer) and the description.
std::string differences(const Vip& here, const Vip& primary) {
  std::vector<std::string> d;
  if (here.addresses != primary.addresses) d.push_back("addresses " + addresses(here) + " here, " + addresses(primary) + " on the primary");
  if (here.password != primary.password) d.push_back("password");
  if (here.advbase != primary.advbase)
    d.push_back("advbase " + std::to_string(here.advbase) + " here, " + std::to_string(primary.advbase) + " on the primary");
  std::string out;
  for (const auto& s : d) out += (out.empty() ? "" : "; ") + s;
  return out;
}

std::string first_error(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds)
    if (d.is_error()) return d.str();
  return "";
}

// Replace `key` of `to` with `from`'s, or remove it when `from` has none.
void keep_local(json& to, const json& from, const std::string& key) {
  if (from.is_object() && from.contains(key))
    to[key] = from[key];
  else
    to.erase(key);
}

}  // namespace

SyncedConfig from_primary(std::string_view primary_text, const json& own_json, const Config& own) {
  SyncedConfig out;
  auto refuse = [&](std::string why) {
    out.refused = std::move(why);
    return out;
  };
  if (own.node.role != Role::Secondary) return refuse("this node is not the secondary: it takes no configuration");
  LoadResult pri = parse(primary_text);
  if (!pri.ok())
    return refuse("the primary's configuration does not check here: " + first_error(pri.diagnostics));
  const Config& p = *pri.config;
  if (p.node.role != Role::Primary) return refuse("the configuration is from " + p.node.name + ", which is not a primary");

  // Every synced setting names an interface: the two nodes must have the
  // same interfaces in the same order, or the rules of one would land on
  // another's segment (pfSense maps its sync by interface order too).
  std::vector<std::string> pn, on;
  for (const auto& i : p.interfaces) pn.push_back(i.name);
  for (const auto& i : own.interfaces) on.push_back(i.name);
  if (pn != on) {
    out.interface_order = true;
    return refuse("interface order differs: the primary " + p.node.name + " has " + names(p.interfaces) +
                  ", this node " + names(own.interfaces) +
                  "; config sync maps every setting by interface, so give both nodes the same interfaces in the same "
                  "order");
  }

  json cand = json::parse(primary_text, nullptr, false);
  if (!cand.is_object()) return refuse("the primary's configuration is not a JSON object");
  for (const char* key : {"node", "interfaces", "sync", "control"}) keep_local(cand, own_json, key);
  if (own_json.contains("dataplane") || cand.contains("dataplane")) {
    json& dp = cand["dataplane"];
    if (!dp.is_object()) dp = json::object();
    const json none = json::object();
    const json& mine = own_json.contains("dataplane") ? own_json["dataplane"] : none;
    for (const char* key : {"eal", "workers", "max_states", "fragments"}) keep_local(dp, mine, key);
    if (dp.empty()) cand.erase("dataplane");
  }

  // The VIPs: the primary's, with this node's priority.
  if (cand.contains("carp") && cand["carp"].contains("vips")) {
    json& vips = cand["carp"]["vips"];
    for (size_t i = 0; i < vips.size() && i < p.carp.vips.size(); ++i) {
      const Vip& v = p.carp.vips[i];
      vips[i]["advskew"] = std::min<unsigned>(v.advskew + kSyncedSkewOffset, kMaxSkew);
      // Unicast CARP: the primary sends to us, we send to the primary.
      if (v.peer) {
        if (const Interface* pi = p.find_interface(v.interface)) vips[i]["peer"] = pi->address.addr.str();
      }
    }
  }
  for (const auto& mine : own.carp.vips) {
    const Vip* theirs = find_vip(p.carp.vips, mine);
    if (!theirs) {
      out.local_vips.push_back(vip_name(mine) + " (" + addresses(mine) + "): only on this node, removed");
      continue;
    }
    const std::string d = differences(mine, *theirs);
    if (!d.empty()) out.local_vips.push_back(vip_name(mine) + ": made here with other settings (" + d + "), replaced by the primary's");
  }

  LoadResult c = parse(cand.dump());
  out.diagnostics = c.diagnostics;
  if (!c.ok())
    return refuse("the configuration made from " + p.node.name + "'s does not check on this node: " +
                  first_error(c.diagnostics));
  const auto pair = check_pair(p, *c.config);
  for (const auto& d : pair) out.diagnostics.push_back(d);
  if (const std::string e = first_error(pair); !e.empty())
    return refuse("the configuration made from " + p.node.name + "'s does not pair with it: " + e);
  out.config = std::move(c.config);
  out.json = std::move(cand);
  return out;
}

}  // namespace hafw::config
