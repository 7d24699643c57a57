package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// ParseOutputs reads a $RBFLOW_OUTPUT file: key=value lines and
// key<<DELIM ... DELIM blocks (the GitHub Actions format).
func ParseOutputs(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read outputs: %w", err)
	}
	out := map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if k, delim, ok := strings.Cut(text, "<<"); ok && !strings.Contains(k, "=") {
			key := strings.TrimSpace(k)
			var vals []string
			closed := false
			for sc.Scan() {
				line++
				v := strings.TrimSuffix(sc.Text(), "\r")
				if v == delim {
					closed = true
					break
				}
				vals = append(vals, v)
			}
			if !closed {
				return nil, fmt.Errorf("$RBFLOW_OUTPUT line %d: %s<<%s is never closed by a line %q", line, key, delim, delim)
			}
			if !validKey(key) {
				return nil, fmt.Errorf("$RBFLOW_OUTPUT line %d: bad output name %q", line, key)
			}
			out[key] = strings.Join(vals, "\n")
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok || !validKey(strings.TrimSpace(k)) {
			return nil, fmt.Errorf("$RBFLOW_OUTPUT line %d: want key=value or key<<EOF, got %q", line, text)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// tailSize bounds what is kept in memory and in SQLite of a step's output.
const (
	tailLines = 40
	tailBytes = 8 << 10
	maxLine   = 4 << 10
)

// stepLog is a step's output sink: it masks secrets, writes the log file,
// keeps a bounded tail and reports lines to the observer. It works on whole
// blocks of lines, as the pipe delivers them: one mask pass and one write
// per block, so that a step printing a gigabyte costs about what writing it
// to a file does. Memory stays bounded however much the step prints. A line
// longer than maxLine is cut into pieces; a secret that spans a cut is still
// masked (the cut never falls inside one).
type stepLog struct {
	mu      sync.Mutex
	file    io.Closer
	w       *bufio.Writer
	mask    *Mask
	partial []byte
	tail    []string
	onLine  func(string)
	// someLines: onLine gets only the last lines of each block.
	someLines bool
	err       error // the first write to the log file that failed
}

func (l *stepLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	// The complete lines: what was pending, and p up to its last newline.
	last := bytes.LastIndexByte(p, '\n')
	if last < 0 {
		l.partial = append(l.partial, p...)
		l.cutLong()
		l.flushFile()
		return n, nil
	}
	var block []byte
	if len(l.partial) > 0 {
		block = append(l.partial, p[:last+1]...)
		l.partial = l.partial[:0]
	} else {
		block = p[:last+1]
	}
	l.emit(block)
	l.partial = append(l.partial, p[last+1:]...)
	l.cutLong()
	l.flushFile()
	return n, nil
}

// emit masks a block of whole lines (each ending in a newline, or a piece
// of a long line), writes it and hands its lines on.
func (l *stepLog) emit(block []byte) {
	text := block // nothing to mask: the bytes go out as they came
	if !l.mask.empty() {
		text = []byte(l.mask.String(string(block)))
	}
	if l.w != nil {
		if _, err := l.w.Write(text); err != nil && l.err == nil {
			l.err = err
		}
	}
	body := bytes.TrimSuffix(text, []byte("\n"))
	if l.onLine == nil || l.someLines {
		body = lastLines(body, tailLines) // only these are kept or reported
	}
	for _, line := range strings.Split(string(body), "\n") {
		l.cutLines(line)
	}
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) []byte {
	i := len(b)
	for k := 0; k < n && i > 0; k++ {
		i = bytes.LastIndexByte(b[:i], '\n')
		if i < 0 {
			return b
		}
	}
	if i > 0 {
		return b[i+1:]
	}
	return b
}

// cutLines keeps a line (cut at maxLine) in the tail and reports it.
func (l *stepLog) cutLines(line string) {
	for len(line) > maxLine {
		l.keep(line[:maxLine])
		line = line[maxLine:]
	}
	l.keep(line)
}

func (l *stepLog) keep(line string) {
	l.tail = append(l.tail, line)
	if len(l.tail) > 2*tailLines {
		l.tail = append(l.tail[:0], l.tail[len(l.tail)-tailLines:]...)
	}
	if l.onLine != nil {
		l.onLine(line)
	}
}

// cutLong writes out the front of a pending line that has grown past
// maxLine, keeping back enough that no secret is split by the cut.
func (l *stepLog) cutLong() {
	if len(l.partial) <= maxLine {
		return
	}
	cut := l.mask.safeCut(l.partial, len(l.partial)-maxLine/2)
	if cut <= 0 {
		return
	}
	text := l.mask.String(string(l.partial[:cut]))
	if l.w != nil {
		if _, err := l.w.WriteString(text); err != nil && l.err == nil {
			l.err = err
		}
	}
	l.cutLines(text)
	l.partial = append(l.partial[:0], l.partial[cut:]...)
}

func (l *stepLog) flushFile() {
	if l.w != nil {
		if err := l.w.Flush(); err != nil && l.err == nil {
			l.err = err
		}
	}
}

// Err is the first error writing the log file met (a full disk): the log
// is incomplete from there on.
func (l *stepLog) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *stepLog) flushLine(newline bool) {
	if len(l.partial) == 0 && !newline {
		return
	}
	block := append(l.partial, '\n')
	l.partial = l.partial[:0]
	l.emit(block)
}

// lazyFile is a step's log file, made at its first write: most steps
// print nothing, and a file made (and a directory entry written) for each
// cost more than the rest of a short step's bookkeeping.
type lazyFile struct {
	path string
	f    *os.File
}

func (z *lazyFile) Write(p []byte) (int, error) {
	if z.f == nil {
		f, err := os.OpenFile(z.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return 0, err
		}
		z.f = f
	}
	return z.f.Write(p)
}

func (z *lazyFile) Close() error {
	if z.f == nil {
		return nil
	}
	return z.f.Close()
}

// Close flushes a final partial line.
func (l *stepLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.flushLine(true)
	}
	l.flushFile()
	if l.file != nil {
		_ = l.file.Close()
	}
}

// Tail returns the last lines, bounded in size.
func (l *stepLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tail
	if len(t) > tailLines {
		t = t[len(t)-tailLines:]
	}
	s := strings.Join(t, "\n")
	if len(s) > tailBytes {
		s = s[len(s)-tailBytes:]
	}
	return s
}

// Note writes an rbflow line (not the step's own output) into the log.
func (l *stepLog) Note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		_, _ = fmt.Fprintf(l.w, "::rbflow:: "+format+"\n", args...)
		_ = l.w.Flush()
	}
}
