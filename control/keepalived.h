// `hafwctl import keepalived FILE`: a keepalived.conf's VRRP instances as
// hafw's `carp` section (docs/operations.md, "Migrating from keepalived").
//
// keepalived's file is line-oriented: a keyword and its arguments on one
// line, `{ ... }` blocks (the brace on the keyword's line or the next), `#`
// or `!` starting a comment at the start of a word, "double quotes" around a
// word with spaces, `include PATTERN` anywhere (a glob, relative to the
// including file's directory). Each vrrp_instance becomes one carp.vips
// entry per interface its addresses are on; whatever has no hafw equivalent
// (track_script, notify scripts, sync groups, AH, VRRPv3, ...) becomes a
// warning naming its line and what to do instead. convert() is pure: files
// come from the Includer, so tests need no filesystem.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hafw::config::keepalived {

// Where a line came from: `file` is empty for the file being converted,
// else the included file's path.
struct Where {
  std::string file;
  int line = 0;
  // "line 12" or "conf.d/vi_1.conf: line 3"
  std::string str() const;
};

struct Note {
  Where where;
  std::string message;
};

struct Source {
  std::string path;
  std::string text;
};

// The files an `include PATTERN` names, in order: `dir` is the including
// file's directory ("" for the main file's, as the caller named it). Throws
// std::runtime_error("cannot read ...") for a file that matched but cannot
// be read or a plain path that does not exist; a glob that matches nothing
// returns no file.
using Includer = std::function<std::vector<Source>(const std::string& pattern, const std::string& dir)>;

// The real one: glob(3), then read each file.
std::vector<Source> read_includes(const std::string& pattern, const std::string& dir);

struct Result {
  std::optional<nlohmann::json> carp;  // {"carp": {"preempt": ..., "vips": [...]}}; unset on error
  std::vector<Note> warnings;          // each thing that was not converted
  std::optional<Note> error;           // set when the file could not be read or parsed
};

// keepalived's inverted priority: VRRP elects the highest priority, CARP the
// lowest advbase + advskew/256. 255 (the address owner) -> 0, otherwise
// 256 - priority (the VRRPv2 skew in 1/256 s), at most 254 (255 is the
// bow-out advert).
unsigned advskew_for_priority(unsigned priority);

// `main_dir` is the directory of the main file, for its includes.
Result convert(std::string_view text, const std::string& main_dir, const Includer& includer);

// `hafwctl import keepalived FILE`: the carp section as JSON on `out`, one
// "warning: line N: ..." per thing not converted and "error: line N: ..." on
// `err`. Returns 0 (converted; warnings allowed), 1 (unreadable file or
// parse error).
int import_command(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace hafw::config::keepalived
