// rte_telemetry glue: one callback for every hafw path, and the shaped JSON
// written into DPDK's rte_tel_data (dicts nest; arrays hold one scalar type).
#include "dataplane/dpdk/telemetry.h"

#include <rte_telemetry.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace hafw::dp {
namespace {

using nlohmann::json;

// Set once, never freed: the telemetry thread may call in until exit.
const TelemetryAnswer* g_answer = nullptr;

rte_tel_value_type array_type(const json& a) {
  bool all_u64 = true, all_int = true;
  for (const auto& x : a) {
    all_u64 = all_u64 && x.is_number_unsigned();
    all_int = all_int && x.is_number_integer();
  }
  if (all_u64) return RTE_TEL_U64_VAL;  // the empty array too
  if (all_int) return RTE_TEL_INT_VAL;
  return RTE_TEL_STRING_VAL;
}

void fill_array(rte_tel_data* d, const json& a) {
  const rte_tel_value_type type = array_type(a);
  rte_tel_data_start_array(d, type);
  for (const auto& x : a) {
    if (type == RTE_TEL_U64_VAL) rte_tel_data_add_array_u64(d, x.get<uint64_t>());
    else if (type == RTE_TEL_INT_VAL) rte_tel_data_add_array_int(d, int(x.get<int64_t>()));
    else rte_tel_data_add_array_string(d, x.is_string() ? x.get_ref<const std::string&>().c_str() : x.dump().c_str());
  }
}

void fill_dict(rte_tel_data* d, const json& o) {
  rte_tel_data_start_dict(d);
  for (const auto& [k, v] : o.items()) {
    if (v.is_object() || v.is_array()) {
      rte_tel_data* c = rte_tel_data_alloc();
      if (!c) continue;
      if (v.is_object()) fill_dict(c, v);
      else fill_array(c, v);
      if (rte_tel_data_add_dict_container(d, k.c_str(), c, 0) < 0) rte_tel_data_free(c);
    } else if (v.is_number_unsigned()) {
      rte_tel_data_add_dict_u64(d, k.c_str(), v.get<uint64_t>());
    } else if (v.is_number_integer()) {
      rte_tel_data_add_dict_int(d, k.c_str(), int(v.get<int64_t>()));
    } else if (v.is_string()) {
      rte_tel_data_add_dict_string(d, k.c_str(), v.get_ref<const std::string&>().c_str());
    } else {
      rte_tel_data_add_dict_string(d, k.c_str(), v.dump().c_str());
    }
  }
}

int on_command(const char* cmd, const char* params, rte_tel_data* d) {
  json reply;
  try {
    reply = (*g_answer)(cmd ? cmd : "", params ? params : "");
  } catch (const std::exception& e) {
    reply = {{"error", std::string("internal error: ") + e.what()}};
  }
  if (reply.is_array()) fill_array(d, reply);
  else if (reply.is_object()) fill_dict(d, reply);
  else rte_tel_data_string(d, reply.dump().c_str());
  return 0;
}

}  // namespace

bool register_telemetry(const std::vector<TelemetryPath>& paths, TelemetryAnswer answer, std::string& error) {
  if (g_answer) {
    error = "telemetry: registered twice";
    return false;
  }
  g_answer = new TelemetryAnswer(std::move(answer));
  for (const auto& p : paths) {
    const int rc = rte_telemetry_register_cmd(p.path.c_str(), on_command, p.help.c_str());
    if (rc != 0) {
      error = "telemetry: cannot register " + p.path + ": " + std::strerror(-rc);
      return false;
    }
  }
  return true;
}

}  // namespace hafw::dp
