package listen

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzScanner checks the scanner on arbitrary streams:
//   - it never panics;
//   - its verdict (reason, offending offset, cut) does not depend on how
//     reads split the stream;
//   - a guarded connection hands the server a stream the scanner accepts
//     byte for byte, however reads split it;
//   - it frames requests as Go does: every request Go's parser reads in
//     full before the offending byte ends where the scanner's does.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{get, post, chunked, get + post + chunked + get, first + last} {
		f.Add([]byte(s), uint16(7), uint16(40))
	}
	for _, tt := range refusalCases() {
		f.Add([]byte(first+tt.in+last), uint16(3), uint16(len(first)+5))
	}
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		var whole scanner
		pass := whole.scan(in)

		// Split at two points.
		i, j := 0, 0
		if len(in) > 0 {
			i, j = int(a)%(len(in)+1), int(b)%(len(in)+1)
		}
		i, j = min(i, j), max(i, j)
		var split scanner
		for _, part := range [][]byte{in[:i], in[i:j], in[j:]} {
			split.scan(part)
		}
		if split.state == stRefused != (whole.state == stRefused) || split.reason != whole.reason ||
			split.badOff != whole.badOff || split.cutOff != whole.cutOff || split.inHead != whole.inHead {
			t.Fatalf("split at %d, %d: %q at %d (cut %d); whole: %q at %d (cut %d)",
				i, j, split.reason, split.badOff, split.cutOff, whole.reason, whole.badOff, whole.cutOff)
		}
		if whole.state != stRefused {
			if pass != len(in) {
				t.Fatalf("accepted, but passed %d of %d bytes", pass, len(in))
			}
			got, err := io.ReadAll(&conn{Conn: &bytesConn{r: bytes.NewReader(in), max: int(a%13) + 1}, g: &Guard{}})
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("guarded connection changed an accepted stream: %q (%v)", got, err)
			}
		} else if pass != int(max(whole.cutOff, 0)) {
			t.Fatalf("refused with cut %d, but passed %d", whole.cutOff, pass)
		}

		// Frame as Go does.
		ends := messageEnds(in)
		br := bufio.NewReader(bytes.NewReader(in))
		for k := 0; ; k++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			_, err = io.Copy(io.Discard, req.Body)
			if err != nil {
				break
			}
			end := int64(len(in) - br.Buffered())
			if whole.state == stRefused && end > whole.badOff {
				break
			}
			if k >= len(ends) || ends[k] != end {
				t.Fatalf("Go's request %d ends at %d; the scanner's requests end at %v", k, end, ends)
			}
		}
	})
}

// messageEnds are the offsets where the scanner saw requests end.
func messageEnds(in []byte) []int64 {
	var s scanner
	var ends []int64
	for i := range in {
		s.scan(in[i : i+1])
		if s.state == stRefused {
			break
		}
		if s.headOff == int64(i+1) {
			ends = append(ends, s.headOff)
		}
	}
	return ends
}

// bytesConn is a net.Conn reading from r, at most max bytes a read.
type bytesConn struct {
	net.Conn
	r   *bytes.Reader
	max int
}

func (c *bytesConn) Read(p []byte) (int, error) {
	if len(p) > c.max {
		p = p[:c.max]
	}
	return c.r.Read(p)
}

func (c *bytesConn) SetReadDeadline(time.Time) error { return nil }
