// src/message_pool.cpp: the cold paths of the message engine: construction,
// allocation, destruction and shutdown.
#include "cubby/message_pool.hpp"

#include <new>
#include <stdexcept>
#include <string>

namespace cubby {
namespace {

MessagePoolOptions validated(const MessagePoolOptions& o, std::pmr::memory_resource* resource) {
  if (o.max_pooled < o.initial_pooled) {
    throw std::invalid_argument("cubby::MessageEngine: max_pooled (" + std::to_string(o.max_pooled) +
                                ") is less than initial_pooled (" + std::to_string(o.initial_pooled) + ")");
  }
  if (resource == nullptr) throw std::invalid_argument("cubby::MessageEngine: null memory_resource");
  return o;
}

}  // namespace

MessageEngine::MessageEngine(MessagePoolOptions options, std::pmr::memory_resource* resource)
    : options_(validated(options, resource)), resource_(resource), pool_(options.max_pooled, resource) {
  for (std::uint32_t i = 0; i < options_.initial_pooled; ++i) {
    GetResult r = allocate();
    if (!r) {
      drain();  // the members' destructors release the node array
      throw std::bad_alloc();
    }
    Message* m = r.value();
    const bool pooled = pool_.push(m);  // cannot fail: initial <= max
    assert(pooled);
    (void)pooled;
  }
}

MessageEngine::~MessageEngine() {
  shutdown();
  drain();
  assert(live_messages() == 0 && "MessageEngine destroyed while users still hold its messages");
}

GetResult MessageEngine::allocate() noexcept {
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
  return GetResult::success(m);
}

void MessageEngine::destroy(Message* m) noexcept {
  m->~Message();  // releases the body through the resource
  resource_->deallocate(m, sizeof(Message), alignof(Message));
  live_.fetch_sub(1, std::memory_order_relaxed);  // statistic
}

void MessageEngine::drain() noexcept {
  while (Message* m = pool_.pop()) destroy(m);
}

void MessageEngine::shutdown() noexcept {
  // relaxed: ordered by [P3]: the acq_rel RMW below releases it to every put
  // whose push comes after that RMW in the pool head's modification order.
  shut_down_.store(true, std::memory_order_relaxed);
  pool_.synchronize();  // [P3]; see the class comment in message_pool.hpp
  drain();
}

}  // namespace cubby
