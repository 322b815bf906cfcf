// kcoro/detail/asio_config.hpp — checks that a translation unit including a kcoro header that
// uses Asio is compiled with the Asio configuration libkcoro was built with.
//
// libkcoro holds the one compiled copy of Asio and Beast (separate compilation). Code compiled
// without these defines would instantiate its own, different copy of Asio's internals beside the
// library's: an ODR violation that fails at run time, not at link time. kcoro.pc, the CMake
// targets (kcoro::kcoro) and the meson dependency set them; this header makes a build that
// bypasses them fail at once, with the reason.
#pragma once

#if !defined(BOOST_ASIO_SEPARATE_COMPILATION) || !defined(BOOST_BEAST_SEPARATE_COMPILATION) || \
    !defined(BOOST_ASIO_NO_DEPRECATED)
#error \
    "kcoro: compile with -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_BEAST_SEPARATE_COMPILATION -DBOOST_ASIO_NO_DEPRECATED, as kcoro.pc and the kcoro::kcoro CMake target do"
#endif
