// Package freeport picks loopback TCP ports for nodes that a test or the
// bench starts as separate processes.
//
// Asking the kernel for port 0 and closing the listener is not enough when
// the port is bound later by another process: the kernel hands the same
// numbers out as source ports of outgoing connections, and parallel test
// binaries ask for ports at the same moment. So ports come from below the
// kernel's ephemeral range (never used as a source port), and each pick is
// reserved across processes by a file created with O_EXCL until it goes
// stale.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// lowest is the bottom of the band we pick from.
	lowest = 20000
	// reservedFor is how long a pick stays reserved for the process that
	// made it; nodes bind their ports within seconds of the pick.
	reservedFor = 10 * time.Minute
)

// Dir holds the reservations; shared by every process on the machine.
var Dir = filepath.Join(os.TempDir(), "authrim-ports")

// Get returns a loopback port that nothing listens on, that the kernel does
// not use for outgoing connections and that no other caller of Get on this
// machine was given in the last few minutes.
func Get() (int, error) {
	hi := ephemeralLow()
	if hi <= lowest+100 {
		// A machine with an unusual ephemeral range: fall back to the kernel.
		return kernelPort()
	}
	if err := os.MkdirAll(Dir, 0o777); err != nil {
		return 0, err
	}
	band := hi - lowest
	start := rand.IntN(band)
	for i := 0; i < band; i++ {
		port := lowest + (start+i)%band
		if !reserve(port) {
			continue
		}
		if free(port) {
			return port, nil
		}
	}
	return 0, errors.New("freeport: no free port below the ephemeral range")
}

// Addr is Get as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Get()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

func reserve(port int) bool {
	name := filepath.Join(Dir, strconv.Itoa(port))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Close()
		return true
	}
	st, serr := os.Stat(name)
	if serr != nil || time.Since(st.ModTime()) < reservedFor {
		return false
	}
	// Stale: take it over. Two processes racing here both succeed at most
	// once every reservedFor, and the bind check below still applies.
	now := time.Now()
	return os.Chtimes(name, now, now) == nil
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768 // Linux's default
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
