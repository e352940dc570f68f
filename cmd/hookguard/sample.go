package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hookguard/hookguard/verify"
)

// signed describes a test webhook to build: what a real sender would post.
type signed struct {
	Provider string
	URL      string
	KeyID    string // API key, SdkAppId, application id or label
	Secret   string // as configured (whsec_ for standard-webhooks)
	Body     []byte // nil: a sample event of Type
	Type     string // event type or command; "" → the provider's usual one
	ID       string // event id; "" → random
	Batch    int    // liveswitch: events in one {"batch":[...]} (0 or 1: single)
	At       time.Time
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newSignedRequest builds the POST a real sender of the provider makes, as
// the provider's line in verify's table signs it.
func newSignedRequest(s signed) (*http.Request, error) {
	p, err := verify.Lookup(s.Provider)
	if err != nil {
		return nil, err
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	if s.ID == "" {
		s.ID = randomID("EV_")
	}
	out, err := p.Send(verify.Message{KeyID: s.KeyID, Secret: s.Secret, Body: s.Body, Type: s.Type, ID: s.ID, Batch: s.Batch, At: s.At, URL: s.URL})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if len(out.Query) > 0 {
		q := u.Query()
		for k, vv := range out.Query {
			q[k] = vv
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(out.Body))
	if err != nil {
		return nil, err
	}
	req.Header = out.Header
	return req, nil
}
