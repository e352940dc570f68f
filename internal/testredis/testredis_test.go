package testredis

import (
	"strings"
	"testing"
)

func TestServerStopStart(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL() = %q, want redis://127.0.0.1:<port>/0", s.URL())
	}
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}

	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("ping after Stop succeeded")
	}
	s.Stop() // stopping twice does nothing

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if err := s.Start(); err != nil { // starting twice does nothing
		t.Fatal(err)
	}
}

func TestURL(t *testing.T) {
	t.Setenv(EnvURL, "redis://example.invalid:6379/0")
	if got := URL(t); got != "redis://example.invalid:6379/0" {
		t.Errorf("URL() = %q, want the value of %s", got, EnvURL)
	}
}
