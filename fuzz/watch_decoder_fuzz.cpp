// libFuzzer target: WatchDecoder on arbitrary bytes at arbitrary split points. The first byte
// picks how many split-point bytes follow; the rest is the stream. Any result is fine; a crash,
// a sanitizer report or a hang is not. Split and whole feeds must agree on success.
#include "fuzz_input.hpp"
#include "kcoro/watch_decoder.hpp"

#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  kcoro::fuzz::Input in(data, size);
  const std::size_t splits = in.byte() % 16;
  std::string sizes_bytes;
  for (std::size_t i = 0; i < splits; ++i)
    sizes_bytes.push_back(static_cast<char>(in.byte()));
  const std::string_view stream = in.rest();

  // Whole.
  kcoro::WatchDecoder whole;
  std::vector<kcoro::WatchEvent> whole_events;
  const bool whole_ok = !whole.feed(stream, whole_events) && !whole.finish();

  // In pieces (the split sizes repeat).
  kcoro::WatchDecoder pieces;
  std::vector<kcoro::WatchEvent> piece_events;
  bool failed = false;
  std::size_t k = 0;
  std::string_view text = stream;
  while (!text.empty() && !failed) {
    const std::size_t n = std::min<std::size_t>(
        text.size(),
        sizes_bytes.empty() ? text.size() : static_cast<uint8_t>(sizes_bytes[k++ % splits]) + 1);
    if (pieces.feed(text.substr(0, n), piece_events)) failed = true;
    text.remove_prefix(n);
  }
  if (!failed && pieces.finish()) failed = true;
  if (whole_ok != !failed) std::abort();  // the split points changed the verdict
  if (whole_ok && whole_events.size() != piece_events.size()) std::abort();
  return 0;
}
