// Writes a capture of pfsync frames that this codec built, for the
// Wireshark dissector's test (dissector_test.sh checks tshark's decode of
// it against the records below, tests/unit/pfsync/records.h). Each packet
// is Ethernet + IPv4 (protocol 240, TTL 255, to 224.0.0.240) + pfsync:
//   1. INS of an outbound-NAT IPv4 TCP state, UPD_C, DEL_C, BUS END
//   2. INS of an IPv6 UDP state
//   3. CLR, UPD_REQ (a bulk request), INS_ACK, UPD, DEL, and a section of
//      an unknown action (9) that a receiver skips
//   4. an encrypted envelope: 0xE6, algorithm 1, sequence 0x0102030405060708
//   5. two of hafw's config chunks (action 200): 7 bytes at 0 and 3 at 7 of
//      a 10-byte configuration, generation 0x1122334455667788
// Usage: pfsync-pcap OUT.pcap
#include <cstdio>

#include "tests/unit/pfsync/records.h"

using namespace hafw;
using namespace hafw::pfsync;
using namespace hafw::pfsync::test;

namespace {

Bytes frame_of(FrameWriter& w) {
  auto f = w.finish();
  return Bytes(f.begin(), f.end());
}

// Ethernet and IPv4 around a pfsync frame (or an envelope).
Bytes packet(const Bytes& payload, uint16_t ip_id) {
  const net::Mac group{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xf0}}, self{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
  const net::EthHdr eth{.dst = group, .src = self, .type = net::be16(net::kEtherTypeIpv4)};
  net::Ipv4Hdr ip{
      .ver_ihl = 0x45,
      .tos = 0,
      .total_len = net::be16(uint16_t(sizeof(net::Ipv4Hdr) + payload.size())),
      .id = net::be16(ip_id),
      .frag = net::be16(net::kIpv4DontFragment),
      .ttl = kTtl,
      .proto = kProto,
      .csum = 0,
      .src = net::be32(0x0aff0001),  // 10.255.0.1
      .dst = net::be32(0xe00000f0),  // 224.0.0.240
  };
  ip.csum = net::inet_checksum({reinterpret_cast<const uint8_t*>(&ip), sizeof ip});
  Bytes out(sizeof eth + sizeof ip);
  std::memcpy(out.data(), &eth, sizeof eth);
  std::memcpy(out.data() + sizeof eth, &ip, sizeof ip);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<Bytes> packets() {
  std::array<uint8_t, 1480> buf{};
  std::vector<Bytes> out;
  {
    FrameWriter w(buf);
    w.add(Action::Ins, tcp_v4_nat());
    w.add(update());
    w.add(Action::DelC, id_record());
    w.add(bus(kBusEnd));
    out.push_back(packet(frame_of(w), 1));
  }
  {
    FrameWriter w(buf);
    w.add(Action::Ins, udp_v6());
    out.push_back(packet(frame_of(w), 2));
  }
  {
    FrameWriter w(buf);
    w.add(clr());
    w.add(Action::UpdReq, IdRecord{});
    w.add(Action::InsAck, id_record());
    StateRecord in = tcp_v4_nat();
    in.direction = kDirIn;
    w.add(Action::Upd, in);
    w.add(Action::Del, udp_v6());
    Bytes f = frame_of(w);
    f.insert(f.end(), {9, 2, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8});
    put_be16(&f[2], uint16_t(f.size()));
    out.push_back(packet(f, 3));
  }
  {
    Bytes env = {0xe6, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    env.resize(env.size() + 40, 0x5a);  // ciphertext
    env.resize(env.size() + 16, 0xa5);  // tag
    out.push_back(packet(env, 4));
  }
  {
    // Config chunks go in the clear only in this capture: a node sends them
    // sealed, and a receiver drops them otherwise.
    static const char text[] = "{\"ab\":123}";  // 10 bytes
    std::array<uint8_t, 32> digest{};
    for (size_t i = 0; i < digest.size(); ++i) digest[i] = uint8_t(0xc0 + i);
    auto chunk = [&](uint32_t off, size_t n) {
      return ConfigChunkRecord{.generation = 0x1122334455667788, .total = 10, .offset = off, .sha256 = digest,
                               .data = {reinterpret_cast<const uint8_t*>(text) + off, n}};
    };
    FrameWriter w(buf);
    w.add(chunk(0, 7));
    w.add(chunk(7, 3));
    out.push_back(packet(frame_of(w), 5));
  }
  return out;
}

void put32(std::FILE* f, uint32_t v) { std::fwrite(&v, 4, 1, f); }  // the capture's own order
void put16(std::FILE* f, uint16_t v) { std::fwrite(&v, 2, 1, f); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.pcap\n", argv[0]);
    return 2;
  }
  std::FILE* f = std::fopen(argv[1], "wb");
  if (!f) {
    std::perror(argv[1]);
    return 1;
  }
  // libpcap's file header: magic, version 2.4, GMT, accuracy, snaplen, Ethernet.
  put32(f, 0xa1b2c3d4);
  put16(f, 2);
  put16(f, 4);
  put32(f, 0);
  put32(f, 0);
  put32(f, 65535);
  put32(f, 1);
  uint32_t t = 1700000000;
  for (const Bytes& p : packets()) {
    put32(f, t++);
    put32(f, 0);
    put32(f, uint32_t(p.size()));
    put32(f, uint32_t(p.size()));
    std::fwrite(p.data(), 1, p.size(), f);
  }
  return std::fclose(f) == 0 ? 0 : 1;
}
