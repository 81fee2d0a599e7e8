#include "control/check.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "control/config.h"

namespace hafw::config {

namespace {

// The whole file, or the reason it cannot be read (a directory opens but
// fails to read, so read errors count too).
std::optional<std::string> read_file(const std::string& path, std::string& why) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
  if (std::ferror(f.get())) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  return text;
}

// A diagnostic about `file` (empty: the node's file, printed unprefixed).
void print(std::ostream& out, const Diagnostic& d, const std::string& file) {
  if (file.empty()) {
    out << d.str() << '\n';
    return;
  }
  std::string_view path = d.path;
  if (path.starts_with(kPeerPathPrefix)) path.remove_prefix(kPeerPathPrefix.size());
  out << (d.is_error() ? "error: " : "warning: ") << file << ": " << path << ": " << d.message << '\n';
}

}  // namespace

int check_command(const std::vector<std::string>& files, std::ostream& out) {
  if (files.empty() || files.size() > 2) {
    out << "error: usage: hafwctl check NODE.json [PEER.json]\n";
    return 2;
  }
  std::vector<std::string> texts;
  for (const auto& f : files) {
    std::string why;
    auto text = read_file(f, why);
    if (!text) {
      out << "error: " << f << ": cannot read: " << why << '\n';
      return 2;
    }
    texts.push_back(std::move(*text));
  }
  bool failed = false;
  std::vector<LoadResult> results;
  for (size_t k = 0; k < files.size(); ++k) {
    results.push_back(parse(texts[k]));
    for (const auto& d : results.back().diagnostics) {
      print(out, d, k == 0 ? std::string() : files[k]);
      failed |= d.is_error();
    }
  }
  if (files.size() == 2 && results[0].ok() && results[1].ok()) {
    for (const auto& d : check_pair(*results[0].config, *results[1].config)) {
      print(out, d, files[1]);
      failed |= d.is_error();
    }
  }
  if (failed) return 1;
  out << "OK: " << files[0];
  if (files.size() == 2) out << " + " << files[1] << " (pair)";
  out << '\n';
  return 0;
}

}  // namespace hafw::config
