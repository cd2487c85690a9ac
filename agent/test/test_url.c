/*
 * The agent's URL parser (which replaced libcurl's): schemes, hosts,
 * bracketed IPv6, ports and their defaults, paths, and what is refused.
 */

#include "unit.h"

#include "url.h"


int
main(void)
{
    url_t  u;

    CHECK_INT(url_parse("http://127.0.0.1:11434", &u), 0);
    CHECK_INT(u.tls, 0);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_STR(u.port, "11434");
    CHECK_STR(u.path, "");
    CHECK_INT(u.query, 0);

    CHECK_INT(url_parse("HTTPS://Mesh.example/base/api/tags", &u), 0);
    CHECK_INT(u.tls, 1);
    CHECK_STR(u.host, "Mesh.example");
    CHECK_STR(u.port, "443");
    CHECK_STR(u.path, "/base/api/tags");

    CHECK_INT(url_parse("http://[::1]:8080/mesh/v1/nodes/heartbeat", &u), 0);
    CHECK_INT(u.ipv6, 1);
    CHECK_STR(u.host, "::1");
    CHECK_STR(u.port, "8080");
    CHECK_STR(u.path, "/mesh/v1/nodes/heartbeat");

    CHECK_INT(url_parse("http://localhost", &u), 0);
    CHECK_STR(u.port, "80");

    CHECK_INT(url_parse("http://h/x?q=1", &u), 0);
    CHECK_INT(u.query, 1);
    CHECK_INT(url_parse("http://h#f", &u), 0);
    CHECK_INT(u.query, 1);

    /* refused */
    CHECK_INT(url_parse("not a url", &u), -1);
    CHECK_INT(url_parse("ftp://h/", &u), -1);
    CHECK_INT(url_parse("http://", &u), -1);
    CHECK_INT(url_parse("http:///x", &u), -1);
    CHECK_INT(url_parse("http://h:/", &u), -1);
    CHECK_INT(url_parse("http://h:0", &u), -1);
    CHECK_INT(url_parse("http://h:65536", &u), -1);
    CHECK_INT(url_parse("http://user@h/", &u), -1);
    CHECK_INT(url_parse("http://[::1/", &u), -1);
    CHECK_INT(url_parse("http://[zz]/", &u), -1);
    CHECK_INT(url_parse("http://h/a b", &u), -1);
    CHECK_INT(url_parse("http://h/a\r\nX: y", &u), -1);

    return UNIT_DONE();
}
