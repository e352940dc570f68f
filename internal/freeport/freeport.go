// Package freeport finds loopback TCP addresses that are free a moment ago,
// for tests and benchmarks that start servers (which must then bind them
// soon, as another process may take them meanwhile).
package freeport

import "net"

// Addr returns "127.0.0.1:PORT" for a port nobody listened on just now.
func Addr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Port is Addr's port number.
func Port() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
