package admit

import (
	"net"
	"sync"
	"time"
)

// LimitListener returns a listener that keeps at most n of the connections
// it accepted open at once. A connection beyond that is answered at once
// with a bare HTTP 503 and closed, rather than left waiting in the
// kernel's backlog where a client cannot tell a busy server from a dead
// one.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
}

// refusal is the whole answer to a connection over the limit.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
		default:
		}
		// A fresh connection's send buffer is empty: the write does not
		// wait for the client, and the deadline covers the odd case.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write([]byte(refusal))
		_ = c.Close()
	}
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
