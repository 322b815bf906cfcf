// WatchStream and ListStream: a list or watch body read piece by piece from its connection and
// decoded as it arrives.
#include "transport/client_impl.hpp"

namespace kcoro {

namespace net = boost::asio;
using detail::Connection;
using detail::Parser;

namespace detail {

/// The next piece of a list or watch body (empty at its end). A connection that fails is closed
/// and given up: it never returns to the pool.
awaitable<std::string_view> read_body_piece(std::unique_ptr<Connection>& conn, Parser& parser,
                                            std::chrono::milliseconds idle) {
  try {
    co_return co_await conn->read_some(parser, idle);
  } catch (...) {
    conn->close();
    conn.reset();
    throw;
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// WatchStream

struct WatchStream::Impl {
  std::shared_ptr<Client::Impl> client;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Parser> parser;
  WatchDecoder decoder;
  std::vector<WatchEvent> ready;
  std::size_t next = 0;
  bool ended = false;
  uint64_t bytes = 0;
};

WatchStream::WatchStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WatchStream::WatchStream(WatchStream&&) noexcept = default;
WatchStream& WatchStream::operator=(WatchStream&&) noexcept = default;
WatchStream::~WatchStream() {
  close();
}

void WatchStream::close() noexcept {
  if (impl_ && impl_->conn) {
    impl_->conn->close();
    impl_->conn.reset();
  }
}

awaitable<std::optional<WatchEvent>> WatchStream::next() {
  Impl& s = *impl_;
  for (;;) {
    if (s.next < s.ready.size()) co_return std::move(s.ready[s.next++]);
    s.ready.clear();
    s.next = 0;
    if (s.ended || !s.conn) co_return std::nullopt;
    const std::string_view piece =
        co_await detail::read_body_piece(s.conn, *s.parser, s.client->opts.stream_idle_timeout);
    if (piece.empty()) {
      s.ended = true;
      s.client->release(std::move(s.conn));
      if (Error err = s.decoder.finish()) {
        throw std::system_error(
            err.code, "watch from " + s.client->endpoint.display + ": " + err.to_string());
      }
      continue;
    }
    s.bytes += piece.size();
    if (Error err = s.decoder.feed(piece, s.ready); err) {
      s.conn->close();
      s.conn.reset();
      throw std::system_error(err.code,
                              "watch from " + s.client->endpoint.display + ": " + err.to_string());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ListStream

struct ListStream::Impl {
  std::shared_ptr<Client::Impl> client;
  Resource resource;
  std::string ns;
  ListOptions opts;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Parser> parser;
  std::optional<ListDecoder> decoder;
  std::vector<ObjectPtr> ready;
  std::size_t next = 0;
  ListMeta meta;
  bool started = false;
  bool finished = false;
  uint64_t bytes = 0;
};

ListStream::ListStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ListStream::ListStream(ListStream&&) noexcept = default;
ListStream& ListStream::operator=(ListStream&&) noexcept = default;
ListStream::~ListStream() {
  if (impl_ && impl_->conn) impl_->conn->close();
}
const ListMeta& ListStream::meta() const noexcept {
  return impl_->meta;
}
uint64_t ListStream::bytes_read() const noexcept {
  return impl_->bytes;
}
uint64_t WatchStream::bytes_read() const noexcept {
  return impl_->bytes;
}

awaitable<ObjectPtr> ListStream::next() {
  Impl& s = *impl_;
  for (;;) {
    if (s.next < s.ready.size()) co_return std::move(s.ready[s.next++]);
    s.ready.clear();
    s.next = 0;
    if (s.finished) co_return nullptr;
    if (!s.conn) {
      // Open the next page.
      if (s.started && s.meta.continue_token.empty()) {
        s.finished = true;
        continue;
      }
      ListOptions page = s.opts;
      page.continue_token = s.started ? s.meta.continue_token : s.opts.continue_token;
      if (s.started) {
        page.resource_version.reset();  // a continue carries its snapshot
        page.resource_version_match.clear();
      }
      s.started = true;
      std::string target = s.resource.list_url(s.ns, page);
      auto o = co_await s.client->open("GET", target, {}, {}, true, detail::accept_for(page));
      co_await s.client->check(o);
      s.conn = std::move(o.conn);
      s.parser = std::move(o.parser);
      s.decoder.emplace(s.client->decode_options(page));
    }
    const std::string_view piece =
        co_await detail::read_body_piece(s.conn, *s.parser, s.client->opts.stream_idle_timeout);
    if (piece.empty()) {
      s.client->release(std::move(s.conn));
      if (Error err = s.decoder->finish()) {
        throw std::system_error(err.code,
                                "list from " + s.client->endpoint.display + ": " + err.to_string());
      }
      s.meta = s.decoder->meta();
      continue;
    }
    s.bytes += piece.size();
    if (Error err = s.decoder->feed(piece, s.ready)) {
      s.conn->close();
      s.conn.reset();
      throw std::system_error(err.code,
                              "list from " + s.client->endpoint.display + ": " + err.to_string());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The verbs that open them

ListStream Client::list_all(const Resource& r, std::string_view ns, ListOptions opts) {
  auto s = std::make_unique<ListStream::Impl>();
  s->client = impl_;
  opts.watch = false;
  if (!opts.limit) opts.limit = 500;
  s->resource = r;
  s->ns = std::string(ns);
  s->opts = std::move(opts);
  return ListStream(std::move(s));
}

awaitable<WatchStream> Client::watch(const Resource& r, std::string_view ns, ListOptions opts) {
  opts.watch = true;
  auto o =
      co_await impl_->open("GET", r.list_url(ns, opts), {}, {}, true, detail::accept_for(opts));
  co_await impl_->check(o);
  auto s = std::make_unique<WatchStream::Impl>();
  s->client = impl_;
  s->conn = std::move(o.conn);
  s->parser = std::move(o.parser);
  s->decoder = WatchDecoder(impl_->decode_options(opts));
  co_return WatchStream(std::move(s));
}

}  // namespace kcoro
