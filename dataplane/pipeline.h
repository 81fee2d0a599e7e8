// The worker pipeline: every stage over a whole burst, without DPDK.
//
// The DPDK glue (dataplane/dpdk/dpdk.cc) fills a Burst from rte_eth_rx_burst,
// calls run_burst(), and acts on each packet's exit: Tx -> the TX buffer of
// `out`; Control -> the control thread's ring; Drop -> free. The pipeline
// counts the drops and punts itself, so every PacketIo counts them alike.
// run_burst() never allocates, throws, logs, locks or makes a system call;
// it only reads the snapshots and rewrites frames in place. Stages and their
// rules: docs/dataplane.md.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"

namespace hafw::dp {

// ctx.view must be ready(); ctx.counters must be set.
void run_burst(WorkerCtx& ctx, Burst& b);

// One frame through the pipeline as a burst of one: for tests and tools.
// `room`: the buffer's size from `frame` on (0: just the frame).
PacketMeta run_one(WorkerCtx& ctx, uint8_t in, uint8_t* frame, uint16_t len, uint16_t room = 0);

}  // namespace hafw::dp
