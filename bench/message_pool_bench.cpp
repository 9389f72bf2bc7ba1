// bench/message_pool_bench.cpp: getting a message from a MessageEngine's pool
// and putting it back, against new and delete of the same message.
//
// pool/<impl>[_body64]: one get/put (or new/delete) pair per iteration.
//   new_delete      `new` of a message laid out like cubby::Message (a
//                   MessageHeader and a std::pmr::vector<std::byte> body on
//                   new_delete_resource), then `delete`
//   message_pool    MessageEngine::get(Strategy::always) then put()
//   message_pool_stack_only  the same on an engine without per-thread
//                   caches (thread_caches = 0): a pop and a push
//   _body64         the message also carries a 64-byte body: new/delete
//                   allocate it every time, a pooled message keeps its
//                   capacity across put (put empties the body)
// /threads:2: two threads at once on one engine (the same pool).
// pool/pipeline/<impl>: two threads, one that only gets (or news) and hands
//   each message through a cubby::Queue (capacity 64) to one that only puts
//   (or deletes): the engine's usual shape, where every message changes
//   threads.  Iterations count messages; CPU is both threads'.
// ref/*: one uncontended CAS, one seq_cst fence: the floor of any shared
//   lock-free pool (see the README).
// ref/message_pool_exact_count_floor: message_pool's pair plus one relaxed
//   fetch_add and one fetch_sub on a shared count: the least that a pool
//   counting the messages it holds (to destroy a put message exactly when
//   it holds max_pooled, instead of by places; message_pool.hpp, "Places")
//   would add to every get and put, since those change the count.  A floor,
//   not such a pool: the count would also have to be checked against the
//   maximum, and messages to move between places.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

#include "bench_main.hpp"
#include "cubby/message_pool.hpp"
#include "cubby/queue.hpp"

namespace {

// The message as a user would allocate it without the pool.
struct PlainMessage {
  cubby::MessageHeader header;
  std::pmr::vector<std::byte> body{std::pmr::new_delete_resource()};
};
static_assert(sizeof(PlainMessage) == sizeof(cubby::MessageHeader) + sizeof(std::pmr::vector<std::byte>),
              "PlainMessage: the header and the body, like cubby::Message without its owner pointer");

template <std::size_t Body>
void BM_NewDelete(benchmark::State& state) {
  std::uint64_t k = 0;
  for (auto _ : state) {
    auto* m = new PlainMessage;
    benchmark::DoNotOptimize(m);
    m->header.sequence = k++;
    if constexpr (Body > 0) m->body.resize(Body);
    benchmark::ClobberMemory();
    delete m;
  }
}

cubby::MessageEngine& shared_engine() {
  static cubby::MessageEngine engine;  // defaults: 16 pooled, at most 64, per-thread caches
  return engine;
}

// The same engine without per-thread caches: every get pops the shared
// stack and every put pushes onto it.
cubby::MessageEngine& stack_only_engine() {
  static cubby::MessageEngine engine(cubby::MessagePoolOptions{.thread_caches = 0});
  return engine;
}

template <std::size_t Body, bool Caches = true>
void BM_MessagePool(benchmark::State& state) {
  cubby::MessageEngine& engine = Caches ? shared_engine() : stack_only_engine();
  std::uint64_t k = 0;
  for (auto _ : state) {
    cubby::Message* m = engine.get(cubby::Strategy::always).value();
    benchmark::DoNotOptimize(m);
    m->header.sequence = k++;
    if constexpr (Body > 0) m->body().resize(Body);
    benchmark::ClobberMemory();
    engine.put(m);
  }
}

// The pipeline: thread 0 makes messages and pushes them, thread 1 pops and
// releases them; both run the same number of iterations.
template <class Make, class Release>
void pipeline(benchmark::State& state, Make make, Release release) {
  static cubby::Queue<void*> queue(64);
  std::uint64_t k = 0;
  if (state.thread_index() == 0) {
    for (auto _ : state) {
      void* m = make(k++);
      benchmark::DoNotOptimize(m);
      (void)queue.push(std::move(m));
    }
  } else {
    for (auto _ : state) {
      void* m = nullptr;
      (void)queue.pop(m);
      release(m);
    }
  }
}

void BM_PipelineNewDelete(benchmark::State& state) {
  pipeline(
      state,
      [](std::uint64_t k) -> void* {
        auto* m = new PlainMessage;
        m->header.sequence = k;
        return m;
      },
      [](void* m) { delete static_cast<PlainMessage*>(m); });
}
BENCHMARK(BM_PipelineNewDelete)->Name("pool/pipeline/new_delete")->Threads(2)->UseRealTime();

void BM_PipelineMessagePool(benchmark::State& state) {
  static cubby::MessageEngine pipeline_engine;  // its own: the other benchmarks' caches stay as they were
  pipeline(
      state,
      [](std::uint64_t k) -> void* {
        cubby::Message* m = pipeline_engine.get(cubby::Strategy::always).value();
        m->header.sequence = k;
        return m;
      },
      [](void* p) {
        auto* m = static_cast<cubby::Message*>(p);
        pipeline_engine.put(m);
      });
}
BENCHMARK(BM_PipelineMessagePool)->Name("pool/pipeline/message_pool")->Threads(2)->UseRealTime();

// References for reading the figures: the price of one uncontended atomic
// read-modify-write and of one seq_cst fence on this machine.  A shared
// lock-free pool cannot cost less than its RMWs.
void BM_RefCas(benchmark::State& state) {
  std::atomic<std::uint64_t> word{0};
  std::uint64_t expected = 0;
  for (auto _ : state) {
    while (!word.compare_exchange_weak(expected, expected + 1, std::memory_order_acq_rel)) {
    }
    ++expected;
  }
  benchmark::DoNotOptimize(word.load());
}
BENCHMARK(BM_RefCas)->Name("ref/one_cas");

void BM_RefFence(benchmark::State& state) {
  for (auto _ : state) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RefFence)->Name("ref/seq_cst_fence");

void BM_ExactCountFloor(benchmark::State& state) {
  cubby::MessageEngine& engine = shared_engine();
  static std::atomic<std::int64_t> pooled{0};
  std::uint64_t k = 0;
  for (auto _ : state) {
    cubby::Message* m = engine.get(cubby::Strategy::always).value();
    // relaxed: a model of the count's cost only; nothing is published by it.
    pooled.fetch_sub(1, std::memory_order_relaxed);
    benchmark::DoNotOptimize(m);
    m->header.sequence = k++;
    benchmark::ClobberMemory();
    pooled.fetch_add(1, std::memory_order_relaxed);  // relaxed: as above
    engine.put(m);
  }
}
BENCHMARK(BM_ExactCountFloor)->Name("ref/message_pool_exact_count_floor");

BENCHMARK(BM_NewDelete<0>)->Name("pool/new_delete")->Threads(1)->Threads(2);
BENCHMARK(BM_MessagePool<0>)->Name("pool/message_pool")->Threads(1)->Threads(2);
BENCHMARK(BM_MessagePool<0, false>)->Name("pool/message_pool_stack_only")->Threads(1)->Threads(2);
BENCHMARK(BM_NewDelete<64>)->Name("pool/new_delete_body64")->Threads(1)->Threads(2);
BENCHMARK(BM_MessagePool<64>)->Name("pool/message_pool_body64")->Threads(1)->Threads(2);

}  // namespace

int main(int argc, char** argv) {
  return cubby_bench::run(argc, argv,
                          {
                              {"pool get+put / new+delete", "pool/message_pool/threads:1", "pool/new_delete/threads:1",
                               "cpu_time", 1.0 / 3},
                              {"pool get+put / new+delete, 64-byte body", "pool/message_pool_body64/threads:1",
                               "pool/new_delete_body64/threads:1", "cpu_time", 1.0 / 3},
                              {"pool get+put / new+delete, 2 threads", "pool/message_pool/threads:2",
                               "pool/new_delete/threads:2", "cpu_time", 1.0 / 3},
                          });
}
