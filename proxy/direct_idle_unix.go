//go:build unix

package proxy

import (
	"errors"
	"net"
	"syscall"
)

// idleUnusable reports whether a connection that sat idle can no longer
// carry a request: the app closed or reset it, or sent something nobody
// asked for (an unsolicited 408, say), which would otherwise be read as
// the answer to the next request. One non-blocking peek at the socket;
// nothing is consumed. Call it with the connection's deadline in the
// future.
func idleUnusable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false // not a socket (a test's pipe): nothing to peek at
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	unusable := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK):
			unusable = false // nothing there: still open, still quiet
		case rerr != nil:
			unusable = true // reset, or another socket error
		default:
			unusable = true // a byte nobody asked for, or 0 bytes: closed
		}
		return true // never wait for readability
	})
	return unusable || err != nil
}
