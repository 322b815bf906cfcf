// Internal: a growable byte buffer that always keeps json_padding readable bytes past its end,
// so simdjson can parse its contents in place. Reused across documents; it only grows.
//
// The padding holds spaces, never what an earlier, longer document left there: simdjson looks at
// the byte after a malformed document's last token, so stale bytes would make the same bytes
// decode differently from one use of the buffer to the next (found by watch_decoder_fuzz).
#pragma once

#include "kcoro/json.hpp"

#include <cstring>
#include <memory>

namespace kcoro::detail {

class PaddedBuffer {
 public:
  const char* data() const noexcept { return data_.get(); }
  char* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept { size_ = 0; }

  void append(const char* p, std::size_t n) {
    reserve(size_ + n);
    if (n) std::memcpy(data_.get() + size_, p, n);
    size_ += n;
    std::memset(data_.get() + size_, ' ', json_padding);
  }
  void assign(const char* p, std::size_t n) {
    size_ = 0;
    append(p, n);
  }

 private:
  void reserve(std::size_t n) {
    if (n <= capacity_ && data_) return;
    std::size_t cap = capacity_ ? capacity_ : 4096;
    while (cap < n)
      cap *= 2;
    std::unique_ptr<char[]> bigger(new char[cap + json_padding]);
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    std::memset(bigger.get() + cap, 0, json_padding);
    data_ = std::move(bigger);
    capacity_ = cap;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace kcoro::detail
