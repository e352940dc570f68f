package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LiveKitTokenTTL is how long a token made by SignLiveKit is valid, as
// livekit-server sets it for webhooks.
const LiveKitTokenTTL = 5 * time.Minute

// defaultLiveKitLeeway is the clock skew LiveKit's reference receiver allows.
const defaultLiveKitLeeway = time.Minute

// LiveKit verifies webhooks from livekit-server and LiveKit Cloud.
//
// The Authorization header holds an HS256 JWT signed with the API secret
// selected by its "iss" claim (the API key); its "sha256" claim is the
// standard base64 of SHA-256 over the exact body bytes.
type LiveKit struct {
	// Keys maps an API key to its API secrets (several during rotation).
	Keys Keyring
	// Leeway is the clock skew allowed on exp, nbf and iat.
	// If zero, one minute is used, as LiveKit's own receiver does.
	// A negative value allows no skew at all.
	Leeway time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// NewLiveKit returns a LiveKit verifier after checking that keys holds at
// least one API key and no empty secret.
func NewLiveKit(keys Keyring, leeway time.Duration, now func() time.Time) (*LiveKit, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	return &LiveKit{Keys: keys, Leeway: leeway, Now: now}, nil
}

// liveKitClaims are the claims of a LiveKit webhook token.
type liveKitClaims struct {
	jwt.RegisteredClaims
	SHA256 string `json:"sha256,omitempty"`
}

// Verify implements Verifier.
func (v *LiveKit) Verify(r *Request) ([]Event, error) {
	raw, err := singleHeader(r.Header, "Authorization")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	token := raw
	if len(token) >= 7 && strings.EqualFold(token[:7], "Bearer ") {
		token = strings.TrimSpace(token[7:])
	} else if strings.EqualFold(token, "Bearer") {
		token = ""
	}
	if token == "" {
		return nil, fmt.Errorf("livekit: %w: no Authorization header", ErrMissingSignature)
	}

	var (
		claims  liveKitClaims
		issuer  string
		unknown bool
	)
	keyfunc := func(t *jwt.Token) (any, error) {
		issuer = claims.Issuer
		secrets, ok := v.Keys[issuer]
		if !ok || len(secrets) == 0 {
			unknown = true
			return nil, ErrUnknownKey
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(secrets))}
		for i, s := range secrets {
			set.Keys[i] = s
		}
		return set, nil
	}
	parsed, err := v.parser().ParseWithClaims(token, &claims, keyfunc)
	if err != nil {
		return nil, liveKitError(parsed, err, unknown, issuer)
	}

	sum := sha256.Sum256(r.Body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	if claims.SHA256 == "" || !hmac.Equal([]byte(claims.SHA256), []byte(want)) {
		return nil, fmt.Errorf("livekit: %w", ErrBodyMismatch)
	}

	fields, err := objectFields(r.Body)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	id, err := fieldString(fields, "id")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	typ, err := fieldString(fields, "event")
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	created, _, err := fieldTime(fields, "createdAt", time.Second)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w: %w", ErrMalformedBody, err)
	}
	key := id
	if key == "" {
		key = BodyKey(r.Body)
	}
	return []Event{{
		Provider: ProviderLiveKit,
		ID:       id,
		Key:      key,
		Type:     typ,
		Time:     created,
		KeyID:    issuer,
		Body:     r.Body,
	}}, nil
}

// parser returns a JWT parser configured as LiveKit's reference receiver:
// HS256 only, exp required, leeway on the time claims.
func (v *LiveKit) parser() *jwt.Parser {
	leeway := v.Leeway
	if leeway == 0 {
		leeway = defaultLiveKitLeeway
	} else if leeway < 0 {
		leeway = 0
	}
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return nowFunc(v.Now) }),
	)
}

// liveKitError maps an error of the JWT library to this package's sentinels.
// The library's error is kept in the chain for errors.Is and for logs; it
// never contains the token or a secret.
func liveKitError(t *jwt.Token, err error, unknown bool, issuer string) error {
	var sentinel error
	switch {
	case unknown:
		return fmt.Errorf("livekit: %w %s", ErrUnknownKey, quoteID(issuer))
	case errors.Is(err, jwt.ErrTokenMalformed):
		sentinel = ErrMalformedSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// ParseUnverified found no usable "alg": unknown names are refused
		// algorithms, a missing one is a malformed header.
		sentinel = ErrMalformedSignature
		if t != nil {
			if _, ok := t.Header["alg"].(string); ok {
				sentinel = ErrUnsupportedAlgorithm
			}
		}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		sentinel = ErrSignatureMismatch
		if t != nil && t.Method != nil && t.Method.Alg() != jwt.SigningMethodHS256.Alg() {
			sentinel = ErrUnsupportedAlgorithm
		}
	case errors.Is(err, jwt.ErrTokenExpired),
		errors.Is(err, jwt.ErrTokenNotValidYet),
		errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		sentinel = ErrStale
	default: // missing exp, claims of the wrong type
		sentinel = ErrMalformedSignature
	}
	return fmt.Errorf("livekit: %w: %w", sentinel, err)
}

// SignLiveKit returns the Authorization header value livekit-server sends
// with body: an HS256 JWT with iss = apiKey, iat = nbf = now, exp = now + 5
// minutes and sha256 = standard base64 of SHA-256(body).
func SignLiveKit(apiKey string, secret []byte, body []byte, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("livekit: empty secret")
	}
	sum := sha256.Sum256(body)
	claims := liveKitClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apiKey,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(LiveKitTokenTTL)),
		},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

var _ Verifier = (*LiveKit)(nil)
