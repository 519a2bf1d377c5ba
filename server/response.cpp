#include "server/response.hpp"

#include <ostream>  // boost/core string_view needs it before Beast

#include "common/csv.hpp"

#include <boost/beast/http/status.hpp>

namespace testbed {

void write_response(std::string& out, const Answer& head, std::string_view body) {
  namespace http = boost::beast::http;
  out.clear();
  out.append(head.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_int(out, head.status);
  out.push_back(' ');
  out.append(http::obsolete_reason(static_cast<http::status>(head.status)));
  out.append("\r\nServer: delayserver\r\nContent-Type: ");
  out.append(head.content_type);
  out.append("\r\nContent-Length: ");
  append_int(out, static_cast<std::int64_t>(body.size()));
  if (head.delay_us >= 0) {
    out.append("\r\nX-Delay-Us: ");
    append_int(out, head.delay_us);
  }
  if (head.status == 405) out.append("\r\nAllow: GET");  // POST /add's 405 elsewhere: GET too
  if (!head.keep_alive)
    out.append("\r\nConnection: close");
  else if (head.version == 10)
    out.append("\r\nConnection: keep-alive");
  out.append("\r\n\r\n");
  out.append(body);
}

}  // namespace testbed
