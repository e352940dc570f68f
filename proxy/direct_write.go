package proxy

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// defaultUserAgent is what Request.Write sends when a request has no
// User-Agent header at all (send always sets one, empty for none).
const defaultUserAgent = "Go-http-client/1.1"

// writeRequest writes out and body to bw (not flushed) as Request.Write
// would for a request with a Content-Length, in one pass and without its
// sorting of the header (the order of header fields with different names
// carries no meaning): the request line with the URL's path and query,
// Host (out.Host, else the URL's, without an IPv6 zone), User-Agent
// (omitted when its first value is empty), Content-Length, Connection:
// close when out.Close asks for it and the header does not say so, then
// every other field except Transfer-Encoding and Trailer, values trimmed.
// checkOutgoing has refused names that are not tokens and values with
// control characters, so nothing written here can split a field.
func writeRequest(bw *bufio.Writer, out *http.Request, body []byte) error {
	method := out.Method
	if method == "" {
		method = http.MethodGet
	}
	host := out.Host
	if host == "" {
		host = out.URL.Host
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(out.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(removeZone(host))
	bw.WriteString("\r\n")
	ua := defaultUserAgent
	if v, ok := out.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = textproto.TrimString(v[0])
		}
	}
	if ua != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua)
		bw.WriteString("\r\n")
	}
	var num [20]byte
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(num[:0], int64(len(body)), 10))
	bw.WriteString("\r\n")
	if out.Close && !saysClose(out.Header) {
		bw.WriteString("Connection: close\r\n")
	}
	for name, values := range out.Header {
		switch name {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range values {
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(textproto.TrimString(v))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	_, err := bw.Write(body)
	return err
}

// removeZone removes the zone of an IPv6 literal host ("[fe80::1%en0]:80"
// becomes "[fe80::1]:80"), as Request.Write does: a zone means nothing to
// the receiving side.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}
