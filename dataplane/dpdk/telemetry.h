// DPDK telemetry commands of hafwd's own (docs/operations.md, "Telemetry").
//
// Registers each path with rte_telemetry; when dpdk-telemetry.py asks for
// one, DPDK's telemetry thread calls `answer` with the path and its params
// (the text after the comma, "" if none) and writes the JSON it returns. The
// JSON must already fit DPDK's reply (control/telemetry.h shapes it): dicts,
// arrays of numbers or strings, numbers and strings.
//
// The telemetry thread is never stopped (DPDK 22.11 cannot unregister a
// command), so `answer` must stay callable until the process exits.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hafw::dp {

struct TelemetryPath {
  std::string path;  // "/hafw/stats"
  std::string help;  // under 128 characters
};

using TelemetryAnswer = std::function<nlohmann::json(std::string_view path, std::string_view params)>;

// After the EAL is up. Once per process. False and `error` if DPDK refuses a
// path (a bad name, a duplicate, a help text too long).
bool register_telemetry(const std::vector<TelemetryPath>& paths, TelemetryAnswer answer, std::string& error);

}  // namespace hafw::dp
