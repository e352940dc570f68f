// Package listen holds hookguard's listeners. framing*.go guard HTTP/1.x
// connections against requests whose framing a front proxy and Go's
// server could read differently (request smuggling, RFC 9112 §11.2).
package listen

// Reasons a connection is refused: a small fixed set, safe as metric
// labels. Each names the first rule the stream broke.
const (
	// ReasonBareLF: a line of the head, of the chunked framing or of the
	// trailer ends with LF alone (Go accepts it; RFC 9112 §2.2 lets a
	// recipient do so, but a front proxy that does not sees a different
	// set of header fields).
	ReasonBareLF = "bare_lf"
	// ReasonBareCR: a CR not followed by LF.
	ReasonBareCR = "bare_cr"
	// ReasonObsFold: a field line continued on the next line (obs-fold,
	// RFC 9112 §5.2); Go joins the lines.
	ReasonObsFold = "obs_fold"
	// ReasonHeaderName: a field line without a colon, or with whitespace
	// in or after its name.
	ReasonHeaderName = "malformed_header_name"
	// ReasonRequestLine: the request line does not end in " HTTP/1.1" or
	// " HTTP/1.0" (Go also serves HTTP/1.2 to HTTP/1.9).
	ReasonRequestLine = "malformed_request_line"
	// ReasonContentLengthWithTE: both Content-Length and
	// Transfer-Encoding (Go drops Content-Length and reads chunks).
	ReasonContentLengthWithTE = "content_length_with_transfer_encoding"
	// ReasonTransferEncoding: a Transfer-Encoding other than exactly
	// "chunked" (Go also takes "Chunked", "CHUNKED").
	ReasonTransferEncoding = "transfer_encoding_not_chunked"
	// ReasonDuplicateTE: more than one Transfer-Encoding field.
	ReasonDuplicateTE = "duplicate_transfer_encoding"
	// ReasonTEInHTTP10: Transfer-Encoding in an HTTP/1.0 request (Go
	// ignores it and reads the chunks as the next request).
	ReasonTEInHTTP10 = "transfer_encoding_in_http10"
	// ReasonContentLength: a Content-Length that is not one decimal
	// number that fits in 63 bits.
	ReasonContentLength = "invalid_content_length"
	// ReasonDuplicateCL: more than one Content-Length field, even with
	// the same value (Go keeps one).
	ReasonDuplicateCL = "duplicate_content_length"
	// ReasonChunkSize: a chunk-size line that is not hex digits followed
	// by CRLF or by an extension (Go allows trailing whitespace).
	ReasonChunkSize = "invalid_chunk_size"
	// ReasonChunkTooLarge: a chunk of MaxChunkSize bytes or more, or a
	// size written with more than 16 digits.
	ReasonChunkTooLarge = "chunk_size_too_large"
	// ReasonChunkExtension: a control character (other than HTAB) in a
	// chunk extension (Go skips extensions unread).
	ReasonChunkExtension = "invalid_chunk_extension"
	// ReasonChunkExtensionTooLong: chunk extensions (from the first ";"
	// to the end of the line) longer than MaxChunkExtension bytes.
	ReasonChunkExtensionTooLong = "chunk_extension_too_long"
	// ReasonChunkData: chunk data not followed by CRLF.
	ReasonChunkData = "chunk_data_not_terminated"
)

const (
	// MaxChunkSize bounds one chunk's size: front proxies that keep it
	// in 32 bits would frame larger ones differently. Webhook bodies are
	// far smaller.
	MaxChunkSize = 1<<31 - 1
	// MaxChunkExtension bounds one chunk extension (";name=value...").
	MaxChunkExtension = 256
	// maxChunkDigits is Go's own bound on a chunk size's hex digits.
	maxChunkDigits = 16
	maxInt63       = 1<<63 - 1
)

// States of the scanner.
const (
	stRequestLine   uint8 = iota // in the request line
	stRequestLineLF              // request line: after CR
	stFieldStart                 // at the start of a field line, or of the end of the head
	stFieldName                  // in a field name
	stFieldValue                 // in the value of a field that does not frame the body
	stCLValue                    // in a Content-Length value
	stTEValue                    // in a Transfer-Encoding value
	stFieldLF                    // field line: after CR
	stHeadEndLF                  // end of the head: after CR
	stBody                       // in a body framed by Content-Length
	stChunkSize                  // in a chunk size
	stChunkExt                   // in a chunk extension
	stChunkSizeLF                // chunk-size line: after CR
	stChunkData                  // in chunk data
	stChunkDataCR                // after chunk data: want CR
	stChunkDataLF                // after chunk data: want LF
	stTrailerStart               // at the start of a trailer field line or of the end of the message
	stTrailer                    // in a trailer field line
	stTrailerLF                  // trailer field line: after CR
	stTrailerEndLF               // end of the message: after CR
	stRefused                    // a rule was broken; nothing more is read
)

// Which framing field names a field name can still be.
const (
	matchCL uint8 = 1 << iota
	matchTE
)

const (
	nameCL = "content-length"
	nameTE = "transfer-encoding"
)

// Versions of the request line, as its last 8 bytes in a big-endian word.
const (
	wordHTTP10 = uint64('H')<<56 | uint64('T')<<48 | uint64('T')<<40 | uint64('P')<<32 | uint64('/')<<24 | uint64('1')<<16 | uint64('.')<<8 | uint64('0')
	wordHTTP11 = wordHTTP10 + 1
)

// scanner follows an HTTP/1.x request stream byte by byte as Go's server
// frames it (RFC 9112: a chunked Transfer-Encoding, else Content-Length,
// else no body), across keep-alive and pipelined requests, and stops at
// the first byte that breaks one of its rules. It reads each byte once,
// keeps no copy of the stream and allocates nothing. The zero value is
// ready, at the start of a request.
type scanner struct {
	state uint8

	off     int64 // bytes scanned so far
	headOff int64 // offset of the current request's first byte

	// The head.
	tail    uint64 // the last 8 bytes of the request line so far
	tailSP  byte   // the byte before them
	http10  bool
	match   uint8 // framing field names the current name can still be
	nameLen int
	phase   uint8 // in a framing value: 0 leading OWS, 1 the value, 2 trailing OWS
	teIdx   int   // bytes of "chunked" matched
	hasCL   bool
	hasTE   bool
	n       int64 // Content-Length, then the body bytes left; or chunk size, then chunk bytes left
	digits  int
	extLen  int

	// Set once refused.
	reason string
	badOff int64 // offset of the byte that broke the rule
	cutOff int64 // offset from which the server must not get the stream
	inHead bool  // the rule was broken in a head (else in a chunked body)
	at     uint8 // the state it was broken in
}

// scan advances s over p, the next bytes of the stream. It returns
// len(p) while the stream keeps the rules. When a byte of p breaks one,
// s is refused (reason, badOff, cutOff and inHead tell why and where) and
// scan returns how many bytes of p the server may still get: those up to
// the start of the offending request's head when it is in p, else up to
// the offending byte. A refused scanner returns 0.
func (s *scanner) scan(p []byte) int {
	if s.state == stRefused {
		return 0
	}
	start := s.off
	for i := 0; i < len(p); {
		b := p[i]
		switch s.state {
		case stRequestLine:
			// Fast path: to the end of the line.
			j := i
			for j < len(p) && p[j] != '\r' && p[j] != '\n' {
				j++
			}
			s.shiftRequestLine(p[max(i, j-9):j])
			i = j
			if i == len(p) {
				continue
			}
			if p[i] == '\n' {
				return s.refuse(start, i, ReasonBareLF, true)
			}
			switch {
			case s.tailSP != ' ':
				return s.refuse(start, i, ReasonRequestLine, true)
			case s.tail == wordHTTP11:
				s.http10 = false
			case s.tail == wordHTTP10:
				s.http10 = true
			default:
				return s.refuse(start, i, ReasonRequestLine, true)
			}
			s.state = stRequestLineLF
			i++
			continue
		case stRequestLineLF, stFieldLF, stChunkSizeLF, stChunkDataLF, stTrailerLF:
			if b != '\n' {
				inHead := s.state == stRequestLineLF || s.state == stFieldLF
				return s.refuse(start, i, ReasonBareCR, inHead)
			}
			switch s.state {
			case stRequestLineLF, stFieldLF:
				s.state = stFieldStart
			case stChunkSizeLF:
				if s.n > 0 {
					s.state = stChunkData
				} else {
					s.state = stTrailerStart
				}
			case stChunkDataLF:
				s.state, s.n, s.digits = stChunkSize, 0, 0
			case stTrailerLF:
				s.state = stTrailerStart
			}
		case stFieldStart:
			switch b {
			case '\r':
				s.state = stHeadEndLF
			case '\n':
				return s.refuse(start, i, ReasonBareLF, true)
			case ' ', '\t':
				return s.refuse(start, i, ReasonObsFold, true)
			case ':':
				return s.refuse(start, i, ReasonHeaderName, true)
			default:
				s.state, s.match, s.nameLen = stFieldName, matchCL|matchTE, 0
				continue // the byte is the name's first
			}
		case stFieldName:
			if s.match == 0 {
				// Fast path: not a framing field; to the end of the name.
				j := i
				for j < len(p) && plainNameByte(p[j]) {
					j++
				}
				i = j
				if i == len(p) {
					continue
				}
				b = p[i]
			}
			switch b {
			case ':':
				switch {
				case s.match&matchCL != 0 && s.nameLen == len(nameCL):
					if s.hasCL {
						return s.refuse(start, i, ReasonDuplicateCL, true)
					}
					s.hasCL, s.state, s.phase, s.n = true, stCLValue, 0, 0
				case s.match&matchTE != 0 && s.nameLen == len(nameTE):
					if s.hasTE {
						return s.refuse(start, i, ReasonDuplicateTE, true)
					}
					s.hasTE, s.state, s.phase, s.teIdx = true, stTEValue, 0, 0
				default:
					s.state = stFieldValue
				}
			case ' ', '\t', '\r':
				return s.refuse(start, i, ReasonHeaderName, true)
			case '\n':
				return s.refuse(start, i, ReasonBareLF, true)
			default:
				if b >= 'A' && b <= 'Z' {
					b += 'a' - 'A'
				}
				if s.nameLen >= len(nameCL) || nameCL[s.nameLen] != b {
					s.match &^= matchCL
				}
				if s.nameLen >= len(nameTE) || nameTE[s.nameLen] != b {
					s.match &^= matchTE
				}
				s.nameLen++
			}
		case stFieldValue:
			j := i
			for j < len(p) && p[j] != '\r' && p[j] != '\n' {
				j++
			}
			i = j
			if i == len(p) {
				continue
			}
			if p[i] == '\n' {
				return s.refuse(start, i, ReasonBareLF, true)
			}
			s.state = stFieldLF
		case stCLValue:
			switch {
			case b == ' ' || b == '\t':
				if s.phase == 1 {
					s.phase = 2
				}
			case b >= '0' && b <= '9':
				d := int64(b - '0')
				if s.phase == 2 || s.n > (maxInt63-d)/10 {
					return s.refuse(start, i, ReasonContentLength, true)
				}
				s.phase, s.n = 1, s.n*10+d
			case b == '\r' && s.phase > 0:
				s.state = stFieldLF
			case b == '\n':
				return s.refuse(start, i, ReasonBareLF, true)
			default:
				return s.refuse(start, i, ReasonContentLength, true)
			}
		case stTEValue:
			switch {
			case b == ' ' || b == '\t':
				if s.phase == 1 {
					if s.teIdx != len("chunked") {
						return s.refuse(start, i, ReasonTransferEncoding, true)
					}
					s.phase = 2
				}
			case b == '\r':
				if s.phase == 0 || s.teIdx != len("chunked") {
					return s.refuse(start, i, ReasonTransferEncoding, true)
				}
				s.state = stFieldLF
			case b == '\n':
				return s.refuse(start, i, ReasonBareLF, true)
			default:
				if s.phase == 2 || s.teIdx == len("chunked") || "chunked"[s.teIdx] != b {
					return s.refuse(start, i, ReasonTransferEncoding, true)
				}
				s.phase = 1
				s.teIdx++
			}
		case stHeadEndLF:
			if b != '\n' {
				return s.refuse(start, i, ReasonBareCR, true)
			}
			switch {
			case s.hasTE && s.hasCL:
				return s.refuse(start, i, ReasonContentLengthWithTE, true)
			case s.hasTE && s.http10:
				return s.refuse(start, i, ReasonTEInHTTP10, true)
			case s.hasTE:
				s.state, s.n, s.digits = stChunkSize, 0, 0
			case s.n > 0:
				s.state = stBody
			default:
				s.next(start + int64(i) + 1)
			}
		case stBody, stChunkData:
			k := int(min(s.n, int64(len(p)-i)))
			s.n -= int64(k)
			i += k
			if s.n == 0 {
				if s.state == stBody {
					s.next(start + int64(i))
				} else {
					s.state = stChunkDataCR
				}
			}
			continue
		case stChunkSize:
			switch {
			case b == ';' && s.digits > 0:
				s.state, s.extLen = stChunkExt, 1
			case b == '\r' && s.digits > 0:
				s.state = stChunkSizeLF
			case b == '\n':
				return s.refuse(start, i, ReasonBareLF, false)
			default:
				d, ok := unhex(b)
				if !ok {
					return s.refuse(start, i, ReasonChunkSize, false)
				}
				s.n = s.n<<4 | int64(d)
				s.digits++
				if s.n > MaxChunkSize || s.digits > maxChunkDigits {
					return s.refuse(start, i, ReasonChunkTooLarge, false)
				}
			}
		case stChunkExt:
			switch {
			case b == '\r':
				s.state = stChunkSizeLF
			case b == '\n':
				return s.refuse(start, i, ReasonBareLF, false)
			case b < ' ' && b != '\t' || b == 0x7f:
				return s.refuse(start, i, ReasonChunkExtension, false)
			default:
				s.extLen++
				if s.extLen > MaxChunkExtension {
					return s.refuse(start, i, ReasonChunkExtensionTooLong, false)
				}
			}
		case stChunkDataCR:
			switch b {
			case '\r':
				s.state = stChunkDataLF
			case '\n':
				return s.refuse(start, i, ReasonBareLF, false)
			default:
				return s.refuse(start, i, ReasonChunkData, false)
			}
		case stTrailerStart:
			switch b {
			case '\r':
				s.state = stTrailerEndLF
			case '\n':
				return s.refuse(start, i, ReasonBareLF, false)
			case ' ', '\t':
				return s.refuse(start, i, ReasonObsFold, false)
			default:
				s.state = stTrailer
			}
		case stTrailer:
			switch b {
			case '\r':
				s.state = stTrailerLF
			case '\n':
				return s.refuse(start, i, ReasonBareLF, false)
			}
		case stTrailerEndLF:
			if b != '\n' {
				return s.refuse(start, i, ReasonBareCR, false)
			}
			s.next(start + int64(i) + 1)
		}
		i++
	}
	s.off = start + int64(len(p))
	return len(p)
}

// next starts a new request at offset off. (While scan runs, s.off is
// the offset of its p.)
func (s *scanner) next(off int64) {
	*s = scanner{off: s.off, headOff: off}
}

// shiftRequestLine pushes b, the next bytes of the request line, into
// tail and tailSP.
func (s *scanner) shiftRequestLine(b []byte) {
	for _, c := range b {
		s.tailSP = byte(s.tail >> 56)
		s.tail = s.tail<<8 | uint64(c)
	}
}

// refuse records the broken rule at p[i] (p started at offset start) and
// returns how many bytes of p the server may still get.
func (s *scanner) refuse(start int64, i int, reason string, inHead bool) int {
	s.at = s.state
	s.state, s.reason, s.inHead = stRefused, reason, inHead
	s.badOff = start + int64(i)
	s.cutOff = s.badOff
	if inHead {
		s.cutOff = s.headOff
	}
	s.off = start + int64(i)
	return int(max(s.cutOff-start, 0))
}

func unhex(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// plainNameByte tells the bytes of a field name the scanner need not
// look at: all but the colon, whitespace, CR and LF. (Go's server
// refuses names with other bytes that are not token characters.)
func plainNameByte(c byte) bool {
	return c != ':' && c != ' ' && c != '\t' && c != '\r' && c != '\n'
}
