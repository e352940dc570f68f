package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// runApp is the test app every target forwards to: it reads the body and
// answers 200 "ok", like a webhook handler that queues the event. GET
// /stats answers how many POSTs it received. It prints its address on
// stdout and serves until killed.
func runApp(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var posts atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.FormatInt(posts.Load(), 10))
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	return srv.Serve(ln)
}
