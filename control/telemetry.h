// The control commands as DPDK telemetry commands (docs/operations.md,
// "Telemetry"): `/hafw/stats` is `stats`, `/hafw/carp` is `carp.status`, ...
// so dpdk-telemetry.py reads the same numbers as `hafwctl stats`.
//
// DPDK runs a telemetry command on a thread of its own, while the counters,
// CARP and the state table's bookkeeping belong to the control thread. The
// telemetry thread therefore never reads them: it asks and waits, and the
// control thread answers between two steps of its loop, running the command
// as the control socket would (control/telemetry_broker.h).
//
// DPDK's reply is narrower than JSON, and telemetry_shape() fits a reply to
// it: see there. This file knows nothing of DPDK (the DPDK side,
// dataplane/dpdk/telemetry.h, registers the paths and converts the shaped
// JSON), so it is tested under the sanitizers like the rest of the control
// logic.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hafw::control {

struct TelemetryCommand {
  const char* path;     // "/hafw/stats": what dpdk-telemetry.py asks for
  const char* command;  // "stats": the control command that answers it
  const char* help;     // for /help (DPDK keeps at most 127 characters)
};

inline constexpr std::array<TelemetryCommand, 5> kTelemetryCommands{{
    {"/hafw/stats", "stats", "hafwd's counters, as `hafwctl stats`. Param: a part, e.g. dataplane/drops"},
    {"/hafw/status", "status", "node, uptime, demotion, interfaces with link and packets, CARP"},
    {"/hafw/carp", "carp.status", "every VHID's state and counters, node demotion and maintenance"},
    {"/hafw/states", "states.summary", "the state table: states, capacity, created, reaped, timeouts"},
    {"/hafw/sync", "sync.status", "state sync: peer, link, frames and states each way, bulk update, drops"},
}};

// DPDK 22.11's limits on a telemetry reply (lib/telemetry): the whole reply,
// wrapped as {"<path>":...}, in 16 KiB (a bigger one loses entries without a
// word, so shaped replies are measured first); names and string values under
// 128 bytes; 256 entries in a dict and 512 in an array.
inline constexpr size_t kTelemetryMaxOutput = 16 * 1024;
inline constexpr size_t kTelemetryMaxString = 127;
inline constexpr size_t kTelemetryMaxDict = 256;
inline constexpr size_t kTelemetryMaxArray = 512;

// Fits a JSON value to what a DPDK telemetry reply can hold: dicts (nested
// to any depth), arrays of numbers or of strings, and number and string
// values. So:
//   - a key's characters other than A-Z a-z 0-9 _ / become '_' ("tcp.first"
//     -> "tcp_first"), and keys and strings are cut to 127 bytes;
//   - true/false become 1/0, a fraction its decimal text, null is left out;
//   - an array of objects (the rule table, the VHIDs) becomes a dict keyed
//     by position ("0", "1", ...); an array of numbers stays one, an array
//     of mixed scalars becomes one of strings;
//   - a dict past 255 entries keeps the first 255 and "truncated": how many
//     it left out; an array keeps its first 512 entries;
//   - a scalar reply becomes {"value": x}.
nlohmann::json telemetry_shape(const nlohmann::json& reply);

// The shaped answer to `path` out of its control command's reply: the part
// DPDK's params name ("" for all of it, "dataplane/drops" for
// reply["dataplane"]["drops"], an array's entries by position; a scalar as
// {"<last part>": x}), shaped, or an {"error": ...} that says why not: the
// command failed, there is no such part, or the answer is over 16 KiB (these
// two list the parts there are, to ask for one at a time).
nlohmann::json telemetry_answer(std::string_view path, std::string_view params, const nlohmann::json& reply);

}  // namespace hafw::control
