// hafw-golden: runs golden pcap cases through hafwd's DPDK worker loop.
//
//   hafw-golden CASE_DIR...             run and check (the golden suite)
//   hafw-golden --update CASE_DIR...    run, write the golden pcaps, check the rest
//   hafw-golden --generate CASE_DIR...  write the input pcaps from case.json
//   hafw-golden --decode FILE.pcap      print the tshark decode .expect files hold
//   --keep                              keep the run's outputs (the path is printed)
//
// Needs DPDK with its net_pcap PMD (no NIC, no hugepages) and tshark. See README.md.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/golden/golden.h"

using namespace hafw::golden;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: hafw-golden [--update] [--keep] CASE_DIR...\n"
               "       hafw-golden --generate CASE_DIR...\n"
               "       hafw-golden --decode FILE.pcap\n");
  return 2;
}

std::string make_work_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/hafw-golden-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw CaseError("cannot make a temporary directory");
  return tmpl;
}

}  // namespace

int main(int argc, char** argv) {
  enum { Run, Update, Generate, Decode } mode = Run;
  bool keep = false;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--update") mode = Update;
    else if (a == "--generate") mode = Generate;
    else if (a == "--decode") mode = Decode;
    else if (a == "--keep") keep = true;
    else if (a.starts_with("-")) return usage();
    else dirs.push_back(a);
  }
  if (dirs.empty()) return usage();

  try {
    if (mode == Decode) {
      bool ok = true;
      for (const auto& f : dirs) {
        const std::string d = tshark_decode(f, ok);
        std::fputs(d.c_str(), stdout);
        if (!ok) return 1;
      }
      return 0;
    }
    if (mode == Generate) {
      for (const auto& d : dirs) {
        const Case c = load_case(d);
        generate(c);
        std::printf("%s: inputs written\n", c.name.c_str());
      }
      return 0;
    }

    std::vector<Case> cases;
    for (const auto& d : dirs) cases.push_back(load_case(d));
    eal_start();
    bool ok = true;
    for (const Case& c : cases) {
      const std::string work = make_work_dir();
      const auto runs = run_case(c, work);
      const bool passed = check_case(c, runs, mode == Update);
      ok &= passed;
      if (keep || !passed) {
        std::printf("outputs of %s kept in %s\n", c.name.c_str(), work.c_str());
      } else {
        std::error_code ignored;
        std::filesystem::remove_all(work, ignored);
      }
    }
    eal_stop();
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hafw-golden: %s\n", e.what());
    eal_stop();
    return 1;
  }
}
