#pragma once
// The wire format of every answer the server sends, in one place: a pure
// function from (version, status, connection, type, body) to bytes, so the
// sessions, the over-the-cap refusal and the fuzz target all write the same
// thing. It appends into a buffer the caller keeps, so steady keep-alive
// traffic reuses its capacity instead of allocating.
#include <cstdint>
#include <string>
#include <string_view>

namespace testbed {

struct Answer {
  unsigned version = 11;  // 10 or 11
  int status = 200;
  bool keep_alive = true;
  std::string_view content_type = "text/plain";
  std::int64_t delay_us = -1;  // >= 0: sent as X-Delay-Us (the delay this request was given)
};

// Replaces `out` with the full response: status line, Server, Content-Type,
// Content-Length, X-Delay-Us (a delayed request or a save), Allow (405 only), Connection where it differs
// from the version's default, the blank line and the body.
void write_response(std::string& out, const Answer& head, std::string_view body);

}  // namespace testbed
