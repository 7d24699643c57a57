package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// The supervisor's messages are NUL-separated fields, one message per
// packet (the socket keeps their bounds): what exec takes cannot hold a
// NUL, and a step's environment sent as JSON cost more to write and read
// than the rest of starting the step.
//
//	start:   "start", id, path, dir, the number of args, the args, the environment
//	signal:  "signal", id of the command, signal number
//	hold:    "hold", 0; with one file, which the supervisor keeps open
//	reply:   id, op (exit, nostart, error), status, error text

func (r supRequest) encode() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(64 + len(r.Path) + len(r.Dir) + 64*len(r.Env))
	field := func(s string) {
		b.WriteString(s)
		b.WriteByte(0)
	}
	if r.Hold {
		field("hold")
		field("0")
		return b.Bytes(), nil
	}
	if r.Sig != 0 {
		field("signal")
		field(strconv.FormatUint(r.ID, 10))
		field(strconv.Itoa(int(r.Sig)))
		return b.Bytes(), nil
	}
	field("start")
	field(strconv.FormatUint(r.ID, 10))
	field(r.Path)
	field(r.Dir)
	field(strconv.Itoa(len(r.Args)))
	for _, list := range [][]string{r.Args, r.Env} {
		for _, s := range list {
			field(s)
		}
	}
	for _, s := range append(append([]string{r.Path, r.Dir}, r.Args...), r.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("start %s: %q holds a NUL byte, which no command can be given", r.Path, s)
		}
	}
	return b.Bytes(), nil
}

func decodeRequest(p []byte) (supRequest, error) {
	var r supRequest
	if len(p) == 0 || p[len(p)-1] != 0 {
		return r, errors.New("request cut short")
	}
	f := strings.Split(string(p[:len(p)-1]), "\x00")
	if len(f) < 2 {
		return r, errors.New("request cut short")
	}
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return r, fmt.Errorf("request id: %w", err)
	}
	r.ID = id
	switch f[0] {
	case "signal":
		if len(f) != 3 {
			return r, errors.New("signal request: want the command and the signal")
		}
		sig, err := strconv.Atoi(f[2])
		if err != nil || sig <= 0 || sig >= 65 {
			return r, fmt.Errorf("bad signal %q", f[2])
		}
		r.Sig = syscall.Signal(sig)
		return r, nil
	case "hold":
		if len(f) != 2 {
			return r, errors.New("hold request: want no more than its id")
		}
		r.Hold = true
		return r, nil
	case "start":
	default:
		return r, fmt.Errorf("unknown request %q", f[0])
	}
	f = f[1:]
	if len(f) < 4 {
		return r, errors.New("request cut short")
	}
	n, err := strconv.Atoi(f[3])
	if err != nil || n < 0 || 4+n > len(f) {
		return r, errors.New("request args cut short")
	}
	r.Path, r.Dir = f[1], f[2]
	r.Args, r.Env = f[4:4+n], f[4+n:]
	return r, nil
}

func (r supReply) encode() []byte {
	return []byte(strconv.FormatUint(r.ID, 10) + "\x00" + r.Op + "\x00" + strconv.Itoa(r.Status) + "\x00" + r.Err)
}

func decodeReply(p []byte) (supReply, error) {
	var r supReply
	f := strings.SplitN(string(p), "\x00", 4)
	if len(f) != 4 {
		return r, errors.New("reply cut short")
	}
	id, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return r, err
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return r, err
	}
	r.ID, r.Op, r.Err = id, f[1], f[3]
	switch r.Op {
	case "exit":
		r.Status = n
	case "nostart", "error":
	default:
		return r, fmt.Errorf("unknown reply %q", r.Op)
	}
	return r, nil
}
