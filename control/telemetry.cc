#include "control/telemetry.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace hafw::control {
namespace {

using nlohmann::json;

// Cut to DPDK's string size without splitting a UTF-8 character.
std::string cut(std::string s) {
  if (s.size() <= kTelemetryMaxString) return s;
  size_t n = kTelemetryMaxString;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

std::string key_name(std::string_view k) {
  std::string out(k);
  for (char& c : out) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '/';
    if (!ok) c = '_';
  }
  if (out.empty()) out = "_";
  return cut(std::move(out));
}

// A scalar as a DPDK value: unsigned, int, or string. Null stays null (the
// caller leaves it out).
json scalar(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1u : 0u;
  if (v.is_number_unsigned()) return v;
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i >= 0) return uint64_t(i);
    if (i >= INT32_MIN) return i;  // DPDK's int is 32 bits
    return std::to_string(i);
  }
  if (v.is_number_float()) return v.dump();
  if (v.is_string()) return cut(v.get<std::string>());
  return v;
}

json shape(const json& v);

json shape_object(const json& v) {
  json out = json::object();
  size_t left_out = 0;
  for (const auto& [k, x] : v.items()) {
    if (x.is_null()) continue;
    if (out.size() + 1 >= kTelemetryMaxDict) {
      ++left_out;
      continue;
    }
    out[key_name(k)] = shape(x);
  }
  if (left_out) out["truncated"] = left_out;
  return out;
}

json shape_array(const json& v) {
  const bool flat = std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_primitive() && !x.is_null(); });
  if (!flat) {  // by position
    json by_pos = json::object();
    for (size_t i = 0; i < v.size(); ++i) by_pos[std::to_string(i)] = v[i];
    return shape_object(by_pos);
  }
  json out = json::array();
  for (size_t i = 0; i < v.size() && i < kTelemetryMaxArray; ++i) out.push_back(scalar(v[i]));
  const bool all_u64 = std::all_of(out.begin(), out.end(), [](const json& x) { return x.is_number_unsigned(); });
  const bool all_int = std::all_of(out.begin(), out.end(), [](const json& x) { return x.is_number_integer(); });
  const bool all_str = std::all_of(out.begin(), out.end(), [](const json& x) { return x.is_string(); });
  if (all_u64 || all_str) return out;
  if (all_int) {
    const bool fits = std::all_of(out.begin(), out.end(), [](const json& x) { return x.get<int64_t>() <= INT32_MAX; });
    if (fits) {
      for (auto& x : out) x = x.get<int64_t>();  // one DPDK type for the array: int
      return out;
    }
  }
  for (auto& x : out)
    if (!x.is_string()) x = x.dump();
  return out;
}

json shape(const json& v) {
  if (v.is_object()) return shape_object(v);
  if (v.is_array()) return shape_array(v);
  return scalar(v);
}

json error_json(std::string message) { return {{"error", std::move(message)}}; }

json part_names(const json& v) {
  json parts = json::array();
  if (v.is_object())
    for (const auto& [k, x] : v.items()) parts.push_back(k);
  else if (v.is_array())
    for (size_t i = 0; i < v.size(); ++i) parts.push_back(std::to_string(i));
  return parts;
}

// The part of `reply` that `params` names ("dataplane/drops": an object's
// key or an array's position per step), or null and `error` set.
const json* select(const json& reply, std::string_view params, json& error) {
  const json* at = &reply;
  std::string walked;
  size_t pos = 0;
  while (pos < params.size()) {
    const size_t end = std::min(params.find('/', pos), params.size());
    const std::string part(params.substr(pos, end - pos));
    pos = end + 1;
    if (part.empty()) continue;
    const json* next = nullptr;
    if (at->is_object() && at->contains(part)) {
      next = &(*at)[part];
    } else if (at->is_array() && part.size() < 10 &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
               std::stoul(part) < at->size()) {
      next = &(*at)[std::stoul(part)];
    }
    if (!next) {
      error = error_json("no part '" + part + "' in " + (walked.empty() ? "the reply" : "'" + walked + "'"));
      error["parts"] = part_names(*at);
      return nullptr;
    }
    walked += (walked.empty() ? "" : "/") + part;
    at = next;
  }
  return at;
}

}  // namespace

json telemetry_shape(const json& reply) {
  json out = shape(reply);
  if (!out.is_object() && !out.is_array()) return json{{"value", out}};
  return out;
}

json telemetry_answer(std::string_view path, std::string_view params, const json& reply) {
  if (reply.is_object() && reply.size() == 1 && reply.contains("error")) return telemetry_shape(reply);
  json error;
  const json* part = select(reply, params, error);
  if (!part) return telemetry_shape(error);
  json shaped;
  if (part->is_object() || part->is_array() || params.empty()) {
    shaped = telemetry_shape(*part);
  } else {  // a scalar under its own name: {"states": 12}
    const std::string_view last = params.substr(params.find_last_of('/') == std::string_view::npos
                                                    ? 0
                                                    : params.find_last_of('/') + 1);
    shaped = telemetry_shape(json{{std::string(last), *part}});
  }
  // DPDK writes {"<path>":<reply>}, as compact as dump() and with the same
  // escapes; some slack for its own formatting.
  const size_t size = shaped.dump().size() + path.size() + 5;
  if (size + 64 > kTelemetryMaxOutput) {
    std::string asked(path);
    if (!params.empty()) asked += "," + std::string(params);
    error = error_json(asked + " is " + std::to_string(size) + " bytes, more than DPDK telemetry's " +
                       std::to_string(kTelemetryMaxOutput) + ": ask for one part at a time, e.g. " + asked +
                       (params.empty() ? "," : "/") + "PART");
    error["parts"] = part_names(*part);
    return telemetry_shape(error);
  }
  return shaped;
}

}  // namespace hafw::control
