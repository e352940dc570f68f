package main

import (
	"errors"
	"regexp"
	"strings"

	"github.com/hookguard/hookguard/listen"
)

// tlsFieldKeys maps listen.TLSConfig's field names to the config's keys.
var tlsFieldKeys = map[string]string{
	"HTTPListen":  "tls.http_listen",
	"HTTPSListen": "listen",
	"Domains":     "tls.domains",
	"Email":       "tls.email",
	"CA":          "tls.ca",
	"CARoot":      "tls.ca_root",
	"Storage":     "tls.storage",
	"CertFile":    "tls.cert_file",
	"KeyFile":     "tls.key_file",
}

var tlsFieldName = regexp.MustCompile(`\b(HTTPListen|HTTPSListen|Domains|Email|CARoot|CA|Storage|CertFile|KeyFile)\b`)

// tlsKeys rewrites the listen.FieldErrors in err (one, or joined) to name
// the config's keys instead of Go fields, keeping every error in the chain.
func tlsKeys(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, tlsKeys(e))
		}
		return errors.Join(out...)
	}
	var fe *listen.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	rename := func(s string) string {
		return tlsFieldName.ReplaceAllStringFunc(s, func(name string) string { return tlsFieldKeys[name] })
	}
	field, index, _ := strings.Cut(fe.Field, "[")
	key := tlsFieldKeys[field]
	if index != "" {
		key += "[" + index
	}
	return &keyError{key: key, msg: rename(fe.Msg), err: err}
}

// keyError is a listen.FieldError named by its config key.
type keyError struct {
	key, msg string
	err      error // the FieldError
}

func (e *keyError) Error() string { return e.key + ": " + e.msg }
func (e *keyError) Unwrap() error { return e.err }
