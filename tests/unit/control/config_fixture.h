// Shared by the config tests: the example configs as JSON to break one rule
// at a time, and the diagnostics as the lines `hafwctl check` prints.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "control/config.h"
#include "tests/unit/control/source_dir.h"

namespace hafw::config::test {

using nlohmann::json;

inline std::string example_text(const std::string& name) {
  std::ifstream in(std::string(HAFW_SOURCE_DIR) + "/docs/examples/" + name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline json primary() { return json::parse(example_text("primary.json")); }
inline json secondary() { return json::parse(example_text("secondary.json")); }

inline std::vector<std::string> lines(const std::vector<Diagnostic>& ds, bool errors_only) {
  std::vector<std::string> out;
  for (const auto& d : ds)
    if (!errors_only || d.is_error()) out.push_back(d.str());
  return out;
}

// Every error line for this config.
inline std::vector<std::string> errors(const json& j) { return lines(parse(j.dump()).diagnostics, true); }
// Every line, warnings included.
inline std::vector<std::string> all(const json& j) { return lines(parse(j.dump()).diagnostics, false); }

inline Config load_ok(const json& j) {
  auto r = parse(j.dump());
  if (!r.ok()) throw std::runtime_error("config does not parse: " + lines(r.diagnostics, true).front());
  return *r.config;
}

}  // namespace hafw::config::test
