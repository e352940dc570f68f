package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// What the direct client checks: the outgoing request, and what its
// errors mean.

// checkOutgoing refuses what http.Transport refuses and Request.Write
// would send as is or drop silently: a method or a header name that is not
// an RFC 7230 token, a header value with a control character other than
// HTAB. Values are not quoted in the error: they may be secrets.
func checkOutgoing(out *http.Request) error {
	if out.Method != "" && !isToken(out.Method) {
		return fmt.Errorf("%w %q", errInvalidMethod, out.Method)
	}
	for name, values := range out.Header {
		if !isToken(name) {
			return fmt.Errorf("%w %q", errInvalidHeaderName, name)
		}
		for _, v := range values {
			if !validFieldValue(v) {
				return fmt.Errorf("%w for %s", errInvalidHeaderValue, name)
			}
		}
	}
	return nil
}

// isToken reports whether s is an RFC 7230 token: one or more of the
// letters, digits and !#$%&'*+-.^_`|~.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v holds no control character (below
// 0x20, or DEL) other than HTAB, as httpguts.ValidHeaderFieldValue.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// saysClose reports whether a Connection header in h holds "close".
func saysClose(h http.Header) bool {
	for _, f := range h["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			if strings.EqualFold(strings.TrimSpace(name), "close") {
				return true
			}
		}
	}
	return false
}

// closedByPeer reports whether err is what reading from or writing to a
// connection the peer has closed gives.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isTimeout reports whether err is a timeout, as upstreamError sees one.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expired reports whether deadline, if any, has passed.
func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}
