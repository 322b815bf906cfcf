// DeltaChannel on one thread: producer and consumer coroutines on one io_context (or two
// io_contexts polled by hand), with the order of their steps recorded and asserted exactly.
// Nothing here sleeps; every wait ends on a delta, a close or a cancellation.
#include "kcoro/delta_channel.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;
using kcoro::Delta;
using kcoro::DeltaChannel;
using kcoro::DeltaType;
using Log = std::vector<std::string>;

namespace {

Delta item(int i) {
  return Delta{DeltaType::added, nullptr, std::to_string(i)};
}

// Spawns `co` (an awaitable, or a function object returning one, which co_spawn keeps alive) and
// reports an escaped exception as a test failure.
template <class Coroutine>
void spawn(asio::io_context& io, Coroutine&& co) {
  asio::co_spawn(io, std::forward<Coroutine>(co), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      FAIL("coroutine threw: " << ex.what());
    }
  });
}

asio::awaitable<void> yield() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// Sends 0..n-1, yielding `pause` times after each send.
asio::awaitable<void> produce(DeltaChannel& ch, int n, int pause, std::size_t& max_size) {
  for (int i = 0; i < n; ++i) {
    const bool ok = co_await ch.send(item(i));
    CHECK(ok);
    max_size = std::max(max_size, ch.size_approx());
    for (int p = 0; p < pause; ++p)
      co_await yield();
  }
  ch.close();
}

// Receives until the channel is closed, yielding `pause` times after each delta.
asio::awaitable<void> consume(DeltaChannel& ch, int pause, std::vector<int>& got) {
  while (auto d = co_await ch.receive()) {
    got.push_back(std::stoi(d->resource_version));
    for (int p = 0; p < pause; ++p)
      co_await yield();
  }
}

std::vector<int> iota(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i)
    v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("channel: construction and names") {
  CHECK_THROWS_AS(DeltaChannel(0), std::invalid_argument);
  DeltaChannel ch(3);
  CHECK(ch.capacity() == 3);
  CHECK(ch.size_approx() == 0);
  CHECK_FALSE(ch.closed());
  CHECK(kcoro::to_string(DeltaType::replace_end) == "replace_end");
  CHECK(kcoro::to_string(DeltaType::bookmark) == "bookmark");
}

TEST_CASE("channel: try_send and try_receive respect capacity and FIFO order") {
  DeltaChannel ch(2);
  Delta a = item(1), b = item(2), c = item(3);
  CHECK(ch.try_send(a));
  CHECK(ch.try_send(b));
  CHECK_FALSE(ch.try_send(c));
  CHECK(c.resource_version == "3");  // untouched on failure
  CHECK(ch.size_approx() == 2);
  CHECK(ch.try_receive()->resource_version == "1");
  CHECK(ch.try_send(c));
  CHECK(ch.try_receive()->resource_version == "2");
  CHECK(ch.try_receive()->resource_version == "3");
  CHECK_FALSE(ch.try_receive().has_value());
}

TEST_CASE("channel: a delta taken out no longer holds its object in the ring") {
  DeltaChannel ch(1);
  auto obj = kcoro::Object::parse(R"({"metadata":{"name":"x","resourceVersion":"1"}})");
  Delta d{DeltaType::added, obj, ""};
  REQUIRE(ch.try_send(d));
  CHECK(obj.use_count() == 2);
  { auto out = ch.try_receive(); }
  CHECK(obj.use_count() == 1);
}

TEST_CASE("channel: a delta built in the co_await expression is sent once, intact") {
  // Guards Delta's constructor: GCC 12 frees the members of such an aggregate temporary twice.
  asio::io_context io;
  DeltaChannel ch(4);
  auto obj = kcoro::Object::parse(R"({"metadata":{"name":"x","resourceVersion":"5"}})");
  std::vector<Delta> got;
  spawn(io, [&]() -> asio::awaitable<void> {
    co_await ch.send({DeltaType::added, obj, "5"});
    co_await ch.send(Delta{DeltaType::bookmark, nullptr, "a resource version longer than SSO"});
    ch.close();
    while (auto d = co_await ch.receive())
      got.push_back(std::move(*d));
  });
  io.run();
  REQUIRE(got.size() == 2);
  CHECK(got[0].object == obj);
  CHECK(got[0].resource_version == "5");
  CHECK(got[1].resource_version == "a resource version longer than SSO");
  CHECK(obj.use_count() == 2);
  got.clear();
  CHECK(obj.use_count() == 1);
}

TEST_CASE("channel: producer faster than consumer is held at capacity, order kept") {
  for (std::size_t cap : {1, 2, 7}) {
    CAPTURE(cap);
    asio::io_context io;
    DeltaChannel ch(cap);
    std::size_t max_size = 0;
    std::vector<int> got;
    spawn(io, produce(ch, 200, 0, max_size));
    spawn(io, consume(ch, 3, got));
    io.run();
    CHECK(got == iota(200));
    CHECK(max_size <= cap);
    CHECK(max_size == cap);  // the producer did fill the channel
  }
}

TEST_CASE("channel: consumer faster than producer waits on the empty channel") {
  for (std::size_t cap : {1, 64}) {
    CAPTURE(cap);
    asio::io_context io;
    DeltaChannel ch(cap);
    std::size_t max_size = 0;
    std::vector<int> got;
    spawn(io, consume(ch, 0, got));  // starts first: suspends at once
    spawn(io, produce(ch, 200, 3, max_size));
    io.run();
    CHECK(got == iota(200));
    CHECK(max_size <= 1);
  }
}

TEST_CASE("channel: a full channel suspends the producer until the consumer takes one") {
  asio::io_context io;
  DeltaChannel ch(2);
  Log log;
  spawn(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      log.push_back("send " + std::to_string(i));
      co_await ch.send(item(i));
      log.push_back("sent " + std::to_string(i));
    }
  });
  io.poll();
  // The first two went straight in; the third waits.
  CHECK(log == Log{"send 0", "sent 0", "send 1", "sent 1", "send 2"});
  spawn(io, [&]() -> asio::awaitable<void> {
    auto d = co_await ch.receive();
    log.push_back("received " + d->resource_version);
  });
  io.poll();
  // The producer resumes through a post: after the consumer's step, not inside it.
  CHECK(log == Log{"send 0", "sent 0", "send 1", "sent 1", "send 2", "received 0", "sent 2"});
  CHECK(ch.size_approx() == 2);
}

TEST_CASE("channel: each side is resumed on its own executor, never inline") {
  asio::io_context producer_io, consumer_io;
  DeltaChannel ch(1);
  Log log;
  spawn(consumer_io, [&]() -> asio::awaitable<void> {
    auto d = co_await ch.receive();
    log.push_back("received " + d->resource_version);
  });
  consumer_io.poll();
  CHECK(log.empty());
  spawn(producer_io, [&]() -> asio::awaitable<void> {
    co_await ch.send(item(1));
    log.push_back("sent 1");
  });
  producer_io.poll();
  CHECK(log == Log{"sent 1"});  // the consumer did not run on the producer's io_context
  consumer_io.poll();
  CHECK(log == Log{"sent 1", "received 1"});
}

TEST_CASE("channel: batch receive takes what is there, up to max") {
  asio::io_context io;
  DeltaChannel ch(8);
  for (int i = 0; i < 8; ++i) {
    Delta d = item(i);
    REQUIRE(ch.try_send(d));
  }
  std::vector<std::size_t> counts;
  std::vector<Delta> out;
  spawn(io, [&]() -> asio::awaitable<void> {
    counts.push_back(co_await ch.receive_some(out, 5));
    counts.push_back(co_await ch.receive_some(out, 5));
    counts.push_back(co_await ch.receive_some(out, 5));  // waits for the next send
    counts.push_back(co_await ch.receive_some(out, 5));  // closed and drained
  });
  io.poll();
  CHECK(counts == std::vector<std::size_t>{5, 3});
  spawn(io, [&]() -> asio::awaitable<void> {
    co_await ch.send(item(8));
    co_await ch.send(item(9));
    ch.close();
  });
  io.run();
  CHECK(counts == std::vector<std::size_t>{5, 3, 2, 0});
  std::vector<int> got;
  for (auto& d : out)
    got.push_back(std::stoi(d.resource_version));
  CHECK(got == iota(10));

  bool threw = false;
  spawn(io, [&]() -> asio::awaitable<void> {
    try {
      co_await ch.receive_some(out, 0);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
  });
  io.restart();
  io.run();
  CHECK(threw);
}

TEST_CASE("channel: a close by the producer lets the consumer drain, then ends it") {
  asio::io_context io;
  DeltaChannel ch(4);
  std::vector<int> got;
  bool ended = false;
  spawn(io, [&]() -> asio::awaitable<void> {
    while (auto d = co_await ch.receive())
      got.push_back(std::stoi(d->resource_version));
    ended = true;
  });
  io.poll();  // the consumer waits on the empty channel
  for (int i = 0; i < 3; ++i) {
    Delta d = item(i);
    REQUIRE(ch.try_send(d));
  }
  ch.close();
  CHECK(ch.closed());
  io.run();
  CHECK(got == iota(3));
  CHECK(ended);
  // Sends after the close are refused.
  Delta late = item(9);
  CHECK_FALSE(ch.try_send(late));
  bool accepted = true;
  spawn(io, [&]() -> asio::awaitable<void> { accepted = co_await ch.send(item(10)); });
  io.restart();
  io.run();
  CHECK_FALSE(accepted);
}

TEST_CASE("channel: a close while the consumer waits wakes it with nullopt") {
  asio::io_context io;
  DeltaChannel ch(1);
  Log log;
  spawn(io, [&]() -> asio::awaitable<void> {
    auto d = co_await ch.receive();
    log.push_back(d ? "delta" : "nullopt");
  });
  io.poll();
  CHECK(log.empty());
  ch.close();
  CHECK(log.empty());  // woken through a post, not inside close()
  io.run();
  CHECK(log == Log{"nullopt"});
}

TEST_CASE("channel: a close by the consumer fails the waiting send") {
  asio::io_context io;
  DeltaChannel ch(2);
  Log log;
  spawn(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 4; ++i) {
      const bool ok = co_await ch.send(item(i));
      log.push_back("send " + std::to_string(i) + (ok ? " ok" : " refused"));
      if (!ok) break;
    }
  });
  io.poll();
  CHECK(log == Log{"send 0 ok", "send 1 ok"});
  ch.close();  // the consumer gives up
  io.run();
  CHECK(log == Log{"send 0 ok", "send 1 ok", "send 2 refused"});
  // What was accepted is still there for whoever drains it.
  CHECK(ch.try_receive()->resource_version == "0");
  CHECK(ch.try_receive()->resource_version == "1");
  CHECK_FALSE(ch.try_receive());
}

TEST_CASE("channel: destroying the channel ends a suspended receive") {
  asio::io_context io;
  auto ch = std::make_unique<DeltaChannel>(1);
  Log log;
  spawn(io, [&log, c = ch.get()]() -> asio::awaitable<void> {
    auto d = co_await c->receive();
    log.push_back(d ? "delta" : "nullopt");
  });
  io.poll();
  ch.reset();
  io.run();
  CHECK(log == Log{"nullopt"});
}

TEST_CASE("channel: a cancelled receive takes nothing; the next one gets the delta") {
  asio::io_context io;
  DeltaChannel ch(2);
  asio::cancellation_signal sig;
  Log log;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await ch.receive();
          log.push_back("received");
        } catch (const boost::system::system_error& e) {
          log.push_back(e.code() == asio::error::operation_aborted ? "aborted" : "other error");
        }
      },
      asio::bind_cancellation_slot(sig.slot(), asio::detached));
  io.poll();
  sig.emit(asio::cancellation_type::terminal);
  io.poll();
  CHECK(log == Log{"aborted"});
  Delta d = item(7);
  REQUIRE(ch.try_send(d));
  spawn(io, [&]() -> asio::awaitable<void> {
    auto got = co_await ch.receive();
    log.push_back("received " + got->resource_version);
  });
  io.restart();  // poll() ran out of work
  io.run();
  CHECK(log == Log{"aborted", "received 7"});
  CHECK(ch.size_approx() == 0);
}

TEST_CASE("channel: a cancelled send enqueues nothing and loses nothing") {
  asio::io_context io;
  DeltaChannel ch(2);
  asio::cancellation_signal sig;
  Log log;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        int i = 0;
        try {
          for (; i < 3; ++i)
            co_await ch.send(item(i));
        } catch (const boost::system::system_error& e) {
          CHECK(e.code() == asio::error::operation_aborted);
          log.push_back("send " + std::to_string(i) + " aborted");
        }
      },
      asio::bind_cancellation_slot(sig.slot(), asio::detached));
  io.poll();
  CHECK(ch.size_approx() == 2);
  sig.emit(asio::cancellation_type::terminal);
  io.run();
  CHECK(log == Log{"send 2 aborted"});
  CHECK(ch.try_receive()->resource_version == "0");
  CHECK(ch.try_receive()->resource_version == "1");
  CHECK_FALSE(ch.try_receive());
}

TEST_CASE("channel: a wake-up that came before the cancellation wins") {
  asio::io_context io;
  DeltaChannel ch(1);
  asio::cancellation_signal sig;
  Log log;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          auto d = co_await ch.receive();
          log.push_back("received " + d->resource_version);
        } catch (const boost::system::system_error&) {
          log.push_back("aborted");
        }
      },
      asio::bind_cancellation_slot(sig.slot(), asio::detached));
  io.poll();
  // Both in one handler on the consumer's executor: the send takes the waiter first.
  asio::post(io, [&] {
    Delta d = item(3);
    REQUIRE(ch.try_send(d));
    sig.emit(asio::cancellation_type::terminal);
  });
  io.run();
  CHECK(log == Log{"received 3"});
  CHECK(ch.size_approx() == 0);
}

TEST_CASE("channel: a relist travels as begin, items, end in order") {
  asio::io_context io;
  DeltaChannel ch(2);
  std::vector<DeltaType> types;
  std::string end_rv;
  spawn(io, [&]() -> asio::awaitable<void> {
    co_await ch.send({DeltaType::replace_begin, nullptr, ""});
    for (int i = 0; i < 5; ++i)
      co_await ch.send({DeltaType::replace_item, nullptr, ""});
    co_await ch.send({DeltaType::replace_end, nullptr, "42"});
    co_await ch.send({DeltaType::bookmark, nullptr, "43"});
    ch.close();
  });
  spawn(io, [&]() -> asio::awaitable<void> {
    std::vector<Delta> batch;
    while (co_await ch.receive_some(batch, 3) != 0) {
    }
    for (auto& d : batch) {
      types.push_back(d.type);
      if (d.type == DeltaType::replace_end) end_rv = d.resource_version;
    }
  });
  io.run();
  using T = DeltaType;
  CHECK(types == std::vector<T>{T::replace_begin, T::replace_item, T::replace_item, T::replace_item,
                                T::replace_item, T::replace_item, T::replace_end, T::bookmark});
  CHECK(end_rv == "42");
}
