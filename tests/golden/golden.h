// hafw-golden: golden pcap-in/pcap-out cases run through DPDK's net_pcap
// vdev and hafwd's own worker loop (DpdkIo). tests/golden/README.md says how
// a case is written, checked and updated.
//
//   case.cc    case.json and node.json: the case model, the frame builders
//              that make the input pcaps, the NAT ports the dataplane will pick
//   run.cc     the EAL, the hot-plugged pcap vdevs, one DpdkIo per step
//   check.cc   outputs against the golden pcaps, counters against case.json,
//              tshark's decode against the .expect files
//   pcap_file.cc  reading and writing pcap files with libpcap
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config.h"
#include "dataplane/counters.h"
#include "dataplane/net/flow.h"
#include "dataplane/net/net.h"

namespace hafw::golden {

using Bytes = std::vector<uint8_t>;

// Keys outbound NAT's port choice in every run (DpdkSetup::nat_seed), so
// the ports are known before the run: case.cc computes them with it.
constexpr uint64_t kNatSeed = 0;

// The io counters of reassembly, which a step's expect names as "fragments".
inline constexpr std::array<net::Named<dp::IoCounter>, 4> kFragmentCounters = {
    dp::kIoCounters[size_t(dp::IoCounter::FragmentsIn)], dp::kIoCounters[size_t(dp::IoCounter::Reassembled)],
    dp::kIoCounters[size_t(dp::IoCounter::Fragmented)], dp::kIoCounters[size_t(dp::IoCounter::FragmentsOut)]};

// The case itself is broken (bad case.json, a missing file): nothing runs.
struct CaseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- pcap_file.cc
// Every frame of a pcap file, in order (either timestamp precision).
std::vector<Bytes> read_pcap(const std::string& path);
// A microsecond pcap of Ethernet frames with made-up timestamps (frame i at
// i ms), so that regenerating a file gives the same bytes.
void write_pcap(const std::string& path, const std::vector<Bytes>& frames);

// ---- case.cc
struct Host {
  net::IpAddr ip;
  std::optional<net::Mac> mac;
  std::optional<unsigned> iface;  // set: a neighbour there, pre-seeded in the NeighborTable
};

// A port (or ICMP query id) outbound NAT will allocate, computed the way
// state_create does, and where the harness must find it.
struct NatPort {
  net::FlowKey key;      // the flow as it reaches state_create (after any port forward)
  unsigned attempt = 0;  // port_candidate's n: 0 unless an earlier candidate is in use
  unsigned step = 0;     // the output that carries it: step (1-based), interface, packet (1-based)
  unsigned iface = 0;
  unsigned packet = 0;
  uint16_t value = 0;    // host order
};

// What the worker must have done in a step; every counter of these families
// not named is expected to be 0.
struct Expect {
  std::vector<uint64_t> out;  // frames leaving each interface
  std::map<std::string, uint64_t> drops, punts, icmp, states, nat;
  // The reassembly's I/O counters (fragments_in, reassembled, fragmented,
  // fragments_out); the others of the io family are not checked.
  std::map<std::string, uint64_t> fragments;
};

struct Frame {
  unsigned iface;
  nlohmann::json spec;
};

struct Step {
  std::string note;
  std::vector<Frame> frames;  // in arrival order
  // Once every frame is handled, the workers' clock moves on this much and
  // the step waits until no fragment is held (a timeout to see expire).
  uint64_t advance_ms = 0;
  Expect expect;
};

struct Case {
  std::string dir;   // absolute
  std::string name;  // the directory's name
  std::string description;
  config::Config cfg;
  std::vector<net::Mac> macs;        // per interface: 02:00:00:00:00:0<i+1>
  std::vector<uint32_t> owned_vips;  // host order: the VIPs this node is MASTER for
  std::map<std::string, Host> hosts;
  std::map<std::string, NatPort> nat_ports;
  std::vector<Step> steps;

  unsigned iface_count() const { return unsigned(cfg.interfaces.size()); }
  const std::string& iface_name(unsigned i) const { return cfg.interfaces[i].name; }
  // step is 0-based; the files say step1, step2, ...
  std::string file(size_t step, unsigned iface, const char* suffix) const;
  std::string in_pcap(size_t step, unsigned iface) const { return file(step, iface, ".in.pcap"); }
  std::string golden_pcap(size_t step, unsigned iface) const { return file(step, iface, ".out.pcap"); }
  std::string expect_file(size_t step, unsigned iface) const { return file(step, iface, ".out.expect"); }
};

// Reads dir/node.json (through config::parse) and dir/case.json and
// computes the NAT ports. Throws CaseError.
Case load_case(const std::string& dir);

// The frames of step `step` arriving on each interface.
std::vector<std::vector<Bytes>> build_inputs(const Case& c, size_t step);

// Writes every step's input pcaps (and removes stale ones). Throws CaseError.
void generate(const Case& c);

// ---- run.cc
struct StepRun {
  std::vector<std::string> outputs;  // per interface: the pcap the port wrote
  uint64_t inputs = 0;               // frames in the step's input pcaps
  bool settled = false;              // every input was received and handled in time
  uint64_t held = 0;                 // fragments still held for reassembly at the end
  dp::Counters counters;
  std::vector<std::string> punted;   // one line per frame the control thread got
};

// Starts the EAL (once per process) with a unique file prefix.
void eal_start();
void eal_stop();

// Runs every step of the case through DpdkIo, the outputs going to work_dir.
// Throws CaseError when a port cannot be made.
std::vector<StepRun> run_case(const Case& c, const std::string& work_dir);

// ---- check.cc
// The tshark decode of a pcap (tests/golden/README.md lists the fields).
std::string tshark_decode(const std::string& pcap, bool& ok);

// Checks a run against the case; prints what differs. update: write the
// golden pcaps from the run instead of comparing with them (the counts and
// the .expect files are still checked). Returns whether everything matched.
bool check_case(const Case& c, const std::vector<StepRun>& runs, bool update);

}  // namespace hafw::golden
