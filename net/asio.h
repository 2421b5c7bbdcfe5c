// meterd — net/asio.h: the one way meterd includes Boost.Asio.
//
// Debian 12's Boost 1.74 uses std::exchange in asio/awaitable.hpp without including <utility>,
// which g++ 12 no longer pulls in transitively; include it first.
#pragma once

// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
