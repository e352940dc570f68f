package listen

import (
	"strings"
	"testing"
)

// scanAll scans in in one piece and returns the reason ("" when in keeps
// the rules), the offset of the offending byte and how many bytes the
// server may get.
func scanAll(in string) (reason string, bad, pass int) {
	var s scanner
	n := s.scan([]byte(in))
	if s.state != stRefused {
		return "", -1, n
	}
	return s.reason, int(s.badOff), n
}

const (
	get  = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
	post = "POST /hooks HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	// chunked is a chunked POST with an extension and a trailer.
	chunked = "POST /hooks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;name=\"v\"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n"
)

func TestScannerValid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"get", get},
		{"post", post},
		{"chunked", chunked},
		{"pipelined", get + post + chunked + get + post},
		{"http/1.0", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"},
		{"header name case", "POST / HTTP/1.1\r\nCONTENT-length: 1\r\n\r\nx" + "POST / HTTP/1.1\r\ntransfer-ENCODING: chunked\r\n\r\n0\r\n\r\n"},
		{"ows around framing values", "POST / HTTP/1.1\r\nContent-Length:\t 3 \t\r\n\r\nabc" + "POST / HTTP/1.1\r\nTransfer-Encoding:chunked \r\n\r\n0\r\n\r\n"},
		{"content-length zero", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + get},
		{"content-length leading zeros", "POST / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc"},
		{"body looks like a head", "POST / HTTP/1.1\r\nContent-Length: 43\r\n\r\nGET / HTTP/1.1\r\nTransfer-Encoding: x\n\r\n\r\n"},
		{"chunk data looks like framing", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\n\r \r\r\n0\r\n\r\n"},
		{"other fields ignored", "POST / HTTP/1.1\r\nContent-Lengthx: 5\r\nX-Transfer-Encoding: gzip\r\nContent_Length: 9\r\n\r\n"},
		{"obs-text in value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n"},
		{"chunk size upper hex, leading zeros", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n"},
		{"largest chunk size, incomplete", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nab"},
		{"largest content-length, incomplete", "POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\nab"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if reason, bad, pass := scanAll(tt.in); reason != "" || pass != len(tt.in) {
				t.Errorf("refused: %s at %d (%q); passed %d of %d", reason, bad, tt.in[bad:], pass, len(tt.in))
			}
		})
	}
}

type refusalCase struct {
	name, in, reason string
	at               string // the input from the offending byte on starts with this
}

// refusalCases are streams that break a rule, each with a request.
func refusalCases() []refusalCase {
	const te = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	return []refusalCase{
		{"content-length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", ReasonContentLengthWithTE, "\n5\r\n"},
		{"chunked and content-length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", ReasonContentLengthWithTE, "\n"},
		{"chunked, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", ReasonTransferEncoding, ","},
		{"identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", ReasonTransferEncoding, "identity"},
		{"gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ReasonTransferEncoding, "gzip"},
		{"Chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", ReasonTransferEncoding, "Chunked"},
		{"CHUNKED", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", ReasonTransferEncoding, "CHUNKED"},
		{"chunkedx", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", ReasonTransferEncoding, "x"},
		{"chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n", ReasonTransferEncoding, "\r\n\r\n"},
		{"chunked x", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n\r\n", ReasonTransferEncoding, "x"},
		{"empty transfer-encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", ReasonTransferEncoding, "\r\n\r\n"},
		{"two transfer-encodings", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ReasonDuplicateTE, ": chunked\r\n\r\n"},
		{"transfer-encoding on 1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ReasonTEInHTTP10, "\n0\r\n"},
		{"content-length +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", ReasonContentLength, "+5"},
		{"content-length -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", ReasonContentLength, "-1"},
		{"content-length 5, 5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", ReasonContentLength, ", 5"},
		{"content-length 5 5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello", ReasonContentLength, "5\r\n"},
		{"content-length hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", ReasonContentLength, "x5"},
		{"content-length empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", ReasonContentLength, "\r\n\r\n"},
		{"content-length overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", ReasonContentLength, "8\r\n"},
		{"two equal content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", ReasonDuplicateCL, ": 5\r\n\r\n"},
		{"bare lf ends the request line", "POST / HTTP/1.1\nHost: a\r\nContent-Length: 0\r\n\r\n", ReasonBareLF, "\nHost"},
		{"bare lf ends a field line", "POST / HTTP/1.1\r\nHost: a\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n", ReasonBareLF, "\nTransfer"},
		{"bare lf ends the head", "POST / HTTP/1.1\r\nHost: a\r\n\n", ReasonBareLF, "\n"},
		{"bare lf after content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\n\r\n", ReasonBareLF, "\n\r\n"},
		{"bare lf after transfer-encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\n\r\n", ReasonBareLF, "\n\r\n"},
		{"bare lf in a name", "POST / HTTP/1.1\r\nHost: a\r\nX\n\r\n", ReasonBareLF, "\n\r\n"},
		{"bare cr in a value", "POST / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", ReasonBareCR, "b\r\n"},
		{"bare cr in the request line", "POST /\r HTTP/1.1\r\nHost: a\r\n\r\n", ReasonRequestLine, "\r HTTP"},
		{"bare cr at the end of the head", "POST / HTTP/1.1\r\nHost: a\r\n\rX", ReasonBareCR, "X"},
		{"whitespace before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", ReasonHeaderName, " : chunked"},
		{"tab before colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n", ReasonHeaderName, "\t: 5"},
		{"no colon", "POST / HTTP/1.1\r\nHost: a\r\nXAb\r\n\r\n", ReasonHeaderName, "\r\n\r\n"},
		{"empty name", "POST / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", ReasonHeaderName, ": b"},
		{"obs-fold", "POST / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", ReasonObsFold, " c"},
		{"obs-fold of transfer-encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n", ReasonTransferEncoding, "\r\n\tchunked"},
		{"leading whitespace on the first field", "POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n", ReasonObsFold, " Transfer"},
		{"HTTP/1.2", "POST / HTTP/1.2\r\nHost: a\r\n\r\n", ReasonRequestLine, "\r\nHost"},
		{"HTTP/2.0", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ReasonRequestLine, "\r\n\r\nSM"},
		{"lower-case version", "GET / http/1.1\r\n\r\n", ReasonRequestLine, "\r\n"},
		{"no space before version", "GET /HTTP/1.1\r\nHost: a\r\n\r\n", ReasonRequestLine, "\r\n"},
		{"http/0.9", "GET /\r\n\r\n", ReasonRequestLine, "\r\n"},
		{"empty line before the request", "\r\n" + get, ReasonRequestLine, "\r\n"},
		{"chunk size with trailing space", te + "5 \r\nhello\r\n0\r\n\r\n", ReasonChunkSize, " \r\n"},
		{"chunk size with space before extension", te + "5 ;a\r\nhello\r\n0\r\n\r\n", ReasonChunkSize, " ;a"},
		{"chunk size 0x", te + "0x5\r\nhello\r\n0\r\n\r\n", ReasonChunkSize, "x5"},
		{"empty chunk size", te + "\r\n", ReasonChunkSize, "\r\n"},
		{"chunk extension without size", te + ";a\r\n", ReasonChunkSize, ";a"},
		{"chunk size overflow", te + "10000000000000005\r\nhello\r\n", ReasonChunkTooLarge, "000000005\r\n"},
		{"chunk size 2^31", te + "80000000\r\n", ReasonChunkTooLarge, "0\r\n"},
		{"chunk size with 17 digits", te + "00000000000000005\r\nhello\r\n", ReasonChunkTooLarge, "5\r\n"},
		{"bare lf after chunk size", te + "5\nhello\r\n0\r\n\r\n", ReasonBareLF, "\nhello"},
		{"bare cr after chunk size", te + "5\rhello\r\n0\r\n\r\n", ReasonBareCR, "hello"},
		{"bare cr after chunk data", te + "5\r\nhello\rX0\r\n\r\n", ReasonBareCR, "X0"},
		{"bare cr in the trailer", te + "0\r\nX-T: 1\rX\r\n\r\n", ReasonBareCR, "X\r\n"},
		{"bare lf after chunk data", te + "5\r\nhello\n0\r\n\r\n", ReasonBareLF, "\n0\r\n"},
		{"chunk data too long", te + "5\r\nhelloXX\r\n0\r\n\r\n", ReasonChunkData, "XX"},
		{"bare lf after last chunk", te + "5\r\nhello\r\n0\n\r\n", ReasonBareLF, "\n\r\n"},
		{"bare lf ends the message", te + "0\r\n\n" + get, ReasonBareLF, "\nGET"},
		{"bare lf in the trailer", te + "0\r\nX-T: 1\n\r\n", ReasonBareLF, "\n\r\n"},
		{"obs-fold in the trailer", te + "0\r\nX-T: 1\r\n 2\r\n\r\n", ReasonObsFold, " 2"},
		{"bare cr ends the message", te + "0\r\n\rX", ReasonBareCR, "X"},
		{"bare lf in a chunk extension", te + "5;a\nb\r\nhello\r\n0\r\n\r\n", ReasonBareLF, "\nb"},
		{"bare cr in a chunk extension", te + "5;a\rb\r\nhello\r\n0\r\n\r\n", ReasonBareCR, "b\r\n"},
		{"control byte in a chunk extension", te + "5;a\x01b\r\nhello\r\n0\r\n\r\n", ReasonChunkExtension, "\x01b"},
		{"NUL in a chunk extension", te + "5;a\x00\r\nhello\r\n0\r\n\r\n", ReasonChunkExtension, "\x00"},
		{"long chunk extension", te + "5;" + strings.Repeat("a", MaxChunkExtension) + "\r\nhello\r\n0\r\n\r\n", ReasonChunkExtensionTooLong, "a\r\nhello"},
	}
}

func TestScannerRefuses(t *testing.T) {
	for _, tt := range refusalCases() {
		t.Run(tt.name, func(t *testing.T) {
			reason, bad, _ := scanAll(tt.in)
			if reason != tt.reason {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if !strings.HasPrefix(tt.in[bad:], tt.at) {
				t.Errorf("refused at %d (%q), want at %q", bad, tt.in[bad:], tt.at)
			}
		})
	}
}

// TestScannerCut checks how much of the stream the server gets: the
// requests before the offending one, in full, and nothing of its head;
// a chunked body up to the offending byte.
func TestScannerCut(t *testing.T) {
	const smuggle = "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
	const badChunk = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n"
	tests := []struct {
		name, in string
		pass     int
	}{
		{"first request", smuggle + get, 0},
		{"after pipelined requests", get + post + chunked + smuggle, len(get + post + chunked)},
		{"in a chunked body", get + badChunk, len(get+badChunk) - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, pass := scanAll(tt.in); pass != tt.pass {
				t.Errorf("passed %d bytes (%q), want %d", pass, tt.in[:pass], tt.pass)
			}
			// Split at every byte: the bytes of the offending head read
			// before the split have reached the server (they are followed
			// by refusedHead), nothing after it.
			_, bad, _ := scanAll(tt.in)
			for cut := range len(tt.in) + 1 {
				var s scanner
				got := s.scan([]byte(tt.in[:cut]))
				if s.state != stRefused {
					got += s.scan([]byte(tt.in[cut:]))
				}
				want := tt.pass
				if cut <= bad {
					want = max(tt.pass, cut)
				}
				if got != want || int(s.badOff) != bad {
					t.Fatalf("split at %d: passed %d bytes, refused at %d; want %d, %d", cut, got, s.badOff, want, bad)
				}
			}
		})
	}
}
