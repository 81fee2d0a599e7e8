#include "pfsync/frame.h"

#include <algorithm>
#include <cstring>

namespace hafw::pfsync {

namespace {

// The header's length field is 16 bits.
constexpr size_t kMaxFrame = 0xffff;
// A section's count is 16 bits, but a frame, whose length is 16 bits too,
// holds at most 5459 of the smallest record: a count never runs out, and a
// section needs no second subheader for it.
static_assert((kMaxFrame - kHeaderSize - kSubheaderSize) / kIdSize < 0xffff);

bool carries_state(Action a) { return a == Action::Ins || a == Action::Upd || a == Action::Del; }
bool carries_id(Action a) { return a == Action::InsAck || a == Action::UpdReq || a == Action::DelC; }

}  // namespace

// ------------------------------------------------------------ writer

FrameWriter::FrameWriter(std::span<uint8_t> buf) : buf_(buf), cap_(std::min(buf.size(), kMaxFrame)) { reset(); }

void FrameWriter::reset() {
  size_ = cap_ >= kHeaderSize ? kHeaderSize : 0;
  section_ = 0;
  count_ = 0;
  records_ = 0;
}

size_t FrameWriter::need(Action a) const {
  if (a == Action::HafwConfig) return size_ < kHeaderSize ? 0 : kSubheaderSize + config_message_size(1);
  const size_t rec = record_size(a);
  if (rec == 0 || size_ < kHeaderSize) return 0;
  const bool joins = section_ != 0 && action_ == a;
  return rec + (joins ? 0 : kSubheaderSize);
}

bool FrameWriter::fits(Action a) const {
  const size_t n = need(a);
  return n != 0 && size_ + n <= cap_;
}

size_t FrameWriter::config_room() const {
  if (size_ < kHeaderSize || size_ + kSubheaderSize + config_message_size(1) > cap_) return 0;
  const size_t words = (cap_ - size_ - kSubheaderSize) / 4;
  return std::min(words * 4 - kConfigChunkSize, kMaxChunkData);
}

bool FrameWriter::add(const ConfigChunkRecord& r) {
  const size_t n = r.data.size();
  if (n == 0 || n > config_room()) return false;
  const size_t msg = config_message_size(n);
  const wire::Subheader sh{.action = uint8_t(Action::HafwConfig), .len = uint8_t(msg / 4), .count = net::be16(1)};
  std::memcpy(buf_.data() + size_, &sh, sizeof sh);
  encode(r, buf_.data() + size_ + kSubheaderSize);
  size_ += kSubheaderSize + msg;
  section_ = 0;  // each chunk has its own section: the next record opens one
  ++records_;
  return true;
}

uint8_t* FrameWriter::claim(Action a) {
  if (a == Action::HafwConfig) return nullptr;  // add(ConfigChunkRecord) only
  const size_t n = need(a);
  if (n == 0 || size_ + n > cap_) return nullptr;
  const size_t rec = record_size(a);
  if (n > rec) {  // a new section
    section_ = size_;
    action_ = a;
    count_ = 0;
    const wire::Subheader sh{.action = uint8_t(a), .len = uint8_t(rec / 4), .count = 0};
    std::memcpy(buf_.data() + size_, &sh, sizeof sh);
    size_ += kSubheaderSize;
  }
  ++count_;
  net::store16(buf_.data() + section_ + offsetof(wire::Subheader, count), net::be16(count_));
  uint8_t* at = buf_.data() + size_;
  size_ += rec;
  ++records_;
  return at;
}

bool FrameWriter::add(Action a, const StateRecord& r) {
  if (!carries_state(a)) return false;
  uint8_t* at = claim(a);
  if (at) encode(r, at);
  return at != nullptr;
}

bool FrameWriter::add(const UpdateRecord& r) {
  uint8_t* at = claim(Action::UpdC);
  if (at) encode(r, at);
  return at != nullptr;
}

bool FrameWriter::add(Action a, const IdRecord& r) {
  if (!carries_id(a)) return false;
  uint8_t* at = claim(a);
  if (at) encode(r, at);
  return at != nullptr;
}

bool FrameWriter::add(const BusRecord& r) {
  uint8_t* at = claim(Action::Bus);
  if (at) encode(r, at);
  return at != nullptr;
}

bool FrameWriter::add(const ClrRecord& r) {
  uint8_t* at = claim(Action::Clr);
  if (at) encode(r, at);
  return at != nullptr;
}

std::span<const uint8_t> FrameWriter::finish() {
  if (size_ < kHeaderSize) return {};
  wire::Header h{};
  h.version = kVersion;
  h.len = net::be16(uint16_t(size_));
  std::memcpy(h.pfcksum, checksum_.data(), sizeof h.pfcksum);
  std::memcpy(buf_.data(), &h, sizeof h);
  return {buf_.data(), size_};
}

// ------------------------------------------------------------ parser

namespace {

struct Section {
  uint8_t action;
  size_t len;    // bytes per message
  size_t count;
  size_t at;     // offset of the first message
};

wire::Subheader subheader_at(std::span<const uint8_t> f, size_t off) {
  wire::Subheader sh;
  std::memcpy(&sh, f.data() + off, sizeof sh);
  return sh;
}

// Walk the sections of f (already cut to the header's length) from the
// header on; fn(Section) for each. Returns the first structural error.
// The checks are pf's (pfsync_input), stricter in two places: a known
// action whose messages are shorter than its record refuses the frame (pf
// skips such a section), and so do 1 to 3 bytes after the last section
// (pf ignores them): a sender that gets the lengths wrong has not
// necessarily got the records right.
template <class F>
std::optional<FrameError> walk(std::span<const uint8_t> f, F&& fn) {
  size_t off = kHeaderSize;
  while (off < f.size()) {
    if (f.size() - off < kSubheaderSize) return FrameError::BadSection;
    const wire::Subheader sh = subheader_at(f, off);
    off += kSubheaderSize;
    const size_t len = size_t(sh.len) * 4, count = net::be16(sh.count);
    const size_t known = record_size(sh.action);
    if (known != 0 && len < known) return FrameError::BadSection;
    // At most 1020 * 65535 bytes: no overflow in size_t.
    if (len * count > f.size() - off) return FrameError::BadSection;
    fn(Section{.action = sh.action, .len = len, .count = count, .at = off});
    off += len * count;
  }
  return std::nullopt;
}

template <class R>
bool decoded(const uint8_t* p, R& r, ParseResult& out) {
  if (decode(p, r)) {
    ++out.records;
    return true;
  }
  ++out.bad_records;
  return false;
}

void visit(std::span<const uint8_t> f, const Section& s, FrameVisitor& v, ParseResult& out) {
  const Action a = Action(s.action);
  if (record_size(s.action) == 0) {
    out.skipped += s.count;
    return;
  }
  for (size_t i = 0; i < s.count; ++i) {
    // Only the first record_size bytes of a longer message are read: a
    // newer sender's extra fields are skipped (forward compatibility).
    const uint8_t* p = f.data() + s.at + i * s.len;
    switch (a) {
      case Action::Ins:
      case Action::Upd:
      case Action::Del: {
        StateRecord r;
        if (decoded(p, r, out)) v.on_state(a, r);
        break;
      }
      case Action::UpdC: {
        UpdateRecord r;
        if (decoded(p, r, out)) v.on_update(r);
        break;
      }
      case Action::InsAck:
      case Action::UpdReq:
      case Action::DelC: {
        IdRecord r;
        if (decoded(p, r, out)) v.on_id(a, r);
        break;
      }
      case Action::Bus: {
        BusRecord r;
        if (decoded(p, r, out)) v.on_bus(r);
        break;
      }
      case Action::Clr: {
        ClrRecord r;
        if (decoded(p, r, out)) v.on_clr(r);
        break;
      }
      case Action::HafwConfig: {
        // The message is the fixed part and the chunk's bytes: decode
        // takes its whole length.
        ConfigChunkRecord r;
        if (decode(p, s.len, r)) {
          ++out.records;
          v.on_config(r);
        } else {
          ++out.bad_records;
        }
        break;
      }
      case Action::Eof:  // not in kActions: skipped above
        break;
    }
  }
}

}  // namespace

ParseResult parse(std::span<const uint8_t> frame, FrameVisitor& v) {
  ParseResult out;
  if (frame.size() < kHeaderSize) {
    out.error = FrameError::Short;
    return out;
  }
  wire::Header h;
  std::memcpy(&h, frame.data(), sizeof h);
  if (h.version != kVersion) {
    out.error = FrameError::BadVersion;
    return out;
  }
  // The header's length is the frame: more bytes received are link padding
  // (pf trims the mbuf to it), fewer mean the frame was cut.
  const size_t len = net::be16(h.len);
  if (len < kHeaderSize || len > frame.size()) {
    out.error = FrameError::BadLength;
    return out;
  }
  const auto f = frame.first(len);
  // First the whole structure, then the records: nothing of a frame that
  // turns out to be cut or inconsistent is applied.
  if (auto e = walk(f, [](const Section&) {})) {
    out.error = e;
    return out;
  }
  std::memcpy(out.checksum.data(), h.pfcksum, out.checksum.size());
  walk(f, [&](const Section& s) { visit(f, s, v, out); });
  return out;
}

}  // namespace hafw::pfsync
