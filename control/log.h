// Structured log lines (logfmt: key=value, one line per event) for stderr,
// the journal and syslog, ready for a SIEM (docs/operations.md, "Reading logs").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hafw::control {

struct Event;

// "2026-12-01T10:00:03.120Z" (UTC, milliseconds).
std::string iso8601(int64_t unix_ms);

// "ts=2026-12-01T10:00:03.120Z level=info node=fw1 subsys=carp event=state_change vhid=1
//  iface=wan from=BACKUP to=MASTER reason=\"master down timer expired\" msg=\"...\"".
// A value with a space, '=', '"' or '\' (or empty) is quoted, '"' and '\' escaped, control
// bytes written as \n, \t or \xNN, so one event is always one line.
std::string logfmt(const Event& e, std::string_view node);

// syslog(3) as hafwd: openlog("hafwd", LOG_PID | LOG_NDELAY, LOG_DAEMON); each
// event at LOG_INFO (LOG_WARNING for level=warn).
void open_syslog();
void to_syslog(const Event& e, std::string_view node);

}  // namespace hafw::control
