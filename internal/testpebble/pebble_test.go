package testpebble

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	p := Start(t)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CARootPool()}},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(p.DirectoryURL())
	if err != nil {
		t.Fatalf("directory over HTTPS trusting only CARootPool: %v", err)
	}
	var dir map[string]any
	err = json.NewDecoder(resp.Body).Decode(&dir)
	resp.Body.Close()
	if err != nil || dir["newOrder"] == nil || dir["newAccount"] == nil {
		t.Fatalf("directory = %v (%v), want newOrder and newAccount", dir, err)
	}
	if p.CARootPath() == "" {
		t.Error("no CARootPath")
	}
	p.IssuanceRoots(t) // fails the test if absent
	if p.Orders() != 0 || p.Accounts() != 0 {
		t.Errorf("orders %d, accounts %d before any client", p.Orders(), p.Accounts())
	}
	if p.HTTPListener.Addr().String() == p.TLSListener.Addr().String() {
		t.Error("challenge listeners share an address")
	}

	p.Stop()
	p.Stop() // twice is fine
	client.CloseIdleConnections()
	if _, err := client.Get(p.DirectoryURL()); err == nil {
		t.Error("directory still answers after Stop")
	}
}
