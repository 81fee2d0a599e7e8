#include <pcap/pcap.h>

#include <memory>

#include "tests/golden/golden.h"

namespace hafw::golden {

std::vector<Bytes> read_pcap(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = "";
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> p(pcap_open_offline(path.c_str(), err), pcap_close);
  if (!p) throw CaseError(path + ": " + err);
  if (pcap_datalink(p.get()) != DLT_EN10MB) throw CaseError(path + ": not an Ethernet capture");
  std::vector<Bytes> frames;
  pcap_pkthdr* h;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(p.get(), &h, &data)) == 1) {
    if (h->caplen != h->len) throw CaseError(path + ": a frame is truncated (snap length)");
    frames.emplace_back(data, data + h->caplen);
  }
  if (rc != PCAP_ERROR_BREAK) throw CaseError(path + ": " + pcap_geterr(p.get()));
  return frames;
}

void write_pcap(const std::string& path, const std::vector<Bytes>& frames) {
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> p(pcap_open_dead(DLT_EN10MB, 65535), pcap_close);
  if (!p) throw CaseError("pcap_open_dead failed");
  pcap_dumper_t* d = pcap_dump_open(p.get(), path.c_str());
  if (!d) throw CaseError(path + ": " + pcap_geterr(p.get()));
  for (size_t i = 0; i < frames.size(); ++i) {
    pcap_pkthdr h{};
    h.ts.tv_sec = time_t(i / 1000);
    h.ts.tv_usec = suseconds_t(i % 1000 * 1000);
    h.caplen = h.len = bpf_u_int32(frames[i].size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frames[i].data());
  }
  if (pcap_dump_flush(d) != 0) {
    pcap_dump_close(d);
    throw CaseError(path + ": write failed");
  }
  pcap_dump_close(d);
}

}  // namespace hafw::golden
