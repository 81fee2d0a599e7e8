// hafwctl's human output.
#include "control/format.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace hafw::control {

using nlohmann::json;

namespace {

std::string scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "?";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The field's text, or "?" when the reply lacks it.
std::string field(const json& j, std::string_view key) {
  if (!j.is_object()) return "?";
  auto it = j.find(key);
  return it == j.end() ? "?" : scalar(*it);
}

bool flag(const json& j, std::string_view key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

const json& member(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// Columns separated by two spaces, padded to the widest cell; columns flagged
// in `right` are right-aligned (counters line up by their last digit).
std::string table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) line += "  ";
      std::string pad(width[i] - r[i].size(), ' ');
      bool last = i + 1 == r.size();
      if (i < right.size() && right[i])
        line += pad + r[i];
      else
        line += last ? r[i] : r[i] + pad;
    }
    out += line + '\n';
  }
  return out;
}

using Rows = std::vector<std::vector<std::string>>;

void flatten(const json& j, const std::string& name, Rows& rows);

void flatten_drops(const json& drops, const std::string& name, Rows& rows) {
  uint64_t total = 0;
  Rows reasons;
  for (const auto& [reason, n] : drops.items()) {
    const std::string sub = name + "." + reason;
    if (n.is_number_unsigned() || n.is_number_integer()) {
      if (n.is_number_integer() && n.get<int64_t>() < 0) {
        reasons.push_back({sub, scalar(n)});
        continue;
      }
      uint64_t v = n.get<uint64_t>();
      total += v;
      if (v != 0) reasons.push_back({sub, std::to_string(v)});
    } else {
      flatten(n, sub, reasons);
    }
  }
  rows.push_back({name, std::to_string(total)});
  rows.insert(rows.end(), reasons.begin(), reasons.end());
}

void flatten(const json& j, const std::string& name, Rows& rows) {
  if (j.is_object()) {
    if (j.empty() && !name.empty()) rows.push_back({name, "-"});
    for (const auto& [key, value] : j.items()) {
      std::string sub = name.empty() ? key : name + "." + key;
      if (key == "drops" && value.is_object())
        flatten_drops(value, sub, rows);
      else
        flatten(value, sub, rows);
    }
  } else if (j.is_array()) {
    if (j.empty()) rows.push_back({name, "-"});
    for (size_t i = 0; i < j.size(); ++i) flatten(j[i], name + "[" + std::to_string(i) + "]", rows);
  } else {
    rows.push_back({name.empty() ? "value" : name, scalar(j)});
  }
}

}  // namespace

std::string format_carp_line(const json& v) {
  return field(v, "interface") + ": carp: " + field(v, "state") + " vhid " + field(v, "vhid") + " advbase " +
         field(v, "advbase") + " advskew " + field(v, "advskew");
}

std::string format_carp_vhids(const json& vhids) {
  if (!vhids.is_array() || vhids.empty()) return "no CARP VHIDs configured\n";
  std::string out;
  for (const auto& v : vhids) {
    out += format_carp_line(v) + '\n';
    const json& addrs = member(v, "addresses");
    if (addrs.is_array())
      for (const auto& a : addrs) out += "        vip " + scalar(a) + '\n';
  }
  return out;
}

std::string format_carp(const json& s) {
  // Accept the bare VHID array too (status's "carp" member).
  if (s.is_array()) return format_carp_vhids(s);
  // The causes, when there are any: "demotion 2 (link down: lan 1, operator 1)".
  std::string causes;
  const json& cs = member(s, "demotion_causes");
  if (cs.is_array())
    for (const auto& c : cs) causes += (causes.empty() ? "" : ", ") + field(c, "cause") + " " + field(c, "value");
  std::string out = format_carp_vhids(member(s, "vhids")) + "demotion " + field(s, "demotion") +
                    (causes.empty() ? "" : " (" + causes + ")") + ", maintenance " +
                    (flag(s, "maintenance") ? "on" : "off") + '\n';
  const json& split = member(s, "split_master");
  if (flag(split, "active")) out += "split master for " + field(split, "for_s") + " s: " + field(split, "detail") + '\n';
  return out;
}

std::string format_uptime(uint64_t s) {
  const uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  if (d || h || m) out += std::to_string(m) + "m ";
  return out + std::to_string(sec) + "s";
}

std::string format_status(const json& st) {
  const json& node = member(st, "node");
  // The daemon sends a signed count (a duration's count()): any integer >= 0 is an uptime.
  const json& up = member(st, "uptime_s");
  const bool seconds = up.is_number_unsigned() || (up.is_number_integer() && up.get<int64_t>() >= 0);
  std::string out = "node " + field(node, "name") + " (" + field(node, "role") + "), up " +
                    (seconds ? format_uptime(up.get<uint64_t>()) : scalar(up)) + '\n';
  out += "maintenance " + std::string(flag(st, "maintenance") ? "on" : "off") + ", demotion " +
         field(st, "demotion") + '\n';

  const json& ifs = member(st, "interfaces");
  if (ifs.is_array() && !ifs.empty()) {
    Rows rows{{"interface", "port", "mac", "address", "link", "rx_packets", "tx_packets"}};
    for (const auto& i : ifs)
      rows.push_back({field(i, "name"), field(i, "port"), field(i, "mac"), field(i, "address"), field(i, "link"),
                      field(i, "rx_packets"), field(i, "tx_packets")});
    out += '\n' + table(rows, {false, false, false, false, false, true, true});
  }
  out += '\n' + format_carp_vhids(member(st, "carp"));
  return out;
}

std::string format_stats(const json& stats) {
  if (!stats.is_object()) return scalar(stats) + '\n';
  // The packet path first, then the protocols, then the socket itself; any
  // section a newer daemon adds follows in name order. The rules are a table
  // of their own at the end.
  static constexpr std::string_view kOrder[] = {"dataplane", "state_table", "carp", "pfsync", "sync", "control"};
  Rows rows;
  for (auto key : kOrder)
    if (auto it = stats.find(key); it != stats.end()) flatten(json{{std::string(key), *it}}, "", rows);
  for (const auto& [key, value] : stats.items())
    if (std::find(std::begin(kOrder), std::end(kOrder), key) == std::end(kOrder) && key != "rules")
      flatten(json{{key, value}}, "", rows);
  std::string out = table(rows, {false, true});
  const json& rules = member(stats, "rules");
  if (rules.is_array() && !rules.empty()) {
    Rows r{{"rule", "action", "interface", "dir", "evaluations", "matches", "packets", "bytes"}};
    for (const auto& x : rules)
      r.push_back({field(x, "rule"), field(x, "action"), field(x, "interface"), field(x, "direction"),
                   field(x, "evaluations"), field(x, "matches"), field(x, "packets"), field(x, "bytes")});
    out += '\n' + table(r, {true, false, false, false, true, true, true, true});
  }
  return out;
}

std::string format_states(const json& list) {
  const json& states = member(list, "states");
  if (!states.is_array() || states.empty()) return "no states\n";
  std::string out;
  for (const auto& s : states) {
    std::string line = field(s, "protocol") + " " + field(s, "src") + " -> " + field(s, "dst");
    const json& nat = member(s, "nat");
    if (nat.is_object()) line += (field(nat, "side") == "source" ? " (as " : " (to ") + field(nat, "to") + ")";
    const json& pk = member(s, "packets");
    const json& by = member(s, "bytes");
    auto pair = [](const json& a) {
      return a.is_array() && a.size() == 2 ? scalar(a[0]) + ":" + scalar(a[1]) : std::string("?");
    };
    line += "  " + field(s, "state") + "  age " + field(s, "age_s") + "s, expires in " + field(s, "expires_in_s") +
            "s, " + pair(pk) + " pkts, " + pair(by) + " bytes";
    const json& rule = member(s, "rule");
    line += rule.is_null() ? ", no rule" : ", rule " + scalar(rule);
    out += line + '\n';
  }
  if (flag(list, "truncated")) out += "(more states not shown: raise the limit or filter)\n";
  return out;
}

std::string format_states_summary(const json& s) {
  std::string out = "states " + field(s, "states") + " of " + field(s, "capacity") + " (" +
                    field(s, "bytes_per_state") + " bytes each), " + field(s, "created") + " created, " +
                    field(s, "reaped") + " reaped, " + field(s, "refused_full") + " refused (table full)\n";
  const json& t = member(s, "timeouts");
  if (t.is_object()) {
    std::string line = "timeouts:";
    for (const auto& [name, v] : t.items()) line += " " + name + " " + scalar(v) + "s";
    out += line + '\n';
  }
  return out;
}

std::string format_sync(const json& s) {
  if (!member(s, "enabled").is_boolean() || !member(s, "enabled").get<bool>())
    return "state sync off (no sync section in the config)\n";
  const json& age = member(s, "last_frame_age_ms");
  std::string out = "sync on " + field(s, "interface") + ", peer " + field(s, "peer");
  const std::string mac = field(s, "peer_mac");
  if (!mac.empty()) out += " (" + mac + ")";
  out += ", link " + field(s, "link") + ", " +
         (member(s, "encrypted").is_boolean() && member(s, "encrypted").get<bool>() ? "encrypted" : "cleartext") +
         ", last frame " + (age.is_number() ? scalar(age) + " ms ago" : std::string("never")) + '\n';
  const json& b = member(s, "bulk");
  out += "bulk update: " + field(b, "state") + " (" + field(b, "states_received") + " states received";
  const json& ms = member(b, "last_duration_ms");
  if (ms.is_number()) out += " in " + scalar(ms) + " ms";
  out += "), " + field(b, "bulks_sent") + " sent to the peer";
  if (member(b, "sending").is_boolean() && member(b, "sending").get<bool>())
    out += " (sending now: " + field(b, "states_sent") + " states so far)";
  out += '\n';
  for (const char* dir : {"sent", "received"}) {
    const json& t = member(s, dir);
    out += std::string(dir) + ": " + field(t, "frames") + " frames, " + field(t, "inserts") + " inserts, " +
           field(t, "updates") + " updates, " + field(t, "deletes") + " deletes, " + field(t, "bulk_states") +
           " bulk states, " + field(t, "requests") + " requests\n";
  }
  const json& r = member(s, "records");
  if (r.is_object()) {
    std::string line;
    for (const auto& [name, v] : r.items())
      if (!(v.is_number() && v.get<double>() == 0)) line += (line.empty() ? "" : ", ") + name + " " + scalar(v);
    if (!line.empty()) out += "peer's records: " + line + '\n';
  }
  const json& d = member(s, "drops");
  if (d.is_object()) {
    uint64_t total = 0;
    std::string line;
    for (const auto& [name, v] : d.items()) {
      if (!v.is_number_integer() || v.get<int64_t>() <= 0) continue;
      total += v.get<uint64_t>();
      line += ", " + name + " " + scalar(v);
    }
    out += "drops " + std::to_string(total) + line + '\n';
  }
  const json& c = member(s, "config_sync");
  const std::string role = field(c, "role");
  if (role == "push") {
    out += "config sync: pushing to the peer, generation " + field(c, "generation") + ", " + field(c, "pushed") +
           " pushed, " + field(c, "repushed") + " re-pushed, " + field(c, "chunks_sent") + " chunks sent\n";
  } else if (role == "accept") {
    out += "config sync: taking the primary's, " + field(c, "received") + " received, " + field(c, "applied") +
           " applied, " + field(c, "unchanged") + " unchanged";
    for (const char* group : {"refused", "drops"}) {
      const json& g = member(c, group);
      if (!g.is_object()) continue;
      for (const auto& [name, v] : g.items())
        if (v.is_number_integer() && v.get<int64_t>() > 0) out += ", " + std::string(group) + " " + name + " " + scalar(v);
    }
    out += '\n';
  }
  return out;
}

namespace {

// Metric names allow [a-zA-Z0-9_:]; label values are quoted with \ and " escaped.
std::string metric_part(std::string_view s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out;
}

std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Families whose members are reasons of one counter: a label, not a name.
bool is_reason_family(std::string_view key) { return key == "drops" || key == "punts" || key == "icmp"; }

void prometheus(const json& j, const std::string& name, std::string& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      const std::string child = name + "_" + metric_part(key);
      if (is_reason_family(key) && value.is_object()) {
        out += "# TYPE " + child + " counter\n";
        for (const auto& [reason, n] : value.items())
          if (n.is_number()) out += child + "{reason=\"" + label_value(reason) + "\"} " + n.dump() + '\n';
      } else {
        prometheus(value, child, out);
      }
    }
    return;
  }
  if (!j.is_number()) return;  // strings and lists are not metrics
  const bool gauge = name == "hafw_control_socket_active";
  out += "# TYPE " + name + (gauge ? " gauge\n" : " counter\n");
  out += name + ' ' + j.dump() + '\n';
}

}  // namespace

std::string format_prometheus(const json& stats) {
  std::string out;
  json rest = stats;
  if (rest.is_object()) rest.erase("rules");
  prometheus(rest, "hafw", out);
  // Per-rule counters: one metric per counter, the rule as labels.
  const json& rules = member(stats, "rules");
  if (rules.is_array() && !rules.empty()) {
    for (const char* c : {"evaluations", "matches", "packets", "bytes"}) {
      const std::string name = std::string("hafw_rule_") + c;
      out += "# TYPE " + name + " counter\n";
      for (const auto& r : rules)
        out += name + "{rule=\"" + label_value(field(r, "rule")) + "\",action=\"" + label_value(field(r, "action")) +
               "\",interface=\"" + label_value(field(r, "interface")) + "\",direction=\"" +
               label_value(field(r, "direction")) + "\"} " + field(r, c) + '\n';
    }
  }
  return out;
}

std::string format_events(const json& ev) {
  const json& list = ev.is_array() ? ev : member(ev, "events");
  if (!list.is_array() || list.empty()) return "no events\n";
  std::string out;
  for (const auto& e : list) out += field(e, "time") + "  " + field(e, "message") + '\n';
  return out;
}

std::string format_reload(const json& r) {
  const json& changes = member(r, "changes");
  const size_t n = changes.is_array() ? changes.size() : 0;
  std::string out = "config applied from " + field(r, "source") + ": ";
  out += n == 0 ? std::string("no changes") : std::to_string(n) + (n == 1 ? " change" : " changes");
  out += '\n';
  for (size_t i = 0; i < n; ++i) out += "  " + scalar(changes[i]) + '\n';
  const json& warnings = member(r, "warnings");
  if (warnings.is_array())
    for (const auto& w : warnings) out += scalar(w) + '\n';
  return out;
}

}  // namespace hafw::control
