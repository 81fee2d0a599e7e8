#!/usr/bin/env bash
# The Wireshark dissector (tools/wireshark/hafw-pfsync.lua) against frames
# the codec wrote: pcap_writer.cc writes the capture, tshark decodes it with
# the dissector, and every field below must have the value the records in
# tests/unit/pfsync/records.h were given. The expected values are written
# out here by hand (decimal where tshark prints decimal: 15119379810110330840
# is 0xd1d2d3d4d5d6d7d8), not taken from a run.
#
# Usage: dissector_test.sh PCAP_WRITER LUA_SCRIPT
#
# Debian's init.lua sets run_user_scripts_when_superuser = true, so tshark
# runs `-X lua_script:` as root too (it only warns "Running as user root").
set -uo pipefail
writer=$1
lua=$2
command -v tshark >/dev/null || { echo "tshark not found: tools/install-deps installs it"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$writer" "$tmp/sync.pcap" || { echo "the capture writer failed"; exit 1; }

# frame  field  value ("" = the field is absent)
expected=$(cat <<'EOF'
1 ip.ttl 255
1 ip.proto 240
1 pfsync.version 6
1 pfsync.len 408
1 pfsync.action 13,4,7,10
1 pfsync.msglen 66,21,3,3
1 pfsync.count 1,1,1,1
1 pfsync.state.id 0x0102030405060708
1 pfsync.state.creatorid 0x11223344
1 pfsync.state.ifname wan
1 pfsync.state.af 2
1 pfsync.state.proto 6
1 pfsync.state.direction 2
1 pfsync.key.src 203.0.113.1,10.0.0.5
1 pfsync.key.dst 198.51.100.10,198.51.100.10
1 pfsync.key.sport 50001,40000
1 pfsync.key.dport 443,443
1 pfsync.key.af 2,2
1 pfsync.peer.seqlo 2711790500,2981278644,1633837924,1903326068
1 pfsync.peer.state 4,5,4,6
1 pfsync.peer.wscale 0x87,0x02,0x87,0x80
1 pfsync.state.rule 7
1 pfsync.state.packets 15119379810110330840,16276822575519557608
1 pfsync.state.bytes 17434265340928784376,10489608748473423768
1 pfsync.state.timeout 2
1 pfsync.state.state_flags 0x1234
1 pfsync.updc.id 0x0102030405060708
1 pfsync.updc.creatorid 0x11223344
1 pfsync.updc.expire 2071756158
1 pfsync.updc.timeout 3
1 pfsync.delc.id 0x0a0b0c0d0e0f1011
1 pfsync.delc.creatorid 0x12131415
1 pfsync.bus.creatorid 0x21222324
1 pfsync.bus.endtime 623257384
1 pfsync.bus.status 2
2 pfsync.len 288
2 pfsync.state.id 0x2000000000000042
2 pfsync.state.af 24
2 pfsync.state.proto 17
2 pfsync.state.direction 1
2 pfsync.key.src6 2001:db8:1::10,2001:db8:1::10
2 pfsync.key.dst6 2001:db8:2::20,2001:db8:2::20
2 pfsync.key.sport 5353,5353
2 pfsync.key.dport 53,53
2 pfsync.key.src
2 pfsync.state.timeout 8
3 pfsync.action 0,5,2,14,6,9
3 pfsync.clr.ifname dmz
3 pfsync.clr.creatorid 0x31323334
3 pfsync.ureq.id 0x0000000000000000
3 pfsync.ureq.creatorid 0x00000000
3 pfsync.iack.id 0x0a0b0c0d0e0f1011
3 pfsync.state.id 0x0102030405060708,0x2000000000000042
3 pfsync.state.direction 1,1
3 pfsync.key.src 203.0.113.1,10.0.0.5
3 pfsync.key.sport 50001,40000,5353,5353
3 pfsync.key.src6 2001:db8:1::10,2001:db8:1::10
3 pfsync.skipped 0102030405060708
4 pfsync.enc.alg 1
4 pfsync.enc.seq 72623859790382856
4 pfsync.enc.tag a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5
4 pfsync.version
4 pfsync.state.id
5 pfsync.len 144
5 pfsync.action 200,200
5 pfsync.msglen 15,14
5 pfsync.count 1,1
5 pfsync.config.generation 1234605616436508552,1234605616436508552
5 pfsync.config.total 10,10
5 pfsync.config.offset 0,7
5 pfsync.config.length 7,3
5 pfsync.config.flags 0x0000,0x0000
5 pfsync.config.sha256 c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf,c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf
5 pfsync.config.data 7b226162223a31,32337d
5 pfsync.skipped
EOF
)

mapfile -t fields < <(awk '{print $2}' <<<"$expected" | sort -u)
args=()
for f in "${fields[@]}"; do args+=(-e "$f"); done
if ! tshark -n -r "$tmp/sync.pcap" -X lua_script:"$lua" -T fields -E 'separator=|' "${args[@]}" \
    >"$tmp/out" 2>"$tmp/err"; then
  echo "tshark failed:"
  cat "$tmp/err"
  exit 1
fi
# A Lua error still lets tshark run; it only says so on stderr.
if grep -qi 'lua' "$tmp/err"; then
  echo "the dissector did not load or run cleanly:"
  cat "$tmp/err"
  exit 1
fi

declare -A got
frame=0
while IFS= read -r line; do
  frame=$((frame + 1))
  IFS='|' read -r -a cols <<<"$line"  # not a tab: read merges runs of whitespace
  for i in "${!fields[@]}"; do got["$frame ${fields[$i]}"]=${cols[$i]:-}; done
done <"$tmp/out"
if ((frame != 5)); then
  echo "expected 5 packets, tshark decoded $frame"
  exit 1
fi

fail=0
checked=0
while read -r f field value; do
  checked=$((checked + 1))
  if [[ ${got["$f $field"]} != "${value:-}" ]]; then
    echo "frame $f $field: expected '${value:-}', got '${got["$f $field"]}'"
    fail=1
  fi
done <<<"$expected"
((fail == 0)) && echo "dissector: $checked fields of 5 packets as written"
exit $fail
