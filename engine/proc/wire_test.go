package proc

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// TestWire: requests and replies come back as they were sent, whatever
// bytes their fields hold (spaces, newlines, quotes, empty strings, no
// args); a NUL, which no command can be given, is refused at the sender;
// a cut or foreign message is an error, never a command.
func TestWire(t *testing.T) {
	for _, req := range []supRequest{
		{ID: 1, Path: "/usr/bin/true", Dir: "/tmp", Env: []string{"A=1"}},
		{ID: 18446744073709551615, Path: "bash", Args: []string{"--noprofile", "-c", "echo \"$X\"\n; $(rm -rf /) `x` 'y'", "", "step id"},
			Dir: "/tmp/a dir/ünï", Env: []string{"X=a\nb", "EMPTY=", "=odd", "K=v=w"}},
		{ID: 7, Path: "p", Args: []string{""}, Env: nil},
		{ID: 8, Sig: syscall.SIGTERM},
		{ID: 9, Sig: syscall.SIGKILL},
		{Hold: true},
	} {
		b, err := req.encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(req.Env) == 0 {
			req.Env = got.Env[:0]
		}
		if len(req.Args) == 0 {
			req.Args = got.Args[:0]
		}
		if !reflect.DeepEqual(got, req) {
			t.Errorf("request %+v came back as %+v", req, got)
		}
		for cut := 0; cut < len(b); cut += 7 {
			if r, err := decodeRequest(b[:cut]); err == nil && cut > 0 && b[cut-1] != 0 {
				t.Errorf("a request cut at %d read as %+v", cut, r)
			}
		}
	}
	for _, bad := range []supRequest{
		{Path: "a\x00b"}, {Path: "p", Args: []string{"x\x00"}}, {Path: "p", Env: []string{"A=\x00"}}, {Path: "p", Dir: "/t\x00mp"},
	} {
		if _, err := bad.encode(); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%+v: err %v, want a NUL refused", bad, err)
		}
	}
	// A request names what it is: a start, a signal with a number in
	// range or a hold, never anything else.
	for _, msg := range []string{"1\x00/usr/bin/true\x00/tmp\x000\x00", "run\x001\x00p\x00/\x000\x00", "signal\x001\x00",
		"signal\x001\x000\x00", "signal\x001\x0065\x00", "signal\x001\x00-9\x00", "signal\x00x\x009\x00", "signal\x001\x009\x00p\x00",
		"signal\x001\x00p\x00/\x000\x00", "signal\x001\x00/usr/bin/true\x00/tmp\x001\x00a\x00",
		"hold\x00", "hold\x000\x00/usr/bin/true\x00", "hold\x00x\x00"} {
		if r, err := decodeRequest([]byte(msg)); err == nil {
			t.Errorf("request %q read as %+v", msg, r)
		}
	}
	for _, msg := range []string{"", "1\x00", "x\x00exit\x001\x00", "1\x00run\x00rm -rf\x00", "3\x00started\x004242\x00"} {
		if r, err := decodeReply([]byte(msg)); err == nil {
			t.Errorf("reply %q read as %+v", msg, r)
		}
	}
	for _, rep := range []supReply{
		{ID: 5, Op: "nostart", Err: "nope: executable file not found in $PATH"},
		{ID: 3, Op: "exit", Status: 137},
		{ID: 4, Op: "error", Err: "fork/exec /nope: no such file\x00or directory\nsecond line"},
	} {
		got, err := decodeReply(rep.encode())
		if err != nil || !reflect.DeepEqual(got, rep) {
			t.Errorf("reply %+v came back as %+v (%v)", rep, got, err)
		}
	}
}
