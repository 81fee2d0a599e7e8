// pfsync version 6 frames: a 20-byte header, then sections of one action
// each (a 4-byte subheader and `count` messages of `len` words).
//
// FrameWriter packs records into one frame in caller memory, as pf fills a
// packet up to the sync interface's MTU before it sends. parse() checks a
// received frame's whole structure before it hands a single record on, so a
// frame that is cut or lies about its lengths never reaches the state table;
// within a sound frame a record with a bad value is skipped and counted and
// the others apply, as pf does (pfsyncs_badval). Both run on the control
// thread; neither allocates. Layout and sizes: docs/sync.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "dataplane/net/named.h"
#include "pfsync/wire.h"

namespace hafw::pfsync {

// Builds one pfsync frame (from the pfsync header on: no IP header) in
// caller memory. Consecutive records of one action share a section; a new
// subheader starts when the action changes. (The 16-bit count cannot run
// out: a 65535-byte frame holds at most 5459 records; frame.cc asserts it.)
class FrameWriter {
 public:
  // buf.size() is the most the frame may take: the sync link's MTU less the
  // IP header and any envelope. The header's length field caps it at 65535;
  // a buffer shorter than the header holds no frame (every add() fails).
  explicit FrameWriter(std::span<uint8_t> buf);

  // An empty frame again (the checksum stays: it is the ruleset's).
  void reset();
  // pfcksum, the sender's ruleset checksum; zero by default.
  void set_checksum(const std::array<uint8_t, 16>& sum) { checksum_ = sum; }

  // Each add() returns false, and writes nothing, when the record does not
  // fit, or when the action does not carry that record.
  bool add(Action a, const StateRecord& r);  // INS, UPD, DEL
  bool add(const UpdateRecord& r);           // UPD_C
  bool add(Action a, const IdRecord& r);     // INS_ACK, UPD_REQ, DEL_C
  bool add(const BusRecord& r);
  bool add(const ClrRecord& r);
  // A config chunk (r.data.size() from 1 to kMaxChunkData) in a section of
  // its own: its message is as long as its bytes.
  bool add(const ConfigChunkRecord& r);
  // Would one more record of `a` fit? (For HafwConfig: a chunk of one byte.)
  bool fits(Action a) const;
  // The most bytes of configuration one more chunk could carry: 0 when not
  // even one fits.
  size_t config_room() const;

  size_t records() const { return records_; }
  bool empty() const { return records_ == 0; }
  size_t size() const { return size_; }  // bytes so far, the header included

  // Writes the header (version, length, checksum) and returns the frame.
  // More records may follow; finish() again then covers them too.
  std::span<const uint8_t> finish();

 private:
  // Room for one record of `a` (and its subheader when it opens a section);
  // returns where the record goes, or nullptr.
  uint8_t* claim(Action a);
  size_t need(Action a) const;  // bytes one more record of a takes; 0: it cannot

  std::span<uint8_t> buf_;
  size_t cap_;               // min(buf.size(), 65535)
  size_t size_ = 0;
  size_t section_ = 0;       // offset of the open section's subheader; 0: none open
  Action action_ = Action::Clr;
  uint16_t count_ = 0;       // records in the open section
  size_t records_ = 0;
  std::array<uint8_t, 16> checksum_{};
};

// Why a received frame, or a record in it, was not used. One counter each;
// the frame errors refuse the whole frame, BadRecord counts single records
// (ParseResult::bad_records) and never refuses a frame.
enum class FrameError : uint8_t {
  Short,
  BadVersion,
  BadLength,
  BadSection,
  BadRecord,
  Count,
};

inline constexpr std::array<net::Named<FrameError>, size_t(FrameError::Count)> kFrameErrors{{
    {FrameError::Short, "short", "pfsync frames shorter than the 20-byte header"},
    {FrameError::BadVersion, "bad_version",
     "pfsync frames of a version other than 6 (FreeBSD's pfsync is version 5 and does not interoperate)"},
    {FrameError::BadLength, "bad_length",
     "pfsync frames whose header length is under 20 bytes or more than was received"},
    {FrameError::BadSection, "bad_section",
     "pfsync frames refused whole: a subheader or its messages run past the header length, or a known "
     "action's messages are shorter than its record"},
    {FrameError::BadRecord, "bad_record",
     "records skipped for a value hafw cannot hold (address family, protocol 0, direction, timeout class, peer "
     "state, window scale, interface name without NUL, bus status, a config chunk's lengths or flags); the rest "
     "of the frame applied"},
}};
static_assert(net::in_enum_order(kFrameErrors), "kFrameErrors must list every FrameError in order");

inline const char* name(FrameError e) { return net::name_of(kFrameErrors, e); }

// What parse() hands on: one virtual per record kind. Control thread only,
// so a virtual call per record is nothing next to applying it.
class FrameVisitor {
 public:
  virtual ~FrameVisitor() = default;
  virtual void on_state(Action a, const StateRecord& r) = 0;  // INS, UPD, DEL
  virtual void on_update(const UpdateRecord& r) = 0;          // UPD_C
  virtual void on_id(Action a, const IdRecord& r) = 0;        // INS_ACK, UPD_REQ, DEL_C
  virtual void on_bus(const BusRecord& r) = 0;
  virtual void on_clr(const ClrRecord& r) = 0;
  virtual void on_config(const ConfigChunkRecord& r) = 0;  // hafw's config sync; r.data points into the frame
};

struct ParseResult {
  std::optional<FrameError> error;  // set: the frame was refused as a whole and nothing was visited
  size_t records = 0;               // records handed to the visitor
  size_t bad_records = 0;           // records that failed decode (skipped, counted)
  size_t skipped = 0;               // records of unknown actions, skipped by length
  std::array<uint8_t, 16> checksum{};  // the sender's pfcksum; zero when the frame was refused
};

// Check the frame's structure, then hand each record to `v` in frame order.
// `frame` starts at the pfsync header; bytes past the header's length
// (Ethernet padding) are ignored.
ParseResult parse(std::span<const uint8_t> frame, FrameVisitor& v);

}  // namespace hafw::pfsync
