// libFuzzer target: ListDecoder on arbitrary bytes at arbitrary split points (see
// watch_decoder_fuzz.cpp). Split and whole feeds must agree, and so must the fast path and the
// general one.
#include "core/json_frame.hpp"
#include "fuzz_input.hpp"
#include "kcoro/list_decoder.hpp"

#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  kcoro::fuzz::Input in(data, size);
  const std::size_t splits = in.byte() % 16 + 1;
  std::string sizes;
  for (std::size_t i = 0; i < splits; ++i)
    sizes.push_back(static_cast<char>(in.byte()));
  const std::string_view body = in.rest();

  kcoro::ListDecoder whole;
  std::vector<kcoro::ObjectPtr> whole_items;
  const kcoro::Error whole_err = whole.feed(body, whole_items);
  const bool whole_ok = !whole_err && !whole.finish();

  kcoro::detail::set_decoder_fast_path(false);
  kcoro::ListDecoder general;
  std::vector<kcoro::ObjectPtr> general_items;
  const kcoro::Error general_err = general.feed(body, general_items);
  kcoro::detail::set_decoder_fast_path(true);
  if (whole_err.code != general_err.code || whole_err.offset != general_err.offset) std::abort();
  if (whole_items.size() != general_items.size()) std::abort();
  for (std::size_t i = 0; i < whole_items.size(); ++i)
    if (!kcoro::fuzz::same_object(*whole_items[i], *general_items[i])) std::abort();

  kcoro::ListDecoder pieces;
  std::vector<kcoro::ObjectPtr> piece_items;
  bool failed = false;
  std::size_t k = 0;
  std::string_view text = body;
  while (!text.empty() && !failed) {
    const std::size_t n =
        std::min<std::size_t>(text.size(), static_cast<uint8_t>(sizes[k++ % splits]) + 1);
    if (pieces.feed(text.substr(0, n), piece_items)) failed = true;
    text.remove_prefix(n);
  }
  if (!failed && pieces.finish()) failed = true;
  if (whole_ok != !failed) std::abort();
  if (whole_ok && whole_items.size() != piece_items.size()) std::abort();
  return 0;
}
