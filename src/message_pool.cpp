// src/message_pool.cpp: the cold paths of the message engine (construction,
// allocation, destruction and shutdown, defined in message_pool.hpp),
// compiled once for MessageEngine, and the option check.
#include "cubby/message_pool.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace cubby {
namespace detail {

MessagePoolOptions validated_pool_options(const MessagePoolOptions& o, std::pmr::memory_resource* resource) {
  if (o.max_pooled < o.initial_pooled) {
    throw std::invalid_argument("cubby::MessageEngine: max_pooled (" + std::to_string(o.max_pooled) +
                                ") is less than initial_pooled (" + std::to_string(o.initial_pooled) + ")");
  }
  if (o.max_pooled > IndexStack<Message, DefaultPlatform>::max_capacity) {
    throw std::invalid_argument("cubby::MessageEngine: max_pooled (" + std::to_string(o.max_pooled) +
                                ") exceeds the pool's capacity limit (" +
                                std::to_string(IndexStack<Message, DefaultPlatform>::max_capacity) + ")");
  }
  if (o.thread_caches > platform::max_thread_indices) {
    throw std::invalid_argument("cubby::MessageEngine: thread_caches (" + std::to_string(o.thread_caches) +
                                ") exceeds the number of thread indices (" +
                                std::to_string(platform::max_thread_indices) + ")");
  }
  const std::size_t body_max = std::pmr::vector<std::byte>().max_size();
  if (o.body_reserve > body_max) {
    throw std::invalid_argument("cubby::MessageEngine: body_reserve (" + std::to_string(o.body_reserve) +
                                ") exceeds the most a body can hold (" + std::to_string(body_max) + ")");
  }
  if (resource == nullptr) throw std::invalid_argument("cubby::MessageEngine: null memory_resource");
  return o;
}

void destroyed_while_held(std::size_t held) noexcept {
  std::fprintf(stderr,
               "cubby::MessageEngine destroyed while users still hold %zu of its messages; put every message "
               "back before the engine goes (a later put would use the destroyed engine)\n",
               held);
  std::abort();
}

}  // namespace detail

template class BasicMessageEngine<DefaultPlatform>;

}  // namespace cubby
