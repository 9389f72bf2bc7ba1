// stress/queue_stress.cpp: the workloads of cubby::Queue.
//
//   queue      producers/consumers over the whole single-value API, epochs
//              closed under load, random capacities (1 .. 64, powers of two
//              and not) and start tickets: conservation, per-producer FIFO
//   queue-lin  short windows checked against a bounded FIFO of capacity 2
//              (holes left by voided pushes may sit between values)
#include <cstdint>
#include <memory>

#include "cubby/queue.hpp"
#include "harness/channel_workloads.hpp"

namespace cubby::stress {
namespace {

StartTicket random_queue_start(Rng& rng) {
  switch (rng.below(3)) {
    case 0: return StartTicket{~std::uint64_t{0} - rng.below(64)};
    case 1: return StartTicket{rng.next()};
    default: return StartTicket{0};
  }
}

using U64Queue = Queue<std::uint64_t>;

const Registrar transfer{Workload{
    "queue", "producers/consumers, blocking/try/timed mix, close under load, random capacity", Kind::blocking,
    check_conservation | check_fifo, /*producer_consumer=*/true, /*expect_failure=*/false, [](Run& run) {
      run_transfer<U64Queue>(
          run,
          [](Rng& rng) {
            static constexpr std::size_t capacities[] = {1, 2, 3, 4, 7, 16, 64};
            return std::make_unique<U64Queue>(capacities[rng.below(std::size(capacities))], random_queue_start(rng));
          },
          /*fifo=*/true);
    }}};

const Registrar linearizability{Workload{
    "queue-lin", "windows of concurrent operations checked against a bounded FIFO", Kind::blocking,
    check_linearizability, false, false, [](Run& run) {
      run_linearizability<U64Queue>(
          run, [](Rng& rng) { return std::make_unique<U64Queue>(2, random_queue_start(rng)); }, LinShape{2, 4, 12});
    }}};

}  // namespace
}  // namespace cubby::stress
