package sandbox

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
)

// Role is the role this process was started to serve as a child, or "".
func Role() string { return os.Getenv(envRole) }

// Serve is a child's whole life: it lowers its own priority, limits its
// address space, builds its handler with setup, says it is ready, and then
// answers requests one at a time until its parent closes stdin. A panic in
// handle is recovered and answered as such (the parent reports ErrCrashed);
// its text goes to this process's log only. Serve does not return.
func Serve[Req, Resp any](setup func() (handle func(Req) Resp, err error)) {
	lowerPriority()
	handle, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(2)
	}
	// Threads started during setup inherit the priority of their creator;
	// lower it again for any that were not yet covered.
	lowerPriority()
	if memory, err := strconv.ParseInt(os.Getenv(envMemory), 10, 64); err == nil {
		limitAddressSpace(memory)
	}
	// Stdout carries the answers; anything else printed goes to stderr.
	out := bufio.NewWriter(os.Stdout)
	os.Stdout = os.Stderr
	enc := gob.NewEncoder(out)
	send := func(env envelope[Resp]) {
		if enc.Encode(env) != nil || out.Flush() != nil {
			os.Exit(0) // the parent is gone
		}
	}
	send(envelope[Resp]{Ready: true})
	dec := gob.NewDecoder(bufio.NewReader(os.Stdin))
	for {
		var req Req
		if err := dec.Decode(&req); err != nil {
			os.Exit(0) // the parent closed stdin, or is gone
		}
		send(serveOne(handle, req))
	}
}

func serveOne[Req, Resp any](handle func(Req) Resp, req Req) (env envelope[Resp]) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("sandbox: the handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			env = envelope[Resp]{Err: "the handler panicked"}
		}
	}()
	return envelope[Resp]{Body: handle(req)}
}
