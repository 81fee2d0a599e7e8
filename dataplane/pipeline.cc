#include "dataplane/pipeline.h"

#include "dataplane/stages.h"

namespace hafw::dp {

void run_burst(WorkerCtx& ctx, Burst& b) {
  // In the order of Next: each stage only moves packets to later ones.
  stage::eth_input(ctx, b);
  stage::arp_input(ctx, b);
  stage::ipv4_input(ctx, b);
  stage::ipv6_input(ctx, b);
  stage::state_lookup(ctx, b);
  stage::dnat(ctx, b);
  stage::ipv4_classify(ctx, b);
  stage::ipv6_classify(ctx, b);
  stage::ipv4_local(ctx, b);
  stage::ipv6_local(ctx, b);
  stage::icmp_local(ctx, b);
  stage::ipv4_route(ctx, b);
  stage::ipv6_route(ctx, b);
  stage::filter(ctx, b);
  stage::state_create(ctx, b);
  stage::ipv4_output(ctx, b);
  stage::ipv6_output(ctx, b);
  stage::icmp_error(ctx, b);
  static_assert(kStageCount == 18, "a stage was added to Next: run it here, in order");

  WorkerCounters& c = *ctx.counters;
  for (uint16_t i = 0; i < b.n; ++i) {
    const PacketMeta& p = b.pkt[i];
    if (p.next == Next::Drop) c.add(p.drop);
    else if (p.next == Next::Control) c.add(p.punt);
  }
}

PacketMeta run_one(WorkerCtx& ctx, uint8_t in, uint8_t* frame, uint16_t len, uint16_t room) {
  Burst b;
  b.n = 1;
  b.set(0, frame, len, in, room);
  run_burst(ctx, b);
  return b.pkt[0];
}

}  // namespace hafw::dp
