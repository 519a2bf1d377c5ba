#pragma once
// One connection's life: read a request, route it, wait (on a timer, never a
// sleeping thread) or save, answer, and read the next one; so keep-alive is
// the default and pipelined requests are answered in order.
#include <boost/asio/ip/tcp.hpp>

namespace testbed {

struct ServerState;

// Takes over an accepted connection; it lives as long as its handlers do.
void start_session(ServerState& state, boost::asio::ip::tcp::socket socket);

}  // namespace testbed
