//go:build !unix

package proxy

import "net"

// idleUnusable cannot peek at a socket here: a connection the app closed
// is found when the request fails, and retried then.
func idleUnusable(net.Conn) bool { return false }
