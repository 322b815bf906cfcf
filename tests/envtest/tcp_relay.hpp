// Test support for chaos tests: a TCP relay on 127.0.0.1 between clients and one upstream port,
// which cuts connections on a seeded schedule.
//
// Contract
// - Bytes are relayed as they are (TLS passes through untouched: the client verifies the
//   upstream server's certificate, which names 127.0.0.1).
// - The cut schedule is a function of the seed alone: the k-th accepted connection gets a budget
//   of server-to-client bytes drawn from [min_cut_bytes, max_cut_bytes] by a std::mt19937_64
//   seeded with `seed`. While cutting is on, a connection that has relayed its budget downstream
//   is cut there: the bytes up to the budget are delivered, then both sockets are closed — even
//   connections with a reset (SO_LINGER 0), odd ones with a FIN. A cut thus lands at an arbitrary
//   byte of a response: inside a TLS record, a list page or a watch event. Bytes relayed while
//   cutting is off do not count against a budget.
// - cut_all() closes every open connection at once (a network partition healing at once).
// - Threads: the relay runs on the executor it is given (a single-threaded io_context);
//   set_cutting(), cut_all(), stats() and stop() may be called from any thread.
// - Lifetime: stop() closes the listener and every connection; the relay's coroutines hold its
//   state, so destroying the TcpRelay while they wind down is safe.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>

namespace kcoro::test {

struct TcpRelayOptions {
  uint16_t upstream_port = 0;  ///< on 127.0.0.1
  uint64_t seed = 1;
  uint64_t min_cut_bytes = 1024;
  uint64_t max_cut_bytes = 64 * 1024;
};

struct TcpRelayStats {
  uint64_t connections = 0;  ///< accepted
  uint64_t cuts = 0;         ///< connections cut by the schedule or cut_all()
  uint64_t bytes_down = 0;   ///< server-to-client bytes relayed
};

class TcpRelay {
 public:
  TcpRelay(boost::asio::any_io_executor ex, TcpRelayOptions opts);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const noexcept;
  void set_cutting(bool on) noexcept;
  void cut_all();
  TcpRelayStats stats() const noexcept;
  void stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kcoro::test
