package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	cases := []struct {
		name    string
		body    io.Reader
		length  int64
		want    string
		tooBig  bool
		wantErr error
	}{
		{"as long as its Content-Length", strings.NewReader("hello"), 5, "hello", false, nil},
		{"empty", strings.NewReader(""), 0, "", false, nil},
		{"no Content-Length, within the limit", strings.NewReader("hello"), -1, "hello", false, nil},
		{"no Content-Length, over the limit", strings.NewReader(strings.Repeat("x", 9)), -1, "", true, nil},
		{"Content-Length over the limit", strings.NewReader(strings.Repeat("x", 9)), 9, "", true, nil},
		{"shorter than its Content-Length", strings.NewReader("hel"), 5, "", false, io.ErrUnexpectedEOF},
		{"read error", iotest.ErrReader(errors.New("reset")), 5, "", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", tc.body)
			req.ContentLength = tc.length
			got, err := readBody(httptest.NewRecorder(), req, 8)
			var tooLarge *http.MaxBytesError
			switch {
			case tc.tooBig:
				if !errors.As(err, &tooLarge) {
					t.Fatalf("err %v, want *http.MaxBytesError", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
			case tc.name == "read error":
				if err == nil {
					t.Fatal("a failing body read gave no error")
				}
			default:
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
}

func TestReadAnswer(t *testing.T) {
	answer := func(body io.Reader, length int64) *http.Response {
		return &http.Response{Body: io.NopCloser(body), ContentLength: length}
	}
	if got, err := readAnswer(answer(strings.NewReader("ok"), 2)); err != nil || string(got) != "ok" {
		t.Fatalf("Content-Length answer: %q, %v", got, err)
	}
	if got, err := readAnswer(answer(strings.NewReader("ok"), -1)); err != nil || string(got) != "ok" {
		t.Fatalf("answer of unknown length: %q, %v", got, err)
	}
	if _, err := readAnswer(answer(strings.NewReader("o"), 2)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short answer: %v, want unexpected EOF", err)
	}
	if _, err := readAnswer(answer(strings.NewReader(""), maxUpstreamResponse+1)); !errors.Is(err, errResponseTooLarge) {
		t.Fatalf("Content-Length over the limit: %v", err)
	}
	big := strings.NewReader(strings.Repeat("x", maxUpstreamResponse+1))
	if _, err := readAnswer(answer(big, -1)); !errors.Is(err, errResponseTooLarge) {
		t.Fatalf("answer of unknown length over the limit: %v", err)
	}
}
