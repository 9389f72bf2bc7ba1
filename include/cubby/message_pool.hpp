// cubby/message_pool.hpp: the message engine and its pool of reusable
// messages.
//
// Contract
// --------
// A MessageEngine owns a pool of Messages.  Several engines are independent.
// Every member is thread-safe, except construction and destruction, but not
// async-signal-safe: a signal handler must not call them (a thread's cache
// assumes its owner is not re-entered).  A child of fork() may use an engine
// only if no other thread of the parent was inside one of its members at the
// fork (a get stopped halfway leaves its cache marked busy, and thieves wait
// on that mark).
//
//   get(Strategy::pool_only)  a pooled message, or null if the pool is empty
//                             (null is a valid answer, not an error);
//   get(Strategy::always)     a pooled message, or a newly allocated one;
//   get() errors              PoolError::out_of_memory (allocation failed) or
//                             PoolError::shut_down, distinct from null;
//   put(msg)                  returns msg to the pool and nulls the caller's
//                             pointer; put(null) does nothing.  If the pool
//                             is full (see Places), or the engine is shut
//                             down, the message is destroyed and its memory
//                             released instead.
//   shutdown()                destroys every pooled message; later gets fail
//                             with shut_down; messages users still hold are
//                             destroyed when they are put back.  Idempotent.
//   ~MessageEngine()          shutdown(); every message must have been put
//                             back before: one still held ends the process
//                             with a message naming the count (its later
//                             put would use the destroyed engine).
//
// Places.  The pool has max_pooled places.  A message takes a place when it
// is created, if one is still free, and keeps it for its whole life, pooled
// or held by a user; places are never given back.  So:
//   - put() of a message with a place pools it (unless shut down): its place
//     is waiting for it.  put() of a message without one (created by
//     get(always) when every place was taken) destroys it.
//   - "The pool is full" therefore means: max_pooled messages have places,
//     whether they are in the pool now or held by users.  At any instant the
//     pool holds at most max_pooled messages (exact, not approximate), and
//     the engine keeps at most max_pooled messages for reuse.
//   - Unlike a pool that counts only the messages it holds right now, a put
//     may destroy a message while the pool holds fewer than max_pooled, if
//     users hold the other placed messages.  Nothing is lost by it: the pool
//     is full once those come back.  But a message held for a long time
//     keeps its place: size max_pooled for the messages held at once plus
//     those to keep ready.
//   - A placed message is reused until shutdown.  Once every place is
//     taken, get(always) on an empty pool (all placed messages out) makes a
//     placeless message, destroyed on its put: the same churn as a pool
//     that destroys on put when it holds max_pooled.
//   - Shutdown needs no places: every message is destroyed, placed or not,
//     when it is drained or put back.
//   - Why places and not a count of the messages pooled: a count changes on
//     every get and put, two atomic RMWs on one shared line per pair even
//     when uncontended.  This pool's pair with just those two RMWs added
//     (bench/, ref/message_pool_exact_count_floor) measured 13.7-13.9 ns,
//     against 3.0-3.1 ns without them and 10.0-10.2 ns for new+delete of
//     the same message (bench/README.md).  Nor by moving places: the put of
//     a message without one could take the place of a message a user holds,
//     but that holder's put must then learn of it before it pools its
//     message, a Dekker pair: a fence on every put (a locked instruction,
//     an RMW's cost) or a heavy barrier on every move.  Moves would happen
//     at every put beyond max_pooled while users hold placed messages (the
//     usual case when the pool is too small for the load), and each
//     membarrier(2) interrupts every running thread of the process.
//
// A got message comes back as it was put, except that put() resets it: the
// header is zeroed and the body emptied, keeping the body's capacity, so a
// reused message does not allocate again for bodies of the same size.
// OwnedMessage puts its message back when it is destroyed.
//
// Allocator: every allocation (messages, bodies, the pool's node array) goes
// through the std::pmr::memory_resource given at creation, which must
//   - be thread-safe (messages are created and destroyed on any thread),
//   - outlive the engine and every message of it,
//   - really release memory on deallocate (a monotonic_buffer_resource does
//     not: a pool that destroys messages when full would grow without bound).
// The default, std::pmr::new_delete_resource(), satisfies all three.
//
// Progress: get() and put() never allocate and never throw, except that
// get(always) on an empty pool allocates (through the resource; failure is
// reported, not thrown).  They are lock-free, with one exception: taking a
// message from another thread's cache waits while that thread is inside its
// own cache's take (a few instructions, without a call; longer only if the
// thread is preempted there).  See "The caches".
//
// Where pooled messages are: in the shared stack, or in a per-thread cache
// (options.thread_caches, default 64: threads with platform thread indices
// 1..64 have one each).  A thread's put fills its own cache if it is empty,
// else pushes onto the stack; its get takes from its own cache, else pops
// the stack, else takes from another thread's cache.  Every cached message
// is still in the pool: any thread's get finds it, a get(pool_only) returns
// null only when the stack and every cache are empty at once, and
// shutdown() destroys it, whichever thread put it and whether or not that
// thread still runs.  A thread's get after its own put touches only its
// own cache line, with plain loads and stores: no RMW, no contention.
//
// Representation
// --------------
// The shared pool is a detail::IndexStack<Message> (the caches are below):
// a Treiber stack of node ids with a tagged head, over an array of
// max_pooled nodes that lives as long as the engine (see
// detail/index_stack.hpp).  A node is a place: a message is bound to one
// when it is created (IndexStack::claim) and keeps its id in Message::node_;
// get pops a node and returns its message, put pushes the message's node
// back (a cache holds the node id too).  The node array, not the message, holds the stack's
// links, so a get that read a stale head reads a node, never a destroyed
// message; the tag defeats ABA.  A stack rather than a Queue<Message*>: a
// Queue's promised pop waits for a pusher already in line, so a preempted
// put could stall a get; the stack's operations never wait for another
// thread.  LIFO also hands out the most recently used, cache-warm message
// first.
//
// Shutdown against a concurrent put ([P3]): put pushes (an acq_rel CAS on
// the pool's head), then reads the shutdown flag; shutdown sets the flag,
// then makes an acq_rel no-op RMW on the same head
// (IndexStack::synchronize), then drains the pool.  Whichever RMW comes
// first in the head's modification order synchronizes with the other, so
// either put sees the flag (and drains the pool itself) or shutdown's drain
// sees the pushed message: nothing stays pooled after shutdown.  (RMWs
// rather than seq_cst fences: same cost on x86, and ThreadSanitizer can
// check them.)  A put of a message without a place touches no shared state
// but the statistic: it destroys the message.  A destroyed message's node is
// never pushed again (only the message's holder pushes it), so the stale
// pointer it keeps is never read.
//
// The caches.  Each is a word on its own cache line (beside the fields of
// the take protocol, see ThreadCache): a node id (0: empty) and a tag that
// counts the word's changes.  Only the thread whose
// index owns the cache fills it (a plain release store, [P4]: no RMW);
// since nobody else fills it, the owner's put reads an empty cache and
// stores without racing anyone.  The owner empties it with a plain store
// too (take_own), other threads ("thieves") with a CAS (steal), so that a
// message is taken once:
//   owner: busy = 1; light barrier; if no thief is counted: read the word,
//          store it empty, busy = 0.  If one is: busy = 0, take by CAS.
//   thief: count itself in (thieves + 1); heavy barrier; wait until busy
//          is 0; take by CAS; count itself out.
// The barriers are an asymmetric pair ([P7], as in detail/turn_slot.hpp):
// either the owner sees the count and competes by CAS, or the thief sees
// the busy mark and waits for the owner's store ([P8]); a count back at 0
// shows the owner every finished steal ([P9]).  The owner's take costs two
// stores to busy and a compiler barrier instead of a CAS; a steal costs a
// membarrier(2), which interrupts every running thread of the process (11
// us on the 2-CPU VM of bench/README.md while the other CPU ran one).  So
// that steals stay rare, a steal sends the owner's next puts to the stack
// (64 of them, twice as many after each steal that followed a single fill,
// as when a thread only puts while others only get; at most 2^20): the
// stack, not its cache, then serves the getters.
// A thread index is reused only after its thread exited, and the exit
// happens-before the reuse ([T1] in src/thread_index.cpp), so the new owner
// inherits the cache safely.
//
// Emptiness: a get(pool_only) that found its own cache and the stack empty
// collects the stack's head and every cache in use twice (get_elsewhere;
// get(always) looks once and then allocates, see there); if both
// passes see them all empty and unchanged (the tags), the pool was empty at
// a moment between them.  Takes and pops are release and the collects'
// loads acquire ([P6]; so do a steal's re-read of the word and its failed
// CAS, whose value the collect counts): a get that finds a place emptied
// sees what the thread that emptied it had seen, so a put that happened
// before that take cannot hide from the second pass.  The loop retries only
// when some other operation completed, so it stays lock-free.  The collect
// reads min(thread_caches, thread_index_bound()) caches: as many as the
// threads that ever ran at once, not all 64.
//
// Shutdown against a put into a cache ([P5]): the put stores, runs the
// light half of the asymmetric barrier pair, and reads the flag; shutdown
// sets the flag, runs the heavy half, and drains the caches.  Either the put
// sees the flag (and drains) or the drain sees the message.
//
// Platform: BasicMessageEngine<Platform> is the engine over a platform (see
// platform/native.hpp); MessageEngine is BasicMessageEngine<DefaultPlatform>,
// whose cold paths (construction, allocation, destruction, shutdown) are
// compiled once, in src/message_pool.cpp.  The model checker instantiates it
// with its own platform (model_check/message_pool_model.cpp).
//
// Costs: a get+put pair by one thread, through its cache: no RMW; plain
// stores to its cache line (the take's two busy marks and the word, the
// put's word), relaxed loads of the flags and two compiler barriers.
// Through the stack: a CAS each (pop, push).  Taking from another thread's
// cache: a membarrier(2) and a CAS (see The caches).  A get
// that finds the pool empty collects twice (see Emptiness) before it
// returns null (get(always) looks once, then allocates).  Figures:
// bench/README.md, "Message pool".
// Allocation (with one relaxed CAS to claim a place while places remain)
// and destruction are out of line (cold).
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory_resource>
#include <new>
#include <utility>
#include <vector>

#include "cubby/detail/index_stack.hpp"
#include "cubby/detail/order.hpp"
#include "cubby/platform/backoff.hpp"
#include "cubby/platform/cache_line.hpp"
#include "cubby/platform/native.hpp"

namespace cubby {

template <class Platform>
class BasicMessageEngine;

// MessageHeader: the fixed part of a message.  Its meaning is the user's.
struct MessageHeader {
  std::uint32_t type = 0;
  std::uint32_t flags = 0;
  std::uint64_t sequence = 0;
  std::uint64_t user = 0;
};

// Message: a header and a body buffer the message owns (allocated through
// the engine's memory resource).  Created and destroyed only by an engine.
// Alone on its cache lines (platform::cache_line_size): messages are
// allocated one by one, and two held by threads on different cores would
// otherwise share a line, so that every reset() or header write by one
// would take the line from the other.
class alignas(platform::cache_line_size) Message {
 public:
  MessageHeader header;

  // body: the payload bytes; grows through the engine's resource.
  std::pmr::vector<std::byte>& body() noexcept { return body_; }
  const std::pmr::vector<std::byte>& body() const noexcept { return body_; }

  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

 private:
  template <class Platform>
  friend class BasicMessageEngine;
  Message(const void* owner, std::pmr::memory_resource* resource) noexcept : body_(resource), owner_(owner) {}
  ~Message() = default;
  // reset: the state a got message starts from; keeps the body's capacity.
  void reset() noexcept {
    header = MessageHeader{};
    body_.clear();
  }

  std::pmr::vector<std::byte> body_;
  const void* owner_;       // the engine that created it (put checks it in debug builds)
  std::uint32_t node_ = 0;  // its place: the pool node it is bound to for life (0: none)
};

enum class Strategy {
  pool_only,  // a pooled message, or null if the pool is empty
  always,     // a pooled message, or a new one if the pool is empty
};

enum class PoolError : std::uint8_t {
  out_of_memory = 1,  // the memory resource failed (threw)
  shut_down,          // the engine is shut down
};

constexpr const char* to_string(PoolError e) noexcept {
  switch (e) {
    case PoolError::out_of_memory: return "out_of_memory";
    case PoolError::shut_down: return "shut_down";
  }
  return "?";
}

// BadGetResultAccess: thrown by GetResult::value() on an error, as
// std::expected's value() throws bad_expected_access: a caller that skips
// the has_value() check cannot take an error for an empty pool.
class BadGetResultAccess : public std::exception {
 public:
  explicit BadGetResultAccess(PoolError e) noexcept : error_(e) {}
  const char* what() const noexcept override {
    return error_ == PoolError::shut_down ? "cubby::GetResult::value(): get() failed: shut_down"
                                          : "cubby::GetResult::value(): get() failed: out_of_memory";
  }
  PoolError error() const noexcept { return error_; }

 private:
  PoolError error_;
};

// GetResult: what get() returns: a message pointer (possibly null, which is
// a success) or an error.
class [[nodiscard]] GetResult {
 public:
  static GetResult success(Message* m) noexcept { return GetResult(m, PoolError{}); }
  static GetResult failure(PoolError e) noexcept { return GetResult(nullptr, e); }

  // has_value: true on success (the message may still be null).
  bool has_value() const noexcept { return error_ == PoolError{}; }
  explicit operator bool() const noexcept { return has_value(); }
  // value: the message (null: pool empty under pool_only); throws
  // BadGetResultAccess if get() failed (!has_value()).
  Message* value() const {
    if (!has_value()) [[unlikely]] throw_bad_access(error_);
    return message_;
  }
  // operator*: the message, unchecked.  Precondition: has_value() (asserted
  // in debug builds).
  Message* operator*() const noexcept {
    assert(has_value());
    return message_;
  }
  // error: precondition !has_value().
  PoolError error() const noexcept {
    assert(!has_value());
    return error_;
  }

 private:
  GetResult(Message* m, PoolError e) noexcept : message_(m), error_(e) {}
  [[noreturn, gnu::cold, gnu::noinline]] static void throw_bad_access(PoolError e) { throw BadGetResultAccess(e); }
  Message* message_;
  PoolError error_;
};

// MessagePoolOptions: the pool's configuration.
struct MessagePoolOptions {
  std::uint32_t initial_pooled = 16;  // messages created with the engine
  std::uint32_t max_pooled = 64;      // the pool's places: the most it keeps (>= initial_pooled)
  std::size_t body_reserve = 0;       // body capacity of a newly created message
  // Per-thread caches: threads with indices 1..thread_caches (see
  // platform::thread_index()) each keep one pooled message of their own,
  // reached without contention (see the class comment).  0: none.  At most
  // platform::max_thread_indices.
  std::uint32_t thread_caches = 64;

  // defaults: 16 initial, 64 maximum.
  static constexpr MessagePoolOptions defaults() noexcept { return {}; }
};

namespace detail {
// validated_pool_options: `o`, or std::invalid_argument if max_pooled <
// initial_pooled (naming both), max_pooled exceeds IndexStack::max_capacity,
// thread_caches exceeds platform::max_thread_indices, body_reserve exceeds
// what a body can hold (its max_size()), or resource is null.
// src/message_pool.cpp.
MessagePoolOptions validated_pool_options(const MessagePoolOptions& o, std::pmr::memory_resource* resource);
// destroyed_while_held: ~BasicMessageEngine's report that users still hold
// `held` messages: prints it and aborts.  src/message_pool.cpp.
[[noreturn, gnu::cold]] void destroyed_while_held(std::size_t held) noexcept;
}  // namespace detail

template <class Platform = DefaultPlatform>
class BasicMessageEngine {
 public:
  // BasicMessageEngine: creates initial_pooled messages.  Throws
  // std::invalid_argument for invalid options (max_pooled < initial_pooled,
  // naming both, and the others of detail::validated_pool_options, naming
  // the value) or a null resource; whatever the resource throws if the node
  // array or the cache array cannot be allocated; std::bad_alloc if an
  // initial message (or its body_reserve) cannot be.  Nothing is leaked.
  explicit BasicMessageEngine(MessagePoolOptions options = MessagePoolOptions::defaults(),
                              std::pmr::memory_resource* resource = std::pmr::new_delete_resource());
  ~BasicMessageEngine();
  BasicMessageEngine(const BasicMessageEngine&) = delete;
  BasicMessageEngine& operator=(const BasicMessageEngine&) = delete;

  // get: see the class comment.  Never throws.
  GetResult get(Strategy strategy) noexcept {
    if (ThreadCache* c = my_cache()) {
      if (Message* m = take_own(*c)) [[likely]] return GetResult::success(m);
    }
    // relaxed: a hint; a get that races shutdown may still take a pooled
    // message, which is then destroyed when it is put back.
    if (shut_down_.load(std::memory_order_relaxed)) return GetResult::failure(PoolError::shut_down);
    // [P2] inside: sees the putter's writes.  The message keeps its node.
    if (Message* m = pool_.pop()) return GetResult::success(m);
    return get_elsewhere(strategy);
  }

  // put: returns msg to the pool (or destroys it, see the class comment) and
  // sets msg to null.  msg must come from this engine's get().
  void put(Message*& msg) noexcept {
    Message* m = std::exchange(msg, nullptr);
    if (m == nullptr) return;
    assert(m->owner_ == this && "MessageEngine::put: message of another engine");
    // No place: the pool is full (see Places in the class comment).
    if (m->node_ == 0) return destroy(m);
    // No early look at the shut-down flag: both paths below read it after
    // pooling m ([P5], [P3]) and drain if it is set, which destroys m.
    m->reset();
    if (ThreadCache* tc = my_cache()) {
      // relaxed: a hint (see note_steal): after a steal, some puts go to the
      // stack instead.
      const std::uint32_t skip = tc->skip.load(std::memory_order_relaxed);
      if (skip == 0) [[likely]] {
        Cache& c = tc->word;
        // relaxed: only this thread fills its cache (others only empty it),
        // so an empty cache read here stays empty until the store below,
        // which therefore never overwrites a message.  A stale full value
        // only sends m to the stack.
        const Word w = c.load(std::memory_order_relaxed);
        if (Stack::id_of(w) == 0) [[likely]] {
          tc->held.store(m);  // the owner's alone (see ThreadCache)
          // [P4] release: publishes the message (and its binding to its
          // node) to the thread whose take empties the cache.
          c.store(next_version(w) | m->node_, CUBBY_ORDER(P4, std::memory_order_release));
          // [P5] light barrier: pairs with shutdown()'s heavy barrier; either
          // the load below sees the flag, or shutdown's drain sees the message.
          if (CUBBY_KEEP(P5)) Platform::light_barrier();
          // relaxed: ordered by [P5].
          if (shut_down_.load(std::memory_order_relaxed)) drain();
          return;
        }
      } else {
        tc->skip.store(skip - 1, std::memory_order_relaxed);  // relaxed: a hint
      }
    }
    // Its place is waiting: the push cannot fail.  Its CAS is [P1]
    // (publishes the message) and the acquire half of [P3] (see the class
    // comment).
    pool_.push(m->node_);
    // relaxed: ordered by [P3]: if shutdown's synchronize() preceded our push
    // in the head's modification order, its flag store happens-before this.
    if (shut_down_.load(std::memory_order_relaxed)) drain();
  }

  // shutdown: see the class comment.  Idempotent, thread-safe.
  void shutdown() noexcept;
  bool is_shut_down() const noexcept { return shut_down_.load(std::memory_order_relaxed); }  // relaxed: a snapshot

  const MessagePoolOptions& options() const noexcept { return options_; }
  std::pmr::memory_resource* resource() const noexcept { return resource_; }
  // live_messages: messages created and not yet destroyed (pooled or held by
  // users).  relaxed: a statistic, exact when no operation runs.
  std::size_t live_messages() const noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  using Stack = detail::IndexStack<Message, Platform>;
  using Word = typename Stack::Word;
  // A per-thread cache, alone on its cache line (see "The caches" in the
  // class comment):
  //   word     tag (bits 63..32, counts the word's changes) and node id
  //            (bits 31..0, 0: empty).  Filled only by the owner (a plain
  //            store); emptied by the owner with a plain store (take_own) or
  //            by a thief with a CAS (steal).
  //   busy     1 while the owner is inside take_own (the owner writes it).
  //   thieves  threads inside steal() on this cache (a count).
  //   skip, skip_len, steal_tag: the routing hint (see put and steal): how
  //            many of the owner's next puts go to the stack instead.  Only
  //            a heuristic: any value is correct.
  //   held     the owner's alone (a Platform::cell, so that the model
  //            checker race-checks that claim): the message of its last fill.
  //            While the word holds an id, held is that id's message (only
  //            the owner fills), so take_own returns it without looking the
  //            node up (two dependent loads less: 3.3-4.4 ns against
  //            4.7-5.9 ns per get+put, bench/README.md).
  using Cache = typename Platform::template atomic<Word>;
  using U32 = typename Platform::template atomic<std::uint32_t>;
  struct ThreadCache {
    ThreadCache() noexcept : word(0), busy(0), thieves(0), skip(0), skip_len(0), steal_tag(0) {}
    Cache word;
    U32 busy;
    U32 thieves;
    U32 skip;
    U32 skip_len;
    U32 steal_tag;
    typename Platform::template cell<Message*> held;  // see above; starts null
  };
  using CacheLine = platform::CachePadded<ThreadCache>;
  // The routing hint's bounds: a thread whose cache is stolen from routes
  // its next kMinSkip puts to the stack, twice as many after each steal
  // that followed a single fill (a thread that only puts), up to kMaxSkip.
  static constexpr std::uint32_t kMinSkip = 64;
  static constexpr std::uint32_t kMaxSkip = 1u << 20;

  static constexpr Word next_version(Word w) noexcept { return ((w >> 32) + 1) << 32; }

  // my_cache: the calling thread's cache, or null (no index, or beyond
  // thread_caches).
  ThreadCache* my_cache() noexcept {
    const std::uint32_t i = Platform::thread_index() - 1;  // no_thread_index - 1: beyond any count
    return i < options_.thread_caches ? &caches_[i].value : nullptr;
  }
  // take: empties cache `c` if it still holds `w` (a message); on failure w
  // is the cache's new value.  [P4] acquire: the message, published by the
  // put that filled the cache.  [P6] release: a get that later finds the
  // cache empty sees everything that happened before this take (see
  // get_elsewhere).  [P6] acquire on failure: the value read may be that
  // emptied cache, which get_elsewhere's collect counts as seen empty.
  static bool take(Cache& c, Word& w) noexcept {
    // [P6] acquire on failure: see above.
    const std::memory_order on_failure = CUBBY_ORDER(P6, std::memory_order_acquire);
    // [P4] acquire, [P6] release; on failure as above.
    return c.compare_exchange_strong(w, next_version(w), CUBBY_ACQ_REL(P4, P6), on_failure);
  }
  // take_own: the owner's take from its own cache, without an RMW when no
  // thief is at it: mark busy, check for thieves, take with a plain store.
  // Null if the cache is empty.
  Message* take_own(ThreadCache& c) noexcept {
    // [P7] relaxed store, light barrier, load of thieves: the owner's half of
    // the Dekker pair with steal()'s heavy barrier.  Either this load sees a
    // thief's count (and we take with a CAS, as the thief does), or the
    // thief's load of busy sees our mark and it waits for us to finish.
    // relaxed: the barrier, not the store's order, is what the pair needs.
    c.busy.store(1, std::memory_order_relaxed);
    if (CUBBY_KEEP(P7)) Platform::light_barrier();
    // [P9] acquire: pairs with a thief's release decrement; a count back at
    // 0 shows us the thief's take, so the load of word below is not stale.
    if (c.thieves.load(CUBBY_ORDER(P9, std::memory_order_acquire)) == 0) [[likely]] {
      // relaxed: no thief takes before [P8] below releases it, and every
      // earlier take is visible ([P9]); the owner fills the word itself.
      const Word w = c.word.load(std::memory_order_relaxed);
      const std::uint32_t id = Stack::id_of(w);
      // [P6] release: a get that later finds the cache empty sees what we
      // had seen (see get_elsewhere).  A plain store: nobody else writes the
      // word until [P8].
      if (id != 0) c.word.store(next_version(w), CUBBY_ORDER(P6, std::memory_order_release));
      // [P8] release: pairs with the acquire load of busy in steal(); a thief
      // that waited for this sees our store above and does not take again.
      c.busy.store(0, CUBBY_ORDER(P8, std::memory_order_release));
      return id != 0 ? c.held.load() : nullptr;  // held: the message of our fill (see ThreadCache)
    }
    // A thief is counted: take by CAS, as thieves do; the CAS settles who
    // gets the message.  [P8] release, as above (we wrote nothing).
    c.busy.store(0, CUBBY_ORDER(P8, std::memory_order_release));
    Word w = c.word.load(std::memory_order_relaxed);  // relaxed: a guess that take() checks
    return take_message(c.word, w);
  }
  // steal: takes the message of another thread's cache `c` (or of any cache,
  // for drain), given `w`, a value of its word that the caller has read.
  // Null if the cache is (or becomes) empty; w is then that empty value.
  // An empty w costs nothing; a message costs a heavy barrier (a
  // membarrier(2)) and waits while the owner is inside take_own.
  Message* steal(ThreadCache& c, Word& w) noexcept {
    if (Stack::id_of(w) == 0) return nullptr;
    // [P7] relaxed RMW, heavy barrier, load of busy: the thief's half of the
    // pair (see take_own).  relaxed: RMW atomicity only.
    c.thieves.fetch_add(1, std::memory_order_relaxed);
    if (CUBBY_KEEP(P7)) Platform::heavy_barrier();
    // An owner marked busy is a few instructions from done (longer only if it
    // is preempted there): wait for it.
    platform::Backoff<Platform> backoff;
    // [P8] acquire: pairs with the owner's release of busy.
    while (c.busy.load(CUBBY_ORDER(P8, std::memory_order_acquire)) != 0) {
      if (!backoff.spin_once()) Platform::yield();
    }
    // [P6] acquire, as the collect's loads: if this finds the cache emptied
    // (an owner's take, or another thief's, won), get_elsewhere counts it as
    // seen empty, so it must show us what the taker had seen.  A message
    // found is acquired by take() ([P4]).
    w = c.word.load(CUBBY_ORDER(P6, std::memory_order_acquire));
    Message* m = take_message(c.word, w);
    if (m != nullptr) note_steal(c, w);  // w: the value taken
    // [P9] release: pairs with take_own's acquire load of the count.
    c.thieves.fetch_sub(1, CUBBY_ORDER(P9, std::memory_order_release));
    return m;
  }
  // note_steal: after a thief took the message of word `w` from c, sends
  // the owner's next puts to the stack, so that a thread whose cache others
  // keep emptying (one that only puts, while others only get) stops filling
  // it: every steal costs a heavy barrier.  All relaxed: a hint (see
  // ThreadCache); races between thieves and the owner only change the count.
  static void note_steal(ThreadCache& c, Word w) noexcept {
    const auto tag = static_cast<std::uint32_t>(w >> 32);
    const std::uint32_t last = c.steal_tag.load(std::memory_order_relaxed);  // relaxed: a hint
    const std::uint32_t len = c.skip_len.load(std::memory_order_relaxed);    // relaxed: a hint
    // The word went from the last steal's value (last) to w by one fill:
    // the owner did nothing else with its cache in between.
    const std::uint32_t doubled = len < kMinSkip ? kMinSkip : len >= kMaxSkip / 2 ? kMaxSkip : len * 2;
    const std::uint32_t next = tag - last == 1 ? doubled : kMinSkip;
    c.steal_tag.store(tag + 1, std::memory_order_relaxed);  // relaxed: a hint; the word's tag after our take
    c.skip_len.store(next, std::memory_order_relaxed);      // relaxed: a hint
    c.skip.store(next, std::memory_order_relaxed);          // relaxed: a hint
  }
  // take_message: takes whatever message cache `c` holds, starting from the
  // guess `w`; null once it is found empty (w is then that empty value).
  Message* take_message(Cache& c, Word& w) noexcept {
    while (Stack::id_of(w) != 0) {
      if (take(c, w)) return pool_.pointer(Stack::id_of(w));
    }
    return nullptr;
  }

  GetResult get_elsewhere(Strategy strategy) noexcept;  // cold: other threads' caches, then null or allocate()
  GetResult allocate() noexcept;                        // cold; binds the message to a free node if any
  void destroy(Message* m) noexcept;
  void drain() noexcept;
  void release_caches() noexcept;

  MessagePoolOptions options_;
  std::pmr::memory_resource* resource_;
  Stack pool_;
  CacheLine* caches_ = nullptr;  // options_.thread_caches of them, from resource_
  typename Platform::template atomic<bool> shut_down_{false};
  typename Platform::template atomic<std::size_t> live_{0};
};

// MessageEngine: the engine over the native platform.
using MessageEngine = BasicMessageEngine<DefaultPlatform>;

// ---- cold paths (for MessageEngine compiled in src/message_pool.cpp) ----

template <class Platform>
BasicMessageEngine<Platform>::BasicMessageEngine(MessagePoolOptions options, std::pmr::memory_resource* resource)
    : options_(detail::validated_pool_options(options, resource)),
      resource_(resource),
      pool_(options.max_pooled, resource) {
  if (options_.thread_caches != 0) {
    // Throws what the resource throws; the node array is released by pool_'s destructor.
    void* mem = resource_->allocate(options_.thread_caches * sizeof(CacheLine), alignof(CacheLine));
    caches_ = static_cast<CacheLine*>(mem);
    for (std::uint32_t i = 0; i < options_.thread_caches; ++i) {
      ::new (static_cast<void*>(caches_ + i)) CacheLine();
    }
  }
  for (std::uint32_t i = 0; i < options_.initial_pooled; ++i) {
    GetResult r = allocate();
    if (!r) {
      drain();  // the members' destructors release the node array
      release_caches();
      throw std::bad_alloc();
    }
    Message* m = r.value();
    assert(m->node_ != 0);  // initial <= max: every one has a place
    pool_.push(m->node_);
  }
}

template <class Platform>
BasicMessageEngine<Platform>::~BasicMessageEngine() {
  shutdown();
  drain();
  // No operation runs any more (the engine is being destroyed), so the
  // count is exact.
  if (const std::size_t held = live_messages(); held != 0) [[unlikely]] detail::destroyed_while_held(held);
  release_caches();
}

template <class Platform>
void BasicMessageEngine<Platform>::release_caches() noexcept {
  if (caches_ == nullptr) return;
  for (std::uint32_t i = 0; i < options_.thread_caches; ++i) caches_[i].~CacheLine();
  resource_->deallocate(caches_, options_.thread_caches * sizeof(CacheLine), alignof(CacheLine));
  caches_ = nullptr;
}

template <class Platform>
GetResult BasicMessageEngine<Platform>::get_elsewhere(Strategy strategy) noexcept {
  // This thread's cache and the stack looked empty.  Take a message from
  // another thread's cache; for pool_only, report the pool empty only after
  // a double collect: two passes over the stack's head and the caches in use that
  // find every one empty and unchanged (the tags count changes), so that
  // there was a moment between the passes when the pool was empty ([P6]).
  for (;;) {
    const std::uint32_t bound = Platform::thread_index_bound();
    const std::uint32_t n = bound < options_.thread_caches ? bound : options_.thread_caches;
    const Word head = pool_.version();  // [P6] acquire (see IndexStack::version)
    if (Stack::id_of(head) != 0) {
      if (Message* m = pool_.pop()) return GetResult::success(m);
      continue;
    }
    std::uint64_t tags = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      ThreadCache& c = caches_[i].value;
      // [P6] acquire: a cache found emptied shows us what its taker had seen
      // (see take()).  A message found is acquired by take().
      Word w = c.word.load(CUBBY_ORDER(P6, std::memory_order_acquire));
      if (Message* m = steal(c, w)) return GetResult::success(m);
      tags += w >> 32;
    }
    // get(always) needs no proof that the pool was empty: it has looked at
    // every place once, and allocating beside a message that arrived since
    // loses nothing (that message stays pooled).  One pass, not two.
    if (strategy == Strategy::always) break;
    // The second pass.  A sum of tags: each stays below 2^32 and only grows
    // (mod 2^32), so an equal sum means none changed unless one wrapped.
    if (pool_.version() != head) continue;
    bool changed = false;
    std::uint64_t tags2 = 0;
    for (std::uint32_t i = 0; i < n && !changed; ++i) {
      // [P6] acquire: as in the first pass.
      const Word w = caches_[i].value.word.load(CUBBY_ORDER(P6, std::memory_order_acquire));
      changed = Stack::id_of(w) != 0;
      tags2 += w >> 32;
    }
    if (changed || tags2 != tags || Platform::thread_index_bound() != bound) continue;
    break;
  }
  if (strategy == Strategy::pool_only) return GetResult::success(nullptr);
  return allocate();
}

template <class Platform>
GetResult BasicMessageEngine<Platform>::allocate() noexcept {
  void* mem = nullptr;
  try {
    mem = resource_->allocate(sizeof(Message), alignof(Message));
  } catch (...) {
    return GetResult::failure(PoolError::out_of_memory);
  }
  Message* m = ::new (mem) Message(this, resource_);
  live_.fetch_add(1, std::memory_order_relaxed);  // statistic
  if (options_.body_reserve != 0) {
    try {
      m->body_.reserve(options_.body_reserve);
    } catch (...) {
      destroy(m);
      return GetResult::failure(PoolError::out_of_memory);
    }
  }
  // A place if one is free (0 if not); before the message leaves this
  // thread, so its first push publishes the binding ([P1]).
  m->node_ = pool_.claim(m);
  return GetResult::success(m);
}

template <class Platform>
void BasicMessageEngine<Platform>::destroy(Message* m) noexcept {
  m->~Message();  // releases the body through the resource
  resource_->deallocate(m, sizeof(Message), alignof(Message));
  live_.fetch_sub(1, std::memory_order_relaxed);  // statistic
}

template <class Platform>
void BasicMessageEngine<Platform>::drain() noexcept {
  while (Message* m = pool_.pop()) destroy(m);
  for (std::uint32_t i = 0; i < options_.thread_caches; ++i) {
    ThreadCache& c = caches_[i].value;
    // relaxed: a guess that take() checks (and acquires).  After shutdown's
    // heavy barrier it sees any put that missed the flag ([P5]).
    Word w = c.word.load(std::memory_order_relaxed);
    if (Message* m = steal(c, w)) destroy(m);
  }
}

template <class Platform>
void BasicMessageEngine<Platform>::shutdown() noexcept {
  // relaxed: ordered by [P3]: the acq_rel RMW below releases it to every put
  // whose push comes after that RMW in the pool head's modification order.
  shut_down_.store(true, std::memory_order_relaxed);
  pool_.synchronize();  // [P3]; see the class comment
  // [P5] heavy barrier: pairs with the light barrier of a put into a cache
  // (see put()): either that put sees the flag, or the drain below sees its
  // message.
  if (CUBBY_KEEP(P5)) Platform::heavy_barrier();
  drain();
}

extern template class BasicMessageEngine<DefaultPlatform>;

// BasicOwnedMessage: puts its message back into its engine when destroyed.
// Move-only.  Not thread-safe itself (like std::unique_ptr).  OwnedMessage is
// the one for MessageEngine.
template <class Platform>
class BasicOwnedMessage {
 public:
  using Engine = BasicMessageEngine<Platform>;

  BasicOwnedMessage() noexcept = default;
  BasicOwnedMessage(Engine& engine, Message* m) noexcept : engine_(&engine), message_(m) {}
  BasicOwnedMessage(BasicOwnedMessage&& o) noexcept
      : engine_(std::exchange(o.engine_, nullptr)), message_(std::exchange(o.message_, nullptr)) {}
  BasicOwnedMessage& operator=(BasicOwnedMessage&& o) noexcept {
    if (this != &o) {
      reset();
      engine_ = std::exchange(o.engine_, nullptr);
      message_ = std::exchange(o.message_, nullptr);
    }
    return *this;
  }
  ~BasicOwnedMessage() { reset(); }

  Message* get() const noexcept { return message_; }
  Message* operator->() const noexcept { return message_; }
  Message& operator*() const noexcept { return *message_; }
  explicit operator bool() const noexcept { return message_ != nullptr; }
  // release: gives up ownership without putting back.
  Message* release() noexcept { return std::exchange(message_, nullptr); }
  // reset: puts the message back now.
  void reset() noexcept {
    if (engine_ != nullptr) engine_->put(message_);
    message_ = nullptr;
  }

 private:
  Engine* engine_ = nullptr;
  Message* message_ = nullptr;
};

using OwnedMessage = BasicOwnedMessage<DefaultPlatform>;

}  // namespace cubby
