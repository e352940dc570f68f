package interop_test

import (
	"net/http"
	"strconv"
)

// headerOf is a header with one field.
func headerOf(name, value string) http.Header {
	h := http.Header{}
	h.Set(name, value)
	return h
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
