package proxy

import (
	"bufio"
	"context"
	"time"
)

// The direct client's pool of idle connections.

// closeIdle closes the idle connections. Connections in use at the time
// are closed when their request is done, not pooled; later requests pool
// as before.
func (c *directClient) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = make(map[string][]*directConn)
	c.gen++
	c.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
}

// takeIdle returns the most recently used idle connection to addr, or nil.
// When that one has been idle too long, so have all the older ones: they
// are all closed.
func (c *directClient) takeIdle(addr string) *directConn {
	now := c.now()
	c.mu.Lock()
	list := c.idle[addr]
	if len(list) == 0 {
		c.mu.Unlock()
		return nil
	}
	top := list[len(list)-1]
	if idle := now.Sub(top.idleSince); idle <= c.idleTimeout {
		list[len(list)-1] = nil
		c.idle[addr] = list[:len(list)-1]
		c.mu.Unlock()
		top.reused, top.idleFor = true, idle
		return top
	}
	delete(c.idle, addr) // list is no longer shared: closed below, unlocked
	c.mu.Unlock()
	for _, pc := range list {
		pc.close()
	}
	return nil
}

// put pools pc, now idle, unless closeIdle was called since it was dialed.
// The oldest idle connections to its address are closed if they have been
// idle too long or are one too many.
//
// Its deadline is left as it is: every exchange sets its own before any
// I/O, and nothing reads or writes an idle connection.
func (c *directClient) put(pc *directConn) {
	now := c.now()
	pc.idleSince = now
	c.mu.Lock()
	if pc.gen != c.gen {
		c.mu.Unlock()
		pc.close()
		return
	}
	list := c.idle[pc.addr]
	drop := 0
	for drop < len(list) && now.Sub(list[drop].idleSince) > c.idleTimeout {
		drop++
	}
	if over := len(list) - drop + 1 - c.maxIdle; over > 0 {
		drop += over
	}
	var dropped []*directConn
	if drop > 0 {
		dropped = append(dropped, list[:drop]...) // rare: copied to close them unlocked
		n := copy(list, list[drop:])
		clear(list[n:])
		list = list[:n]
	}
	c.idle[pc.addr] = append(list, pc)
	c.mu.Unlock()
	for _, old := range dropped {
		old.close()
	}
}

// dialConn dials a new connection to addr before deadline.
func (c *directClient) dialConn(ctx context.Context, addr string, deadline time.Time) (*directConn, error) {
	c.mu.Lock()
	gen := c.gen // a closeIdle during the dial applies to this connection too
	c.mu.Unlock()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &directConn{conn: conn, addr: addr, gen: gen}
	pc.meter.conn = conn
	pc.meter.limit = -1
	pc.br = bufio.NewReaderSize(&pc.meter, directBufferSize)
	pc.bw = bufio.NewWriterSize(&pc.meter, directBufferSize)
	return pc, nil
}
