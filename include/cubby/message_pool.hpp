// cubby/message_pool.hpp: the message engine and its pool of reusable
// messages.
//
// Contract
// --------
// A MessageEngine owns a pool of Messages.  Several engines are independent.
// Every member is thread-safe, except construction and destruction.
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
//                             back before (asserted in debug builds).
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
// Progress: get() from the pool and put() into it are lock-free, never
// allocate and never throw.  get(always) on an empty pool allocates (through
// the resource; failure is reported, not thrown).
//
// Representation
// --------------
// The pool is a detail::IndexStack<Message>: a Treiber stack of node ids
// with a tagged head, over an array of max_pooled nodes that lives as long
// as the engine (see detail/index_stack.hpp).  A node is a place: a message
// is bound to one when it is created (IndexStack::claim) and keeps its id in
// Message::node_; get pops a node and returns its message, put pushes the
// message's node back.  The node array, not the message, holds the stack's
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
// Platform: BasicMessageEngine<Platform> is the engine over a platform (see
// platform/native.hpp); MessageEngine is BasicMessageEngine<DefaultPlatform>,
// whose cold paths (construction, allocation, destruction, shutdown) are
// compiled once, in src/message_pool.cpp.  The model checker instantiates it
// with its own platform (model_check/message_pool_model.cpp).
//
// Costs: get from the pool: a relaxed load of the flag and one CAS (pop);
// put into it: two relaxed loads of the flag and one CAS (push).  A get+put
// pair is two CASes in all (about 9 ns on the VM of bench/README.md,
// "Message pool").  Allocation (with one relaxed CAS to claim a place while
// places remain) and destruction are out of line (cold).
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <utility>
#include <vector>

#include "cubby/detail/index_stack.hpp"
#include "cubby/detail/order.hpp"
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
class Message {
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

// GetResult: what get() returns: a message pointer (possibly null, which is
// a success) or an error.
class [[nodiscard]] GetResult {
 public:
  static GetResult success(Message* m) noexcept { return GetResult(m, PoolError{}); }
  static GetResult failure(PoolError e) noexcept { return GetResult(nullptr, e); }

  // has_value: true on success (the message may still be null).
  bool has_value() const noexcept { return error_ == PoolError{}; }
  explicit operator bool() const noexcept { return has_value(); }
  // value: the message (null: pool empty under pool_only).  Precondition:
  // has_value().
  Message* value() const noexcept {
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
  Message* message_;
  PoolError error_;
};

// MessagePoolOptions: the pool's configuration.
struct MessagePoolOptions {
  std::uint32_t initial_pooled = 16;  // messages created with the engine
  std::uint32_t max_pooled = 64;      // the pool's places: the most it keeps (>= initial_pooled)
  std::size_t body_reserve = 0;       // body capacity of a newly created message

  // defaults: 16 initial, 64 maximum.
  static constexpr MessagePoolOptions defaults() noexcept { return {}; }
};

namespace detail {
// validated_pool_options: `o`, or std::invalid_argument if max_pooled <
// initial_pooled (naming both) or resource is null.  src/message_pool.cpp.
MessagePoolOptions validated_pool_options(const MessagePoolOptions& o, std::pmr::memory_resource* resource);
}  // namespace detail

template <class Platform = DefaultPlatform>
class BasicMessageEngine {
 public:
  // BasicMessageEngine: creates initial_pooled messages.  Throws
  // std::invalid_argument if max_pooled < initial_pooled (naming both) or if
  // resource is null, and whatever the resource throws if the initial
  // messages cannot be allocated (nothing is leaked).
  explicit BasicMessageEngine(MessagePoolOptions options = MessagePoolOptions::defaults(),
                              std::pmr::memory_resource* resource = std::pmr::new_delete_resource());
  ~BasicMessageEngine();
  BasicMessageEngine(const BasicMessageEngine&) = delete;
  BasicMessageEngine& operator=(const BasicMessageEngine&) = delete;

  // get: see the class comment.  Never throws.
  GetResult get(Strategy strategy) noexcept {
    // relaxed: a hint; a get that races shutdown may still take a pooled
    // message, which is then destroyed when it is put back.
    if (shut_down_.load(std::memory_order_relaxed)) return GetResult::failure(PoolError::shut_down);
    // [P2] inside: sees the putter's writes.  The message keeps its node.
    if (Message* m = pool_.pop()) return GetResult::success(m);
    if (strategy == Strategy::pool_only) return GetResult::success(nullptr);
    return allocate();
  }

  // put: returns msg to the pool (or destroys it, see the class comment) and
  // sets msg to null.  msg must come from this engine's get().
  void put(Message*& msg) noexcept {
    Message* m = std::exchange(msg, nullptr);
    if (m == nullptr) return;
    assert(m->owner_ == this && "MessageEngine::put: message of another engine");
    // No place: the pool is full (see Places in the class comment).
    // relaxed: a hint; [P3] below settles the race with shutdown().
    if (m->node_ == 0 || shut_down_.load(std::memory_order_relaxed)) return destroy(m);
    m->reset();
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
  GetResult allocate() noexcept;  // cold; binds the message to a free node if any
  void destroy(Message* m) noexcept;
  void drain() noexcept;

  MessagePoolOptions options_;
  std::pmr::memory_resource* resource_;
  detail::IndexStack<Message, Platform> pool_;
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
  for (std::uint32_t i = 0; i < options_.initial_pooled; ++i) {
    GetResult r = allocate();
    if (!r) {
      drain();  // the members' destructors release the node array
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
  assert(live_messages() == 0 && "MessageEngine destroyed while users still hold its messages");
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
}

template <class Platform>
void BasicMessageEngine<Platform>::shutdown() noexcept {
  // relaxed: ordered by [P3]: the acq_rel RMW below releases it to every put
  // whose push comes after that RMW in the pool head's modification order.
  shut_down_.store(true, std::memory_order_relaxed);
  pool_.synchronize();  // [P3]; see the class comment
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
