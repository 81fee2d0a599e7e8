#include "control/log.h"

#include <syslog.h>

#include <cstdio>
#include <ctime>

#include "control/controller.h"

namespace hafw::control {

std::string iso8601(int64_t unix_ms) {
  std::time_t t = std::time_t(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(unix_ms % 1000));
  return buf;
}

namespace {

void value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (unsigned char c : v) quote = quote || c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= 0x7f;
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < ' ' || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += char(c);  // UTF-8 passes through
    }
  }
  out += '"';
}

void pair(std::string& out, std::string_view k, std::string_view v) {
  if (!out.empty()) out += ' ';
  out += k;
  out += '=';
  value(out, v);
}

}  // namespace

std::string logfmt(const Event& e, std::string_view node) {
  std::string out;
  pair(out, "ts", iso8601(e.unix_ms));
  pair(out, "level", e.warning ? "warn" : "info");
  pair(out, "node", node);
  pair(out, "subsys", e.subsys);
  pair(out, "event", e.kind);
  for (const auto& [k, v] : e.fields) pair(out, k, v);
  pair(out, "msg", e.message);
  return out;
}

void open_syslog() { ::openlog("hafwd", LOG_PID | LOG_NDELAY, LOG_DAEMON); }

void to_syslog(const Event& e, std::string_view node) {
  ::syslog(e.warning ? LOG_WARNING : LOG_INFO, "%s", logfmt(e, node).c_str());
}

}  // namespace hafw::control
