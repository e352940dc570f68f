package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Twilio's headers: the signature, and the idempotency token some
// callbacks carry (not signed).
const (
	HeaderTwilioSignature   = "X-Twilio-Signature"
	HeaderTwilioIdempotency = "I-Twilio-Idempotency-Token"
)

// twilioAck is an empty TwiML document, which every Twilio webhook
// accepts as "nothing to do" (inferred from Twilio's TwiML docs; only
// used for a duplicate when no answer of the app was kept).
const twilioAck = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// Twilio verifies Twilio webhooks (Programmable Voice, Video, Messaging).
//
// X-Twilio-Signature is the standard base64 of HMAC-SHA1(auth token, S).
// For a form post, S is the URL Twilio called followed by every POST
// parameter as name + value, sorted by name (then value); for a JSON post
// the URL's query carries bodySHA256 = hex SHA-256 of the body, S is the
// URL alone, and the body must match that hash (ErrBodyMismatch). The URL
// is tried as given and with its default port added or removed, as
// Twilio's validators do.
//
// Twilio signs no time and I-Twilio-Idempotency-Token is not signed:
// dedupe is on the signed URL and body, so that a replay cannot pass by
// changing an unsigned header; the token is reported as the event's ID.
type Twilio struct {
	// Keys maps a label (e.g. the account SID) to auth tokens; every one
	// is tried.
	Keys Keyring
	// PublicURL is the route's public URL without a query, as Twilio was
	// given it. Empty: Request.URL is used as it is.
	PublicURL string
}

// NewTwilio returns a Twilio verifier after checking keys and publicURL
// (empty, or an absolute http(s) URL without query or fragment).
func NewTwilio(keys Keyring, publicURL string) (*Twilio, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
			strings.ContainsAny(publicURL, "?#") {
			return nil, fmt.Errorf("%s: PublicURL %q is not an absolute http(s) URL without a query", ProviderTwilio, publicURL)
		}
	}
	return &Twilio{Keys: keys, PublicURL: publicURL}, nil
}

func newTwilioVerifier(keys Keyring, o Options) (Verifier, error) {
	if err := noTolerance(ProviderTwilio, o); err != nil {
		return nil, err
	}
	return NewTwilio(keys, o.PublicURL)
}

// SignatureHeaders implements SignatureHeaderer.
func (v *Twilio) SignatureHeaders() []string { return []string{HeaderTwilioSignature} }

// ForwardTimeout implements ForwardTimeouter: Twilio gives a webhook 15 s
// (inferred from Twilio's webhook docs).
func (v *Twilio) ForwardTimeout() time.Duration { return 14 * time.Second }

// ReplayWindow implements ReplayWindower: Twilio signs no time.
func (v *Twilio) ReplayWindow() time.Duration { return 0 }

// Ack implements Acknowledger: an empty TwiML response.
func (v *Twilio) Ack() (string, []byte) { return "text/xml", []byte(twilioAck) }

// signedURL is the URL Twilio signed: PublicURL with the received query,
// or the URL as received.
func (v *Twilio) signedURL(r *Request) (string, error) {
	if r.URL == "" {
		return "", errNoURL
	}
	if v.PublicURL == "" {
		return r.URL, nil
	}
	if _, q, ok := strings.Cut(r.URL, "?"); ok {
		return v.PublicURL + "?" + q, nil
	}
	return v.PublicURL, nil
}

// Verify implements Verifier.
func (v *Twilio) Verify(r *Request) ([]Event, error) {
	sig, err := singleHeader(r.Header, HeaderTwilioSignature)
	if err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	if sig == "" {
		return nil, fmt.Errorf("twilio: %w: no %s header", ErrMissingSignature, HeaderTwilioSignature)
	}
	mac, ok := decodeMAC(sig, sha1.Size)
	if !ok {
		return nil, fmt.Errorf("twilio: %w: %s is not a base64 HMAC-SHA1", ErrMalformedSignature, HeaderTwilioSignature)
	}
	u, err := v.signedURL(r)
	if err != nil {
		return nil, fmt.Errorf("twilio: %w: %w", ErrSignatureMismatch, err)
	}
	bodyHash, jsonMode, err := twilioBodyHash(u)
	if err != nil {
		return nil, fmt.Errorf("twilio: %w: %w", ErrMalformedSignature, err)
	}
	var params []byte
	var form url.Values
	if !jsonMode {
		if form, params, err = twilioParams(r.Body); err != nil {
			return nil, fmt.Errorf("twilio: %w: %w", ErrSignatureMismatch, err)
		}
	}
	label := ""
	matched := false
	for _, cand := range twilioURLs(u) {
		if label, _, matched = matchLabel(v.Keys, [][]byte{mac}, func(k []byte) []byte {
			return hmacSum(sha1.New, k, []byte(cand), params)
		}); matched {
			break
		}
	}
	if !matched {
		return nil, fmt.Errorf("twilio: %w", ErrSignatureMismatch)
	}
	var typ string
	if jsonMode {
		sum := sha256.Sum256(r.Body)
		if !hmac.Equal([]byte(hex.EncodeToString(sum[:])), []byte(bodyHash)) {
			return nil, fmt.Errorf("twilio: %w", ErrBodyMismatch)
		}
		if json.Valid(r.Body) {
			if err := validJSON(r.Body); err != nil {
				return nil, fmt.Errorf("twilio: %w: %w", ErrMalformedBody, err)
			}
			if fields, err := cutMembers(r.Body); err == nil {
				typ, _ = fieldString(fields, "type")
			}
		}
	} else {
		for _, name := range [...]string{"EventType", "StatusCallbackEvent", "CallStatus", "MessageStatus", "SmsStatus"} {
			if typ = form.Get(name); typ != "" {
				break
			}
		}
	}
	token, err := singleHeader(r.Header, HeaderTwilioIdempotency)
	if err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	// The key covers what was signed: the URL, and the body.
	content := make([]byte, 0, len(u)+1+len(r.Body))
	content = append(append(append(content, u...), 0), r.Body...)
	return []Event{{
		Provider: ProviderTwilio,
		ID:       token,
		Key:      BodyKey(label, content),
		Type:     typ,
		KeyID:    label,
		Body:     r.Body,
	}}, nil
}

// twilioBodyHash returns the bodySHA256 parameter of u's query; jsonMode
// says whether there is one.
func twilioBodyHash(u string) (hash string, jsonMode bool, err error) {
	_, rawQuery, _ := strings.Cut(u, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, errors.New("the URL's query cannot be read")
	}
	vals, ok := q["bodySHA256"]
	if !ok {
		return "", false, nil
	}
	if len(vals) != 1 || len(vals[0]) != 2*sha256.Size {
		return "", false, errors.New("bodySHA256 is not one hex SHA-256")
	}
	return vals[0], true, nil
}

// twilioParams parses a form body and returns it with the signed
// parameter string: name + value, sorted by name, then value. A name
// given twice is refused: Twilio's validators disagree on which value
// counts, and so could the app.
func twilioParams(body []byte) (url.Values, []byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, errors.New("the body is not a form Twilio signed")
	}
	names := make([]string, 0, len(form))
	for k, vv := range form {
		if len(vv) != 1 {
			return nil, nil, fmt.Errorf("the form names %s twice", quoteID(k))
		}
		names = append(names, k)
	}
	slices.Sort(names)
	var b []byte
	for _, k := range names {
		b = append(append(b, k...), form[k][0]...)
	}
	return form, b, nil
}

// twilioURLs returns u, and u with its default port added (none given) or
// removed (the default given), as Twilio's validators try both.
func twilioURLs(u string) []string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return []string{u}
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	host, tail := rest[:end], rest[end:]
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(scheme)]
	if def == "" || strings.HasSuffix(host, "]") {
		return []string{u}
	}
	if h, port, ok := strings.Cut(host, ":"); ok {
		if port == def {
			return []string{u, scheme + "://" + h + tail}
		}
		return []string{u}
	}
	return []string{u, scheme + "://" + host + ":" + def + tail}
}

// SignTwilio returns the X-Twilio-Signature of a form post of params to
// fullURL: standard base64 of HMAC-SHA1(token, fullURL + sorted params).
// A name given several times is signed with all its values, sorted.
func SignTwilio(token []byte, fullURL string, params url.Values) string {
	names := slices.Sorted(maps.Keys(params))
	b := []byte(fullURL)
	for _, k := range names {
		for _, val := range slices.Sorted(slices.Values(params[k])) {
			b = append(append(b, k...), val...)
		}
	}
	return base64.StdEncoding.EncodeToString(hmacSum(sha1.New, token, b))
}

// TwilioJSONURL returns fullURL with bodySHA256 (hex SHA-256 of body)
// added to its query, re-encoded as url.Values.Encode does: the URL a
// JSON post is sent to and signed with (SignTwilio with no params).
func TwilioJSONURL(fullURL string, body []byte) (string, error) {
	u, err := url.Parse(fullURL)
	if err != nil {
		return "", fmt.Errorf("%s: url: %w", ProviderTwilio, err)
	}
	sum := sha256.Sum256(body)
	q := u.Query()
	q.Set("bodySHA256", hex.EncodeToString(sum[:]))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// sendTwilio signs m as Twilio does for m.URL: a form post (a call status
// callback by default), or a JSON post with bodySHA256 when m.Body is
// JSON.
func sendTwilio(m Message) (Outgoing, error) {
	if m.URL == "" {
		return Outgoing{}, fmt.Errorf("%s: the URL is signed: give the URL the webhook is posted to", ProviderTwilio)
	}
	if m.Body != nil && json.Valid(m.Body) {
		signedURL, err := TwilioJSONURL(m.URL, m.Body)
		if err != nil {
			return Outgoing{}, err
		}
		sum := sha256.Sum256(m.Body)
		h := http.Header{"Content-Type": {"application/json"}}
		h.Set(HeaderTwilioSignature, SignTwilio([]byte(m.Secret), signedURL, nil))
		return Outgoing{Header: h, Query: url.Values{"bodySHA256": {hex.EncodeToString(sum[:])}}, Body: m.Body}, nil
	}
	var params url.Values
	if m.Body != nil {
		var err error
		if params, err = url.ParseQuery(string(m.Body)); err != nil {
			return Outgoing{}, fmt.Errorf("%s: the body is neither JSON nor a form", ProviderTwilio)
		}
	} else {
		params = url.Values{"AccountSid": {"AC" + strings.Repeat("0", 32)}, "CallSid": {"CA" + m.ID}, "CallStatus": {or(m.Type, "completed")},
			"From": {"+14158675309"}, "To": {"+18005551212"}, "Direction": {"inbound"}, "Timestamp": {m.At.UTC().Format(time.RFC1123Z)}}
	}
	body := m.Body
	if body == nil {
		body = []byte(params.Encode())
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	h.Set(HeaderTwilioSignature, SignTwilio([]byte(m.Secret), m.URL, params))
	h.Set(HeaderTwilioIdempotency, m.ID)
	return Outgoing{Header: h, Body: body}, nil
}

var (
	_ Verifier     = (*Twilio)(nil)
	_ Acknowledger = (*Twilio)(nil)
)

// SignsURL implements URLSigner: Twilio signs the URL it posted to.
func (v *Twilio) SignsURL() bool { return true }
