// Checking a run: the inputs against the generator, the counters against
// case.json, every output against its golden pcap byte for byte, the NAT
// ports where case.json says they appear, and tshark's decode of every
// output against its hand-checked .expect file.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/golden/golden.h"

namespace hafw::golden {

namespace fs = std::filesystem;

namespace {

// The decode every .expect file holds: one line per packet, tab-separated,
// every occurrence of a field comma-separated (an ICMP error's quoted IP and
// UDP/TCP headers are the second occurrence of ip.*, udp.*, tcp.*).
// Checksum status: 0 bad, 1 good, 2 unverified, 3 not present.
constexpr const char* kFields[] = {
    "frame.number", "eth.src",       "eth.dst",           "ip.src",          "ip.dst",         "ip.ttl",
    "ip.checksum.status", "tcp.srcport", "tcp.dstport",   "tcp.flags.str",   "tcp.checksum.status",
    "udp.srcport",  "udp.dstport",   "udp.checksum.status", "icmp.type",     "icmp.code",
    "icmp.checksum.status", "icmp.ident", "tcp.seq_raw",  "tcp.ack_raw",     "udp.checksum",
};

// The same for IPv6 frames (a pcap with any is decoded so): the IPv6
// header's fields and ICMPv6's in place of IPv4's and ICMP's, with the
// neighbour advertisement's target and solicited flag and packet too big's MTU.
constexpr const char* kFields6[] = {
    "frame.number", "eth.src",      "eth.dst",          "ipv6.src",        "ipv6.dst",      "ipv6.hlim",
    "tcp.srcport",  "tcp.dstport",  "tcp.flags.str",    "tcp.checksum.status", "udp.srcport", "udp.dstport",
    "udp.checksum.status", "icmpv6.type", "icmpv6.code", "icmpv6.checksum.status", "icmpv6.echo.identifier",
    "icmpv6.nd.na.target_address", "icmpv6.nd.na.flag.s", "icmpv6.mtu",
};

bool has_ipv6(const std::string& pcap) {
  for (const Bytes& f : read_pcap(pcap))
    if (f.size() >= 14 && f[12] == 0x86 && f[13] == 0xdd) return true;
  return false;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

std::string hex_line(const Bytes& b, size_t at) {
  std::string s;
  char h[4];
  for (size_t i = at; i < at + 16; ++i) {
    if (i < b.size()) std::snprintf(h, sizeof h, "%02x ", b[i]);
    else std::snprintf(h, sizeof h, "   ");
    s += h;
  }
  return s;
}

// The 16-byte lines where two frames differ, golden above produced.
void hexdump_diff(const Bytes& want, const Bytes& got) {
  std::printf("      offset  golden                                           | produced\n");
  for (size_t at = 0; at < std::max(want.size(), got.size()); at += 16) {
    bool same = true;
    for (size_t i = at; i < at + 16; ++i) {
      const bool in_w = i < want.size(), in_g = i < got.size();
      if (in_w != in_g || (in_w && want[i] != got[i])) same = false;
    }
    std::printf("    %c %04zx    %s| %s\n", same ? ' ' : '!', at, hex_line(want, at).c_str(), hex_line(got, at).c_str());
  }
}

// The transport source port of an Ethernet/IPv4 frame, or an ICMP query's id.
std::optional<uint16_t> source_port(const Bytes& f) {
  if (f.size() < 14 + 20 || f[12] != 0x08 || f[13] != 0x00) return std::nullopt;
  const size_t l4 = 14 + size_t(f[14] & 0x0f) * 4;
  const uint8_t proto = f[14 + 9];
  if ((proto == 6 || proto == 17) && f.size() >= l4 + 2) return uint16_t(f[l4] << 8 | f[l4 + 1]);
  if (proto == 1 && f.size() >= l4 + 6 && (f[l4] == 0 || f[l4] == 8)) return uint16_t(f[l4 + 4] << 8 | f[l4 + 5]);
  return std::nullopt;
}

template <class Table, class Array>
bool family(const char* what, const Table& table, const Array& got, const std::map<std::string, uint64_t>& want,
            std::string& report) {
  bool ok = true;
  for (const auto& row : table) {
    const uint64_t g = got[size_t(row.id)];
    const auto w = want.find(row.name);
    const uint64_t e = w == want.end() ? 0 : w->second;
    if (g) report += std::string(report.empty() ? "" : ", ") + what + "." + row.name + " " + std::to_string(g);
    if (g != e) {
      std::printf("    FAIL %s.%s: expected %lu, counted %lu\n", what, row.name, (unsigned long)e, (unsigned long)g);
      ok = false;
    }
  }
  return ok;
}

}  // namespace

std::string tshark_decode(const std::string& pcap, bool& ok) {
  std::string cmd =
      "tshark -n -r '" + pcap +
      "' -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE"
      " -T fields -E header=n -E separator=/t -E occurrence=a -E aggregator=,";
  if (has_ipv6(pcap))
    for (const char* f : kFields6) cmd += std::string(" -e ") + f;
  else
    for (const char* f : kFields) cmd += std::string(" -e ") + f;
  // tshark's complaints go to a file of our own, shown only if it fails.
  const char* tmp = std::getenv("TMPDIR");
  std::string err = std::string(tmp && *tmp ? tmp : "/tmp") + "/hafw-golden-tshark-XXXXXX";
  const int fd = mkstemp(err.data());
  if (fd < 0) {
    ok = false;
    return "cannot make a temporary file";
  }
  close(fd);
  cmd += " 2>'" + err + "'";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    ok = false;
    return "cannot run tshark";
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!ok) out += "tshark failed (is it installed?): " + slurp(err);
  std::error_code ignored;
  fs::remove(err, ignored);
  return out;
}

bool check_case(const Case& c, const std::vector<StepRun>& runs, bool update) {
  bool all_ok = true;
  std::printf("case %s: %s\n", c.name.c_str(), c.description.c_str());
  for (size_t s = 0; s < c.steps.size(); ++s) {
    const Step& step = c.steps[s];
    const StepRun& r = runs[s];
    bool ok = true;
    std::printf("  step %zu: %s\n", s + 1, step.note.c_str());

    // The committed inputs are what the generator makes of case.json.
    const auto built = build_inputs(c, s);
    for (unsigned i = 0; i < c.iface_count(); ++i) {
      const bool exists = fs::exists(c.in_pcap(s, i));
      if ((exists ? read_pcap(c.in_pcap(s, i)) : std::vector<Bytes>{}) != built[i] || (exists && built[i].empty())) {
        std::printf("    FAIL %s is not what case.json describes: run hafw-golden --generate\n",
                    fs::path(c.in_pcap(s, i)).filename().c_str());
        ok = false;
      }
    }

    if (!r.settled) {
      std::printf("    FAIL the worker did not receive and handle all %lu input frames within the time limit "
                  "(received %lu)\n",
                  (unsigned long)r.inputs, (unsigned long)r.counters[dp::IoCounter::Rx]);
      ok = false;
    }
    std::string report;
    ok &= family("drops", dp::kDropReasons, r.counters.drops, step.expect.drops, report);
    ok &= family("punts", dp::kPuntReasons, r.counters.punts, step.expect.punts, report);
    ok &= family("icmp", dp::kIcmpCounters, r.counters.icmp, step.expect.icmp, report);
    ok &= family("states", dp::kStateCounters, r.counters.states, step.expect.states, report);
    ok &= family("nat", dp::kNatCounters, r.counters.nat, step.expect.nat, report);
    ok &= family("fragments", kFragmentCounters, r.counters.io, step.expect.fragments, report);
    if (r.held) {
      std::printf("    FAIL %lu fragments still held for reassembly at the end of the step (advance_ms lets them "
                  "time out)\n",
                  (unsigned long)r.held);
      ok = false;
    }
    for (const auto& p : r.punted) std::printf("    punted %s\n", p.c_str());

    std::string outs;
    for (unsigned i = 0; i < c.iface_count(); ++i) {
      const std::vector<Bytes> got = read_pcap(r.outputs[i]);
      if (!got.empty()) outs += " " + c.iface_name(i) + " " + std::to_string(got.size());
      const std::string golden = c.golden_pcap(s, i), expect = c.expect_file(s, i);
      const std::string gname = fs::path(golden).filename().string();
      if (got.size() != step.expect.out[i]) {
        std::printf("    FAIL %s: %zu frames left, case.json expects %lu\n", c.iface_name(i).c_str(), got.size(),
                    (unsigned long)step.expect.out[i]);
        ok = false;
      }
      if (step.expect.out[i] == 0) {
        for (const auto& stale : {golden, expect})
          if (fs::exists(stale)) {
            std::printf("    FAIL %s exists, but nothing is expected to leave %s\n",
                        fs::path(stale).filename().c_str(), c.iface_name(i).c_str());
            ok = false;
          }
        continue;
      }

      if (update) {
        if (got.size() == step.expect.out[i]) {
          write_pcap(golden, got);
          std::printf("    wrote %s\n", gname.c_str());
        } else {
          std::printf("    not writing %s\n", gname.c_str());
        }
      } else if (!fs::exists(golden)) {
        std::printf("    FAIL %s is missing: run hafw-golden --update, then check its decode\n", gname.c_str());
        ok = false;
      } else {
        const std::vector<Bytes> want = read_pcap(golden);
        if (want.size() != got.size()) {
          std::printf("    FAIL %s: %zu frames, the run sent %zu\n", gname.c_str(), want.size(), got.size());
          ok = false;
        }
        for (size_t k = 0; k < std::min(want.size(), got.size()); ++k) {
          if (want[k] == got[k]) continue;
          std::printf("    FAIL %s packet %zu differs (golden %zu bytes, produced %zu):\n", gname.c_str(), k + 1,
                      want[k].size(), got[k].size());
          hexdump_diff(want[k], got[k]);
          ok = false;
        }
      }

      // The independent check: tshark's decode of what left, against the
      // decode written down and checked by hand.
      bool decoded;
      const std::string decode = tshark_decode(r.outputs[i], decoded);
      if (!decoded) {
        std::printf("    FAIL tshark: %s\n", decode.c_str());
        ok = false;
      } else if (!fs::exists(expect)) {
        std::printf("    FAIL %s is missing; tshark decodes the output as:\n%s",
                    fs::path(expect).filename().c_str(), decode.c_str());
        ok = false;
      } else if (slurp(expect) != decode) {
        std::printf("    FAIL tshark's decode differs from %s:\n", fs::path(expect).filename().c_str());
        const auto w = lines_of(slurp(expect)), g = lines_of(decode);
        for (size_t k = 0; k < std::max(w.size(), g.size()); ++k) {
          const std::string a = k < w.size() ? w[k] : "(none)", b = k < g.size() ? g[k] : "(none)";
          if (a == b) continue;
          std::printf("      expect: %s\n      tshark: %s\n", a.c_str(), b.c_str());
        }
        ok = false;
      }
    }
    std::printf("    in %lu, out%s; %s\n", (unsigned long)r.inputs, outs.empty() ? " nothing" : outs.c_str(),
                report.empty() ? "no drops" : report.c_str());
    if (!ok) std::printf("    step %zu FAILED\n", s + 1);
    all_ok &= ok;
  }

  // Every NAT port the generator computed is where case.json says it leaves.
  for (const auto& [name, p] : c.nat_ports) {
    const std::vector<Bytes> out = read_pcap(runs[p.step - 1].outputs[p.iface]);
    const auto got = p.packet <= out.size() ? source_port(out[p.packet - 1]) : std::nullopt;
    if (got == p.value) {
      std::printf("  NAT port %s = %u: step %u, %s packet %u carries it\n", name.c_str(), p.value, p.step,
                  c.iface_name(p.iface).c_str(), p.packet);
    } else {
      std::printf("  FAIL NAT port %s: computed %u, step %u %s packet %u has %s\n", name.c_str(), p.value, p.step,
                  c.iface_name(p.iface).c_str(), p.packet, got ? std::to_string(*got).c_str() : "no such packet/port");
      all_ok = false;
    }
  }
  std::printf("case %s: %s\n", c.name.c_str(), all_ok ? "ok" : "FAILED");
  return all_ok;
}

}  // namespace hafw::golden
