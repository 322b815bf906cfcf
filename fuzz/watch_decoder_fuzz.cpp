// libFuzzer target: WatchDecoder on arbitrary bytes at arbitrary split points. The first byte
// picks how many split-point bytes follow; the rest is the stream. Any result is fine; a crash,
// a sanitizer report or a hang is not. Split and whole feeds must agree on success, and the fast
// path must decode exactly what the general path decodes: the same events, the same first error.
#include "core/json_frame.hpp"
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
  const kcoro::Error whole_err = whole.feed(stream, whole_events);
  const bool whole_ok = !whole_err && !whole.finish();

  // The same bytes the general way.
  kcoro::detail::set_decoder_fast_path(false);
  kcoro::WatchDecoder general;
  std::vector<kcoro::WatchEvent> general_events;
  const kcoro::Error general_err = general.feed(stream, general_events);
  kcoro::detail::set_decoder_fast_path(true);
  if (whole_err.code != general_err.code || whole_err.offset != general_err.offset) std::abort();
  if (whole_events.size() != general_events.size()) std::abort();
  for (std::size_t i = 0; i < whole_events.size(); ++i) {
    const auto& a = whole_events[i];
    const auto& b = general_events[i];
    if (a.type != b.type || !a.object != !b.object) std::abort();
    if (a.object && !kcoro::fuzz::same_object(*a.object, *b.object)) std::abort();
  }

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
